"""`perimeter sim coverage --design`: the layout that holds Pd 0.95 for every threat in the
site's wind climate, with the fewest nodes, and its bill of materials.

Given the fence length and the wind speeds the site must be designed for, it runs the
coverage trials (`coverage.py`: the node's own detectors and the gateway's own engine) in
two steps, each from the cheapest layout down:

1. the fence-node spacing: the largest candidate at which climbs and cuts hold Pd ≥ 0.95
   at every wind speed, dry and in the heaviest rain the site must stand (`rain_mmph`, 25
   mm/h unless told: rain keeps every panel ringing, and a climber midway between two
   nodes far apart drowns in it; 20 trials a point: five places across a span, four times);
2. ground nodes: none if throw-overs already hold 0.95 at that spacing at every wind (the
   fence nodes' microphones hear the landing); else the largest ground-node spacing that
   does (60 trials a point: five places, four distances inside, three masses), the windiest
   speed tried first.

Ground nodes stand in a zig-zag, every other one `GROUND_STAGGER_M` farther in, around
`GROUND_INSIDE_M`: the rows at 10 and 18 m are far enough from the posts that a panel
slapping its post in a gale stays under a ground node's threshold (`simulators/ground.py`:
20 µm/s at 1 m is 4.8 µm/s 10 m off, under the detector's 5 µm/s), and two rows tell a
landing short of them from one beyond them. Numbers of each kind per 100 m, and for the
fence, make the bill of materials; the drawing shows the layout and one Pd panel per threat.
"""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulators.coverage import TARGET_PD, Cell, Ground, largest_spacing, plan, run_cells

FENCE_SPACINGS = (15.0, 20.0, 25.0, 30.0, 40.0)
GROUND_SPACINGS = (15.0, 20.0, 25.0, 30.0, 40.0)
GROUND_INSIDE_M = 14.0
GROUND_STAGGER_M = 8.0
RAIN_MMPH = 25.0  # heavy rain (the Met Office's threshold for heavy is 4 mm/h; 25 is a downpour)
FENCE_REPEATS = 4  # 5 places x 4 = 20 trials a point
THROW_REPEATS = 1  # 5 places x 4 distances x 3 masses = 60 trials a point

Progress = Callable[[str], None]


@dataclass
class Design:
    length_m: float
    winds: list[float]
    fence_spacing_m: float | None  # None: no candidate held climbs and cuts
    ground: Ground | None  # None: no ground nodes needed, or none that held
    throwover_held: bool
    cells: list[Cell] = field(default_factory=list)
    rain_mmph: float = 0.0

    @property
    def holds(self) -> bool:
        return self.fence_spacing_m is not None and self.throwover_held

    def bill(self) -> dict[str, Any]:
        """Nodes of each kind per 100 m of fence, and for the whole fence."""
        fence = 100.0 / self.fence_spacing_m if self.fence_spacing_m else None
        ground = 100.0 / self.ground[0] if self.ground else 0.0
        return {
            "fence_nodes_per_100m": round(fence, 2) if fence else None,
            "ground_nodes_per_100m": round(ground, 2),
            "fence_nodes": math.ceil(self.length_m / self.fence_spacing_m) if self.fence_spacing_m else None,
            "ground_nodes": math.ceil(self.length_m / self.ground[0]) if self.ground else 0,
        }

    def chosen(self) -> list[Cell]:
        """The cells of the recommended layout."""
        out = [c for c in self.cells if c.threat != "throwover" and c.spacing_m == self.fence_spacing_m]
        out += [
            c
            for c in self.cells
            if c.threat == "throwover" and c.spacing_m == self.fence_spacing_m and c.ground == self.ground
        ]
        return out

    def text(self) -> str:
        winds = ", ".join("%g" % w for w in self.winds)
        rain = ", climbs and cuts also in %g mm/h of rain" % self.rain_mmph if self.rain_mmph else ""
        lines = [
            "design for %g m of fence, winds %s m/s%s, Pd >= %.2f for every threat:"
            % (self.length_m, winds, rain, TARGET_PD)
        ]
        if self.fence_spacing_m is None:
            lines.append("  no fence-node spacing tried holds climbs and cuts: try smaller --spacings")
            return "\n".join(lines)
        lines.append("  fence nodes every %g m" % self.fence_spacing_m)
        if self.ground is None and self.throwover_held:
            lines.append("  no ground nodes needed: the fence nodes' microphones hear every landing")
        elif self.ground is None:
            lines.append("  no ground-node spacing tried holds throw-overs: try smaller --ground-spacings")
        else:
            g, inside, stagger = self.ground
            lines.append(
                "  ground nodes every %g m, %g and %g m inside the fence (a zig-zag)"
                % (g, inside - stagger / 2, inside + stagger / 2)
            )
        bill = self.bill()
        lines.append(
            "bill of materials: %s fence and %s ground nodes per 100 m; for %g m, %s fence and %s ground nodes"
            % (
                bill["fence_nodes_per_100m"],
                bill["ground_nodes_per_100m"],
                self.length_m,
                bill["fence_nodes"],
                bill["ground_nodes"],
            )
        )
        lines.append("at that design:")
        lines.append("%-10s %7s %9s %7s %6s %9s" % ("threat", "wind", "rain", "trials", "Pd", "error m"))
        for c in sorted(self.chosen(), key=lambda c: (c.threat, c.rain_mmph, c.wind_mps)):
            error = "%.1f" % c.mean_error_m if c.mean_error_m is not None else "-"
            lines.append(
                "%-10s %5g m/s %4g mm/h %7d %6.2f %9s" % (c.threat, c.wind_mps, c.rain_mmph, c.trials, c.pd, error)
            )
        return "\n".join(lines)


