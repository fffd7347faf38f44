"""Where a package landed, from the thuds that neighbouring nodes heard.

A landing's thud reaches each node at a level that falls by spherical spreading:
L_i = L0 - 20 log10(r_i), with r_i the distance from the landing point (x along the fence
line, y off it) to node i's microphone (at x_i, on the line, `mic_height_m` up). Given the
levels several nodes report (THUD `level_db`, one calibration for all), the landing point is
the least-squares fit of (x, y, L0) over a grid of 0.5 m along the line and 1 m off it: L0
drops out in closed form (the mean residual), so the search is over the place alone. Two
nodes fix only a curve of places; a slight preference for a typical throw (`typical_m`
inside) picks one, which moves the estimate along the line by a metre or two at most. The
levels cannot tell inside from outside: the fence line is a mirror.

A thud heard by one node alone is not an alarm (a door slammed, a dropped tool): it waits
`window_s` for a neighbour within `reach_m` to report the same landing. Sans-I/O.
"""

import math
from dataclasses import dataclass, field
from typing import Any

from gateway.alarming.fusion import Detection, LandingRule


@dataclass
class Landing:
    """One landing as heard so far."""

    first_at: float
    levels: dict[int, tuple[float, float]] = field(default_factory=dict)  # node -> (chainage, level dB)
    evidence: list[str] = field(default_factory=list)
    location_m: float | None = None
    reported: bool = False  # its alarm (or evidence) has gone to the engine
    lone_at: float | None = None  # when to decide it as heard by one node alone, if loud enough

    def detail(self) -> dict[str, Any]:
        return {"heard_by": sorted(self.levels), "levels_db": [self.levels[n][1] for n in sorted(self.levels)]}


class Landings:
    def __init__(self, rule: LandingRule | None = None) -> None:
        self.rule = rule or LandingRule()
        self.recent: list[Landing] = []

    def heard(self, d: Detection, chainage: float, chainages: dict[int, float]) -> Landing | None:
        """A node's THUD. The landing it belongs to once enough nodes heard it (again with
        each later report: a better place), else None. `chainages`: every placed node's."""
        rule = self.rule
        if not rule.enabled:
            return None
        self.recent = [g for g in self.recent if d.at - g.first_at <= rule.window_s or g.lone_at is not None]
        if d.fields.get("floor_db", 0) > rule.quiet_floor_db:
            return None  # too loud around that node to tell a landing from everything else
        level = float(d.fields.get("level_db", 0))
        landing = None
        for candidate in self.recent:
            near = all(abs(c - chainage) <= rule.reach_m for c, _ in candidate.levels.values())
            together = abs(d.at - candidate.first_at) <= rule.coincide_s
            if near and together and d.node_id not in candidate.levels:
                landing = candidate
                break
        if landing is None:
            landing = Landing(d.at)
            self.recent.append(landing)
            if rule.lone and level - float(d.fields.get("floor_db", 0)) >= rule.lone_rise_db:
                landing.lone_at = d.at + rule.lone_hold_s
        landing.levels[d.node_id] = (chainage, level)
        landing.evidence.append(d.event_id)
        if len(landing.levels) < rule.min_nodes:
            return None
        where, source_db = self.locate(list(landing.levels.values()))
        if source_db > rule.loudest_db:
            return None  # no package is that loud: unrelated sounds at distant nodes
        farthest = max(abs(c - where) for c, _ in landing.levels.values())
        first = not landing.reported  # later reports join a landing already made
        if first and any(abs(c - where) < farthest - 1.0 for c in self._quiet(landing, chainages)):
            # A node nearer the place than one that heard it, silent: its report would have
            # come first (nearer is louder, and louder reports sooner). Two sounds, not one.
            return None
        landing.location_m = where
        return landing

    def next_deadline(self) -> float | None:
        """When a loud thud heard by one node alone is to be decided."""
        waiting = [g.lone_at for g in self.recent if g.lone_at is not None and not g.reported]
        return min(waiting) if waiting else None

    def due(self, now: float) -> list[Landing]:
        """Loud thuds that one node alone heard and whose wait is over: landings near it."""
        found = []
        for landing in self.recent:
            if landing.lone_at is not None and landing.lone_at <= now and not landing.reported:
                landing.lone_at = None
                if len(landing.levels) == 1:
                    landing.location_m = next(iter(landing.levels.values()))[0]
                    found.append(landing)
        return found

    @staticmethod
    def _quiet(landing: Landing, chainages: dict[int, float]) -> list[float]:
        return [c for n, c in chainages.items() if n not in landing.levels]

    def locate(self, heard: list[tuple[float, float]]) -> tuple[float, float]:
        """The chainage of the landing that best explains the levels (chainage, dB) heard,
        and the level at 1 m that the fit implies."""
        rule = self.rule
        if len(heard) == 1:
            return heard[0][0], heard[0][1]
        low = min(c for c, _ in heard) - rule.reach_m / 3
        high = max(c for c, _ in heard) + rule.reach_m / 3
        best = (math.inf, heard[0][0], 0.0)
        steps = int((high - low) / 0.5) + 1
        h2 = rule.mic_height_m**2
        for i in range(steps):
            x = low + 0.5 * i
            for y in range(int(rule.max_offset_m) + 1):
                predicted = [-10 * math.log10((x - c) ** 2 + y * y + h2) for c, _ in heard]
                offset = sum(level - p for (_, level), p in zip(heard, predicted, strict=True)) / len(heard)
                error = sum((level - p - offset) ** 2 for (_, level), p in zip(heard, predicted, strict=True))
                error += 1e-3 * (y - rule.typical_m) ** 2  # only breaks the ties of two nodes
                if error < best[0]:
                    best = (error, x, offset)
        return best[1], best[2]
