"""The run's timeline as a PNG an engineer can read: ground truth against alarms, along the
fence and in time, drawn with matplotlib (the `[sim]` extra).

Top panel: time (s) across, chainage (m) up. Each scripted attack is a hollow square at
where and when it happened (a drone's path a thin line), each alarm a filled disc at where
and when it reached MQTT with its located point, both coloured by kind; the legend names
them. Below it, when firmware nodes ran, one row per node and sensor (the fence
accelerometer's, the microphone's and the impact channel's RMS level per second, in dB
over that sensor's quietest second on any node), with a colour bar.
"""

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simulators.scenario import Scenario
from simulators.scorer import ObservedAlarm

LEGEND = {
    "x": "scenario time (s)",
    "y (top panel)": "chainage along the fence (m)",
    "hollow squares": "ground truth (scripted attacks)",
    "filled discs": "alarms as they reached MQTT, at their located point",
    "colours": "climb red, cut purple, throwover orange, drone blue, drone_drop cyan, knock grey, jam brown,"
    " silence green",
    "panel below": "per firmware node: fence, microphone and impact RMS per second, dB over the quietest second",
}
COLOURS = {
    "climb": "#d62728",
    "cut": "#9467bd",
    "throwover": "#ff7f0e",
    "drone": "#1f77b4",
    "drone_drop": "#17becf",
    "knock": "#7f7f7f",
    "jam": "#8c564b",
    "silence": "#2ca02c",
}
ALARM_KIND = {
    "intrusion": "climb",
    "throw_over": "throwover",
    "drone": "drone",
    "drone_drop": "drone_drop",
    "jamming": "jam",
    "comm_fail": "silence",
}
SENSORS = ("fence", "mic", "impact")

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _levels_db(levels: dict[int, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """Rows of dB per second (node by node, three sensors each) and their labels."""
    rows, labels = [], []
    db = {n: 20 * np.log10(np.maximum(np.asarray(levels[n], dtype=float), 1e-3)) for n in sorted(levels)}
    stacked = [d for d in db.values() if len(d)]
    floor = np.min([d.min(axis=0) for d in stacked], axis=0) if stacked else np.zeros(3)
    seconds = max((len(d) for d in db.values()), default=0)
    for node, d in db.items():
        for sensor, name in enumerate(SENSORS):
            row = np.full(seconds, np.nan)
            if len(d):
                row[: len(d)] = d[:, sensor] - floor[sensor]
            rows.append(row)
            labels.append("%d %s" % (node, name))
    return np.array(rows), labels


def render(
    scenario: Scenario, alarms: list[ObservedAlarm], path: Path, levels: dict[int, np.ndarray] | None = None
) -> Path:
    import matplotlib.pyplot as plt

    fig = draw(scenario, alarms, levels)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def draw(scenario: Scenario, alarms: list[ObservedAlarm], levels: dict[int, np.ndarray] | None = None) -> "Figure":
    """The figure `render` writes (the specs read its axes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    strips = bool(levels) and any(len(v) for v in (levels or {}).values())
    n_rows = 3 * len(levels or {}) if strips else 0
    heights = [4.0] + ([max(1.2, 0.12 * n_rows)] if strips else [])
    fig, axes = plt.subplots(
        len(heights), 1, figsize=(10, sum(heights) + 1.2), height_ratios=heights, sharex=True, squeeze=False
    )
    ax = axes[0][0]
    kinds_seen: set[str] = set()
    for event in scenario.events:
        colour = COLOURS.get(event.kind, "black")
        kinds_seen.add(event.kind)
        if event.path:
            ax.plot([t for t, _ in event.path], [p for _, p in event.path], color=colour, linewidth=0.8, alpha=0.6)
        position = event.position_at(event.t)
        if event.kind == "silence" and event.node is not None:
            position = scenario.place(event.node)[0]
        if position is None:
            position = scenario.length_m / 2
        ax.scatter([event.t], [position], s=70, marker="s", facecolors="none", edgecolors=colour, linewidths=1.5)
    for alarm in alarms:
        kind = ALARM_KIND.get(alarm.category, "")
        kinds_seen.add(kind)
        position = scenario.length_m / 2 if alarm.location_m is None else alarm.location_m
        ax.scatter([alarm.at_s], [position], s=30, marker="o", color=COLOURS.get(kind, "black"))
    ax.set_xlim(0, scenario.duration_s)
    ax.set_ylim(0, scenario.length_m)
    ax.set_ylabel("chainage (m)")
    ax.set_title("Scenario %s: ground truth against alarms" % scenario.name)
    ax.grid(True, alpha=0.3)
    handles = [
        Line2D(
            [], [], marker="s", linestyle="", markerfacecolor="none", markeredgecolor="black", label="attack (truth)"
        ),
        Line2D([], [], marker="o", linestyle="", color="black", label="alarm (at MQTT)"),
    ] + [
        Line2D([], [], marker="o", linestyle="", color=COLOURS[k], label=k.replace("_", " "))
        for k in COLOURS
        if k in kinds_seen
    ]
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    if strips:
        rows, labels = _levels_db(levels or {})
        strip = axes[1][0]
        image = strip.imshow(
            rows,
            aspect="auto",
            interpolation="nearest",
            cmap="Greys",
            extent=(0, rows.shape[1], len(labels), 0),
        )
        strip.set_yticks(np.arange(len(labels)) + 0.5)
        strip.set_yticklabels(labels, fontsize=6)
        strip.set_ylabel("node, sensor")
        bar = fig.colorbar(image, ax=strip, pad=0.01, fraction=0.03)
        bar.set_label("RMS over quietest (dB)", fontsize=8)
    axes[-1][0].set_xlabel("scenario time (s)")
    fig.tight_layout()
    return fig