def design(
    length_m: float,
    winds: Iterable[float],
    fence_spacings: Iterable[float] = FENCE_SPACINGS,
    ground_spacings: Iterable[float] = GROUND_SPACINGS,
    workers: int | None = None,
    progress: Progress | None = None,
    fence_repeats: int = FENCE_REPEATS,
    throw_repeats: int = THROW_REPEATS,
    rain_mmph: float = RAIN_MMPH,
) -> Design:
    """Search the layouts (see the module's docstring)."""
    winds = sorted(set(winds))
    say = progress or (lambda text: None)
    say("climbs and cuts at fence spacings %s" % ", ".join("%g" % s for s in fence_spacings))
    fence, cells = fence_spacing(winds, fence_spacings, rain_mmph, fence_repeats, workers)
    result = Design(length_m, winds, fence, None, False, cells, rain_mmph)
    if fence is None:
        return result
    say("throw-overs at %g m without ground nodes" % fence)
    bare = run_cells(plan(("throwover",), [fence], winds), throw_repeats, workers)
    cells += bare
    if all(c.pd >= TARGET_PD for c in bare):
        result.throwover_held = True
        return result
    for spacing in sorted(set(ground_spacings), reverse=True):
        layout = (spacing, GROUND_INSIDE_M, GROUND_STAGGER_M)
        held = True
        for wind in sorted(winds, reverse=True):  # the windiest first: it fails soonest
            say("throw-overs at %g m with ground nodes every %g m, %g m/s" % (fence, spacing, wind))
            cell = run_cells([("throwover", fence, wind, layout, 0.0)], throw_repeats, workers)[0]
            cells.append(cell)
            if cell.pd < TARGET_PD:
                held = False
                break
        if held:
            result.ground, result.throwover_held = layout, True
            return result
    return result


def fence_spacing(
    winds: Iterable[float],
    spacings: Iterable[float] = FENCE_SPACINGS,
    rain_mmph: float = RAIN_MMPH,
    repeats: int = FENCE_REPEATS,
    workers: int | None = None,
) -> tuple[float | None, list[Cell]]:
    """Step 1: the largest spacing at which climbs and cuts hold at every wind, dry and in
    `rain_mmph` (None if none tried does), and the cells tried."""
    winds = sorted(set(winds))
    rains = sorted({0.0, rain_mmph})
    cells = run_cells(plan(("climb", "cut"), spacings, winds, rains=rains), repeats, workers)
    holding = [largest_spacing(cells, t, w, rain_mmph=r) for t in ("climb", "cut") for w in winds for r in rains]
    fence = None if any(h is None for h in holding) else min(h for h in holding if h is not None)
    return fence, cells


