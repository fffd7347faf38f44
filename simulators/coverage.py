"""`perimeter sim coverage`: how the probability of detection depends on node spacing, wind
and where along a span the attack happens, for an installer choosing the spacing.

For each threat (climb, cut, throw-over), each spacing and each wind speed asked for,
attacks are placed across one span between two nodes (at a node, an eighth, a quarter,
three eighths and midway: the rest mirrors these) and, for throw-overs, 2, 8, 15 and 25 m
inside the fence with packages of 0.5, 1 and 2 kg. Each trial synthesizes what each of
seven nodes along the fence senses (`signals.py`: the mesh carries a climb or a cut, the
air a landing's thud, the ground its impact, and every node has its own wind), and, with
ground nodes (`ground_spacing_m`, `ground_inside_m`), what each buried geophone within
reach feels (`ground.py`: the landing's surface wave over wind through the fence); runs the
node's own detectors on it (`device/detect`: the firmware's code, here on CPython, where it
computes the same integers), and feeds their reports, at the moment each was decided, to
the gateway's own alarm engine (faint pairs, common-mode rejection, landings placed from
air and ground). A trial is detected when the engine raises the right alarm within 30 s:
an intrusion that says the right kind, or a throw-over; a landing's error is the distance
from where the engine placed it (along the line and inside it) to where it fell. No radio:
coverage is about sensing; the scenarios add the radio (`perimeter sim run`). The planner
(`planner.py`) searches layouts with it.
"""

import math
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from device.detect.fence import BLOCK_SAMPLES as FENCE_BLOCK
from device.detect.fence import FenceDetector
from device.detect.ground import GroundDetector
from device.detect.impact import BLOCK_SAMPLES as IMPACT_BLOCK
from device.detect.impact import IMPACT, ImpactDetector
from device.detect.kernels import log2_q4, low_envelope, zeros
from device.detect.thud import THUD, ThudDetector
from gateway.alarming.alarm_engine import AlarmEngine
from gateway.alarming.alarms import INTRUSION, THROW_OVER, AlarmBook
from gateway.alarming.fusion import Detection
from gateway.alarming.perimeter import INSIDE, OUTER_FENCE, Perimeter, PlacedNode, Zone
from simulators.ground import ground_samples
from simulators.signals import (
    AUDIO_RATE,
    FENCE_RATE,
    IMPACT_RATE,
    ambient_audio,
    fence_vibration,
    package_impact,
    package_thud,
    wind_noise_audio,
)

THREATS = ("climb", "cut", "throwover")
NODES = 7  # along the fence; the attack is in the span between the middle two
FRACTIONS = (0.0, 0.125, 0.25, 0.375, 0.5)  # of the span, from a node to midway
OFFSETS_M = (2.0, 8.0, 15.0, 25.0)  # how far inside a package lands
MASSES_KG = (0.5, 1.0, 2.0)
WINDOW_S = 30.0
TARGET_PD = 0.95
ATTACK_AT_S = {"climb": 12.0, "cut": 12.0, "throwover": 13.0}  # after the floors have settled
LENGTH_S = {"climb": 32.0, "cut": 32.0, "throwover": 19.0}
DECISION_DELAY_S = 0.1  # a report's airtime and the gateway's own work


