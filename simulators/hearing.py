"""Which nodes can sense a scripted event, and so which must run the real firmware.

Only firmware nodes detect anything in a simulation: behavioural nodes stand in for radio
load. So every node that could sense an event should run the firmware (the default), and
an attack that no firmware node can sense is a mistake in the scenario, reported as one,
never a silent miss.

The reaches follow the signal models in `signals.py` (no numpy here: the gateway's command
line loads scenarios without the [sim] extra):

- fence (climb, cut, knock): the mesh carries a disturbance as 1 / (1 + (d / 10 m)^2). At
  60 m that is 1/37: a climber's 400-1200-count impulses arrive at 11-33 counts, still a few
  times a calm sensor's 3-count noise, and a node farther off adds nothing to the decision.
- a package landing (throw-over, a drone's drop): its thud (`signals.package_thud`) is
  about 80 dB SPL at 1 m for 1 kg falling 6 m, 10 dB more per tenfold impact energy, and
  falls by spherical spreading; it is heard where it still stands 6 dB over a quiet night's
  40 dB (1 kg: 50 m). The ground channel reaches about 10 m.
- a drone: its blade-pass series carries 150 m at the altitude the simulator flies it (the
  acoustic detector's range in FIELD.md: omnidirectional sensors 100-150 m).
"""

import math
from typing import Protocol

FENCE_REACH_M = 60.0
THUD_DB_AT_1M = 80.0  # 1 kg falling 6 m onto a yard's tarmac: signals.THUD_DB_AT_1M
THUD_REFERENCE_J = 1.0 * 9.81 * 6.0
DRONE_REACH_M = 150.0
FENCE_KINDS = ("climb", "cut", "knock")
ATTACKS = ("climb", "cut", "throwover", "drone", "knock")


class Placed(Protocol):
    """A scripted event (`scenario.Event`), as far as hearing it goes."""

    @property
    def kind(self) -> str: ...
    @property
    def t(self) -> float: ...
    @property
    def position_m(self) -> float | None: ...
    @property
    def path(self) -> tuple[tuple[float, float], ...]: ...
    @property
    def mass_kg(self) -> float: ...


def thud_reach_m(mass_kg: float) -> float:
    """How far a package's landing is heard, by air or through the ground."""
    return max(10.0, 10 ** ((thud_source_db(mass_kg) - 46.0) / 20))


def thud_source_db(mass_kg: float, drop_m: float = 6.0) -> float:
    """The thud's level at 1 m, dB SPL (see `signals.package_thud`)."""
    energy = mass_kg * 9.81 * drop_m
    return THUD_DB_AT_1M + 10 * math.log10(max(energy, 1e-3) / THUD_REFERENCE_J)


def reach_m(event: Placed) -> float:
    if event.kind in FENCE_KINDS:
        return FENCE_REACH_M
    if event.kind == "throwover":
        return thud_reach_m(event.mass_kg)
    if event.kind == "drone":
        return DRONE_REACH_M
    return 0.0


def places(event: Placed) -> list[float]:
    """Where along the fence the event happens (every breakpoint of a drone's path)."""
    if event.path:
        return [p for _, p in event.path]
    return [event.position_m] if event.position_m is not None else []


def hearing(event: Placed, positions: list[float]) -> list[int]:
    """The node ids (1-based) within reach of the event."""
    reach = reach_m(event)
    where = places(event)
    if event.kind == "drone" and len(where) >= 2:  # anywhere along its path
        low, high = min(where), max(where)
        return [i + 1 for i, p in enumerate(positions) if low - reach <= p <= high + reach]
    return [i + 1 for i, p in enumerate(positions) if any(abs(p - w) <= reach for w in where)]


GROUND_REACH_M = 45.0  # a 2 kg package 45 m from a ground node stays under its threshold (ground.py)
GROUND_NUISANCE_M = 40.0  # a walker's steps or a vehicle 40 m off are in a ground node's floor


class Felt(Placed, Protocol):
    @property
    def offset_m(self) -> float: ...
    @property
    def drop_t(self) -> float | None: ...
    def position_at(self, t: float) -> float | None: ...


def feeling(event: Felt, ground: list[tuple[float, float]]) -> list[int]:
    """The ground nodes (1-based, in `ground`'s order: chainage, metres inside) that can feel
    the event: a landing within `GROUND_REACH_M`, a walker or vehicle passing within
    `GROUND_NUISANCE_M` (their path runs along the fence)."""
    if event.kind in ("walker", "vehicle"):
        start = event.position_m or 0.0
        span = (start, start + 1.4 * 40) if event.kind == "walker" else (start - 480.0, start + 480.0)
        return [
            k + 1
            for k, (c, inside) in enumerate(ground)
            if span[0] - GROUND_NUISANCE_M <= c <= span[1] + GROUND_NUISANCE_M
            and abs(inside - event.offset_m) <= GROUND_NUISANCE_M
        ]
    if event.kind == "throwover":
        where = event.position_m
    elif event.kind == "drone" and event.drop_t is not None:
        where = event.position_at(event.drop_t)
    else:
        return []
    if where is None:
        return []
    return [
        k + 1
        for k, (c, inside) in enumerate(ground)
        if math.hypot(c - where, inside - event.offset_m) <= GROUND_REACH_M
    ]


def describe(event: Placed, index: int) -> str:
    where = places(event)
    at = ("%.0f m" % where[0]) if len(where) == 1 else "%.0f-%.0f m" % (min(where), max(where)) if where else "?"
    return "event[%d] (%s at %s, t=%g s)" % (index, event.kind, at, event.t)