def draw(d: Design, path: Path) -> None:
    """The layout over 100 m of fence, and Pd against spacing, one panel per threat."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(11, 7.5))
    grid = fig.add_gridspec(2, 3, height_ratios=(1.0, 1.2))
    layout = fig.add_subplot(grid[0, :])
    layout.axhline(0.0, color="black", linewidth=2, label="fence line")
    if d.fence_spacing_m:
        xs = [k * d.fence_spacing_m for k in range(int(100 // d.fence_spacing_m) + 1)]
        layout.plot(
            xs,
            [0.0] * len(xs),
            "s",
            color="tab:blue",
            markersize=8,
            label="fence node (every %g m)" % d.fence_spacing_m,
        )
    if d.ground:
        g, inside, stagger = d.ground
        xs = [k * g for k in range(int(100 // g) + 1)]
        ys = [inside - stagger / 2 + stagger * (k % 2) for k in range(len(xs))]
        layout.plot(xs, ys, "o", color="tab:brown", markersize=8, label="ground node (every %g m)" % g)
    layout.set_xlim(-5, 105)
    layout.set_ylim(-8, 30)
    layout.set_xlabel("chainage along the fence (m)")
    layout.set_ylabel("inside the fence (m)")
    layout.legend(loc="upper right", fontsize=8)
    layout.set_title("Layout over 100 m of fence")
    layout.grid(True, alpha=0.3)
    for k, threat in enumerate(("climb", "cut", "throwover")):
        ax = fig.add_subplot(grid[1, k])
        _pd_panel(ax, d, threat)
    held = "holds" if d.holds else "does not hold"
    rain = ", rain %g mm/h" % d.rain_mmph if d.rain_mmph else ""
    fig.suptitle(
        "Site design for %g m of fence, winds %s m/s%s: Pd >= %.2f %s"
        % (d.length_m, ", ".join("%g" % w for w in d.winds), rain, TARGET_PD, held)
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _pd_panel(ax: Any, d: Design, threat: str) -> None:
    ground = threat == "throwover"
    for k, wind in enumerate(d.winds):
        colour = "C%d" % k  # the same wind, the same colour, in every panel
        if ground:
            row = [
                c
                for c in d.cells
                if c.threat == threat and c.wind_mps == wind and c.ground and c.spacing_m == d.fence_spacing_m
            ]
            xs = [c.ground[0] for c in row if c.ground]
        else:
            row = [c for c in d.cells if c.threat == threat and c.wind_mps == wind and not c.rain_mmph]
            xs = [c.spacing_m for c in row]
            wet = sorted(
                (c for c in d.cells if c.threat == threat and c.wind_mps == wind and c.rain_mmph),
                key=lambda c: c.spacing_m,
            )
            if wet:
                label = "%g m/s, %g mm/h rain" % (wind, wet[0].rain_mmph)
                ax.plot([c.spacing_m for c in wet], [c.pd for c in wet], "^--", color=colour, label=label)
        if row:
            order = sorted(range(len(row)), key=lambda i: xs[i])
            ax.plot([xs[i] for i in order], [row[i].pd for i in order], "o-", color=colour, label="%g m/s" % wind)
        bare = [c for c in d.cells if ground and c.threat == threat and c.wind_mps == wind and c.ground is None]
        if bare:
            ax.plot([], [], "x", color=colour, label="%g m/s, no ground nodes: Pd %.2f" % (wind, bare[0].pd))
    ax.axhline(TARGET_PD, color="grey", linestyle=":", linewidth=1, label="Pd %.2f" % TARGET_PD)
    chosen = (d.ground[0] if d.ground else None) if ground else d.fence_spacing_m
    if chosen:
        ax.axvline(chosen, color="black", linestyle="--", linewidth=1, label="recommended")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("ground-node spacing (m)" if ground else "fence-node spacing (m)")
    ax.set_ylabel("probability of detection")
    ax.set_title("throw-over (fence nodes every %g m)" % d.fence_spacing_m if ground and d.fence_spacing_m else threat)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")


def summary(d: Design) -> dict[str, Any]:
    """The design as JSON: the layout, the bill, and every cell tried."""
    return {
        "length_m": d.length_m,
        "winds_mps": d.winds,
        "rain_mmph": d.rain_mmph,
        "holds": d.holds,
        "fence_spacing_m": d.fence_spacing_m,
        "ground": None
        if d.ground is None
        else dict(zip(("spacing_m", "inside_m", "stagger_m"), d.ground, strict=True)),
        "bill": d.bill(),
        "cells": [
            {
                "threat": c.threat,
                "spacing_m": c.spacing_m,
                "wind_mps": c.wind_mps,
                "rain_mmph": c.rain_mmph,
                "ground": c.ground,
                "trials": c.trials,
                "pd": round(c.pd, 3),
                "mean_error_m": None if c.mean_error_m is None else round(c.mean_error_m, 1),
            }
            for c in d.cells
        ],
    }