@dataclass(frozen=True)
class Trial:
    threat: str
    spacing_m: float
    wind_mps: float
    fraction: float  # of the span from the node before it
    offset_m: float = 0.0
    mass_kg: float = 1.0
    seed: int = 1
    ground_spacing_m: float | None = None  # ground nodes this far apart inside, or none
    ground_inside_m: float = 10.0  # ... this far inside the fence line
    ground_phase: float = 0.0  # where the ground nodes stand against the fence nodes (of a spacing)
    ground_stagger_m: float = 0.0  # every other ground node this much farther in (a zig-zag)
    rain_mmph: float = 0.0  # on the fence (climbs and cuts)

    @property
    def where_m(self) -> float:
        """Chainage of the attack (the middle span starts at node 4)."""
        return (NODES // 2 + self.fraction) * self.spacing_m


def node_chainages(spacing_m: float) -> list[float]:
    return [i * spacing_m for i in range(NODES)]


GROUND_REACH_M = 45.0  # farther off, a 2 kg package stays under a ground node's threshold
GROUND_IDS = 100  # ground nodes are 101, 102, ... in a trial


def ground_places(trial: Trial) -> list[tuple[float, float]]:
    """The ground nodes within reach of the attack (none without ground nodes): chainage and
    metres inside, every other one `ground_stagger_m` farther in than its neighbours. One
    straight row cannot tell a landing short of it from one beyond it (it is a mirror, as
    the fence line is for microphones); a zig-zag can."""
    spacing = trial.ground_spacing_m
    if not spacing:
        return []
    first = math.floor((trial.where_m - GROUND_REACH_M) / spacing)
    last = math.ceil((trial.where_m + GROUND_REACH_M) / spacing)
    low = trial.ground_inside_m - trial.ground_stagger_m / 2
    return [
        ((k + trial.ground_phase) * spacing, low + trial.ground_stagger_m * (k % 2)) for k in range(first, last + 1)
    ]


def run_trial(trial: Trial) -> dict[str, Any]:
    """One attack: what the nodes decided, what the engine made of it."""
    reports: list[tuple[float, int, str, dict[str, int]]] = []  # (when, node, type, fields)
    for node, chainage in enumerate(node_chainages(trial.spacing_m), start=1):
        seed = trial.seed * 1000 + node
        along = abs(trial.where_m - chainage)
        if trial.threat in ("climb", "cut"):
            reports += [(t, node, "fence", f) for t, f in _fence_reports(trial, along, seed)]
        else:
            reports += [(t, node, kind, f) for t, kind, f in _landing_reports(trial, along, seed)]
    placed = {n: PlacedNode(n, c, OUTER_FENCE) for n, c in enumerate(node_chainages(trial.spacing_m), start=1)}
    if trial.threat == "throwover":
        for k, (chainage, inside) in enumerate(ground_places(trial), start=GROUND_IDS + 1):
            placed[k] = PlacedNode(k, chainage, INSIDE, inside)
            reports += [(t, k, "impact", f) for t, f in _ground_reports(trial, chainage, inside, trial.seed * 1000 + k)]
    perimeter = Perimeter([(0.0, 0.0), (NODES * trial.spacing_m, 0.0)], [Zone("Z1", -1e4, 1e5)], placed)
    engine = AlarmEngine(perimeter, AlarmBook("cov"))
    changes = []
    for k, (at, node, kind, fields) in enumerate(sorted(reports, key=lambda r: r[0])):
        changes += engine.on_event(Detection("cov:%d:1:%d" % (node, k), node, kind, fields, at + DECISION_DELAY_S))
    changes += engine.tick(ATTACK_AT_S[trial.threat] + WINDOW_S)
    attack_at = ATTACK_AT_S[trial.threat]
    wanted = INTRUSION if trial.threat in ("climb", "cut") else THROW_OVER
    for change in changes:
        alarm = change.alarm
        if change.action != "raised" or alarm.category != wanted or alarm.raised_at - attack_at > WINDOW_S:
            continue
        if wanted == INTRUSION and alarm.detail.get("kind") != trial.threat:
            continue
        final = _final(changes, alarm.alarm_id)
        error = abs(final.location_m - trial.where_m) if final.location_m is not None else None
        if error is not None and wanted == THROW_OVER and "inside_m" in final.detail:
            error = math.hypot(error, final.detail["inside_m"] - trial.offset_m)  # ground nodes place it inside
        return {"detected": True, "error_m": error, "latency_s": alarm.raised_at - attack_at}
    return {"detected": False, "error_m": None, "latency_s": None}


def _final(changes: list[Any], alarm_id: str) -> Any:
    """An alarm as its last change left it (later reports place a landing better)."""
    return [c.alarm for c in changes if c.alarm.alarm_id == alarm_id][-1]


def _ground_reports(trial: Trial, chainage: float, inside: float, seed: int) -> list[tuple[float, dict[str, int]]]:
    """What one ground node decides: its geophone under the trial's wind, the landing felt."""
    at = ATTACK_AT_S["throwover"]
    distance = math.hypot(trial.where_m - chainage, trial.offset_m - inside)
    samples = ground_samples(
        LENGTH_S["throwover"],
        seed,
        wind_mps=trial.wind_mps,
        from_fence_m=inside,
        landings=((at, distance, trial.mass_kg, trial.seed),),
    )
    detector = GroundDetector()
    block = zeros("H", IMPACT_BLOCK)
    found = []
    for b in range(len(samples) // IMPACT_BLOCK):
        block[:] = _array(samples[b * IMPACT_BLOCK : (b + 1) * IMPACT_BLOCK].astype("<u2"), "H")
        if detector.process(block) == IMPACT:
            fields = {"peak": detector.peak, "noise_floor": detector.noise_floor, "duration_ms": detector.duration_ms}
            found.append(((b + 1) * IMPACT_BLOCK / IMPACT_RATE, fields))
    return found


def _fence_reports(trial: Trial, along_m: float, seed: int) -> list[tuple[float, dict[str, int]]]:
    events = ((ATTACK_AT_S[trial.threat], along_m, trial.seed),)  # the same climber at every node
    xyz = fence_vibration(
        LENGTH_S[trial.threat],
        trial.wind_mps,
        trial.rain_mmph,
        climbs=events if trial.threat == "climb" else (),
        cuts=events if trial.threat == "cut" else (),
        seed=seed,
    )
    detector = FenceDetector()
    flat = xyz.astype("<i2").reshape(-1)
    block = zeros("h", 3 * FENCE_BLOCK)
    found = []
    for b in range(len(xyz) // FENCE_BLOCK):
        block[:] = _array(flat[b * 3 * FENCE_BLOCK : (b + 1) * 3 * FENCE_BLOCK], "h")
        decided = detector.process(block)
        if decided:
            fields = {
                "class": decided,
                "peak": min(detector.peak, 0xFFFF),
                "noise_floor": min(detector.noise_floor, 0xFFFF),
                "pulses": detector.pulses,
                "duration_ds": min(detector.duration_ds, 0xFFFF),
            }
            found.append(((b + 1) * FENCE_BLOCK / FENCE_RATE, fields))
    return found


def _landing_reports(trial: Trial, along_m: float, seed: int) -> list[tuple[float, str, dict[str, int]]]:
    seconds = LENGTH_S["throwover"]
    at = ATTACK_AT_S["throwover"]
    distance = math.hypot(along_m, trial.offset_m)
    sound = ambient_audio(seconds, seed=seed) + wind_noise_audio(seconds, trial.wind_mps, seed + 7)
    sound += package_thud(seconds, at, trial.mass_kg, distance, seed=trial.seed)  # one landing, one sound
    samples = np.clip(np.round(sound), -32768, 32767).astype("<i2")
    found: list[tuple[float, str, dict[str, int]]] = []
    thud, state, one = ThudDetector(), zeros("i", 3), zeros("i", 1)
    frame = zeros("h", 512)
    for k in range(len(samples) // 512):
        frame[:] = _array(samples[k * 512 : (k + 1) * 512], "h")
        one[0] = low_envelope(frame, state)  # as AcousticDetector measures it for the node
        log2_q4(one, 1, 0)
        if thud.process(one[0]) == THUD:
            fields = {"level_db": thud.level_db, "floor_db": thud.floor_db, "duration_ms": thud.duration_ms}
            found.append(((k + 1) * 512 / AUDIO_RATE, "thud", fields))
    ground = package_impact(seconds, at, trial.mass_kg, distance_m=distance, seed=seed)
    impact = ImpactDetector()
    block = zeros("H", IMPACT_BLOCK)
    for b in range(len(ground) // IMPACT_BLOCK):
        block[:] = _array(ground[b * IMPACT_BLOCK : (b + 1) * IMPACT_BLOCK].astype("<u2"), "H")
        if impact.process(block) == IMPACT:
            fields = {"peak": min(impact.peak, 0xFFFF), "noise_floor": impact.noise_floor, "duration_ms": 0}
            found.append(((b + 1) * IMPACT_BLOCK / IMPACT_RATE, "impact", fields))
    return found


def _array(values: np.ndarray, typecode: str) -> Any:
    from array import array

    return array(typecode, values.tobytes())


Ground = tuple[float, float, float]  # ground nodes' spacing, how far inside, stagger; metres


def trials(
    threat: str,
    spacing_m: float,
    wind_mps: float,
    repeats: int = 2,
    ground: Ground | None = None,
    rain_mmph: float = 0.0,
) -> list[Trial]:
    """The trials of one threat at one spacing and wind speed (throw-overs: with `ground`
    nodes, standing anywhere against the fence nodes: their phase spreads over the trials)."""
    out = []
    for r in range(repeats):
        for fraction in FRACTIONS:
            if threat == "throwover":
                for offset in OFFSETS_M:
                    for mass in MASSES_KG:
                        seed = 1 + r * 7919 + int(fraction * 800) + int(offset * 10) + int(mass * 100)
                        trial = Trial(threat, spacing_m, wind_mps, fraction, offset, mass, seed)
                        if ground is not None:
                            phase = (seed * 0.6180339887) % 1.0
                            trial = replace(
                                trial,
                                ground_spacing_m=ground[0],
                                ground_inside_m=ground[1],
                                ground_stagger_m=ground[2],
                                ground_phase=phase,
                            )
                        out.append(trial)
            else:
                seed = 1 + r * 7919 + int(fraction * 800)
                out.append(Trial(threat, spacing_m, wind_mps, fraction, seed=seed, rain_mmph=rain_mmph))
    return out


@dataclass
class Cell:
    """The outcome of one threat at one spacing and wind speed (and ground layout)."""

    threat: str
    spacing_m: float
    wind_mps: float
    trials: int
    detected: int
    errors: list[float]
    missed_at: list[float]  # fractions of the span where a trial was missed
    ground: Ground | None = None
    rain_mmph: float = 0.0

    @property
    def pd(self) -> float:
        return self.detected / self.trials if self.trials else 0.0

    @property
    def mean_error_m(self) -> float | None:
        return sum(self.errors) / len(self.errors) if self.errors else None


Key = tuple[str, float, float, Ground | None, float]  # threat, spacing, wind, ground nodes, rain


def sweep(
    threats: Iterable[str],
    spacings: Iterable[float],
    winds: Iterable[float],
    repeats: int = 2,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    grounds: Iterable[Ground | None] = (None,),
) -> list[Cell]:
    """Every trial of every combination, on every core (ground layouts: throw-overs only)."""
    return run_cells(plan(threats, spacings, winds, grounds), repeats, workers, progress)


def plan(
    threats: Iterable[str],
    spacings: Iterable[float],
    winds: Iterable[float],
    grounds: Iterable[Ground | None] = (None,),
    rains: Iterable[float] = (0.0,),
) -> list[Key]:
    """The cells to run: ground layouts for throw-overs, rain on the fence for climbs and cuts."""
    keys: list[Key] = []
    for t in threats:
        for s in spacings:
            for w in winds:
                for g in grounds if t == "throwover" else (None,):
                    for r in (0.0,) if t == "throwover" else rains:
                        if (t, s, w, g, r) not in keys:
                            keys.append((t, s, w, g, r))
    return keys


def run_cells(
    keys: list[Key],
    repeats: int = 2,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Cell]:
    """The cells of these (threat, spacing, wind, ground, rain) combinations."""
    jobs = {key: trials(*key[:3], repeats=repeats, ground=key[3], rain_mmph=key[4]) for key in keys}
    flat = [(key, trial) for key, ts in jobs.items() for trial in ts]
    results: dict[Key, list[tuple[Trial, dict[str, Any]]]] = {key: [] for key in keys}
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        for done, ((key, trial), outcome) in enumerate(
            zip(flat, pool.map(run_trial, [t for _, t in flat], chunksize=4), strict=True), start=1
        ):
            results[key].append((trial, outcome))
            if progress is not None:
                progress(done, len(flat))
    cells = []
    for (threat, spacing, wind, ground, rain), outcomes in results.items():
        errors = [o["error_m"] for _, o in outcomes if o["detected"] and o["error_m"] is not None]
        detected = sum(1 for _, o in outcomes if o["detected"])
        missed = sorted({t.fraction for t, o in outcomes if not o["detected"]})
        cells.append(Cell(threat, spacing, wind, len(outcomes), detected, errors, missed, ground, rain))
    return cells


def largest_spacing(
    cells: list[Cell], threat: str, wind_mps: float, target: float = TARGET_PD, rain_mmph: float = 0.0
) -> float | None:
    """The largest spacing tried at which Pd holds `target` there and at every smaller one."""
    best = None
    here = [c for c in cells if c.threat == threat and c.wind_mps == wind_mps and c.rain_mmph == rain_mmph]
    for cell in sorted(here, key=lambda c: c.spacing_m):
        if cell.pd < target:
            break
        best = cell.spacing_m
    return best


def table(cells: list[Cell]) -> str:
    lines = [
        "%-10s %9s %7s %7s %6s %9s  %s" % ("threat", "spacing m", "wind", "trials", "Pd", "error m", "missed at"),
    ]
    for c in sorted(cells, key=lambda c: (THREATS.index(c.threat), c.wind_mps, c.spacing_m)):
        error = "%.1f" % (sum(c.errors) / len(c.errors)) if c.errors else "-"
        missed = ", ".join("%g" % f for f in c.missed_at) or "-"
        lines.append(
            "%-10s %9g %5g m/s %7d %6.2f %9s  %s"
            % (
                c.threat,
                c.spacing_m,
                c.wind_mps,
                c.trials,
                c.pd,
                error,
                missed + (" of the span" if c.missed_at else ""),
            )
        )
    lines.append("")
    lines.append("largest spacing with Pd >= %.2f (at it and at every smaller spacing tried):" % TARGET_PD)
    for threat in THREATS:
        winds = sorted({c.wind_mps for c in cells if c.threat == threat})
        if winds:
            parts = []
            for wind in winds:
                best = largest_spacing(cells, threat, wind)
                parts.append("%g m/s: %s" % (wind, "%g m" % best if best is not None else "none tried"))
            lines.append("  %-10s %s" % (threat, "; ".join(parts)))
    return "\n".join(lines)


def plot(cells: list[Cell], path: Path) -> None:
    """Pd against spacing, one line per threat and wind speed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    styles = {"climb": "o-", "cut": "s--", "throwover": "^-."}
    for threat in THREATS:
        for wind in sorted({c.wind_mps for c in cells if c.threat == threat}):
            row = sorted((c for c in cells if c.threat == threat and c.wind_mps == wind), key=lambda c: c.spacing_m)
            ax.plot(
                [c.spacing_m for c in row],
                [c.pd for c in row],
                styles[threat],
                label="%s, wind %g m/s" % (threat, wind),
            )
    ax.axhline(TARGET_PD, color="grey", linewidth=0.8, linestyle=":", label="Pd %.2f" % TARGET_PD)
    ax.set_xlabel("node spacing (m)")
    ax.set_ylabel("probability of detection")
    ax.set_ylim(0, 1.05)
    ax.set_title("Coverage: Pd across a span, by node spacing, threat and wind")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
