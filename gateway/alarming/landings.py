"""Where a package landed, from what neighbouring nodes heard in the air and felt in the ground.

Three channels report a landing, each with its own physics of how a level falls with the
distance r from the landing point (x along the fence line, y inside it) to the sensor:

- air (a node's microphone, THUD `level_db`, dB SPL), on the fence line `mic_height_m` up:
  spherical spreading, L = L0 - 20 log10(r);
- ground (a ground node's buried geophone, IMPACT `peak` counts, as 20 log10(peak) dB), at
  its place inside the fence: a surface wave, G = G0 - 10 log10(r) - `ground_db_per_m` r
  (spreading and the soil's damping, FIELD.md);
- post (a fence node's impact channel, IMPACT at the fence line): as the ground, with a
  source level of its own (another sensor, coupled through a post).

The landing point is the least-squares fit over a grid of 0.5 m along the line and 1 m
inside it, in units of each level's uncertainty (`level_sigma_db`). Each channel's source
level (L0, G0) drops out in closed form, pulled towards what a typical package makes
(`air_source_db`, `ground_source_db`, give or take `source_sigma_db`), so that even one
report per channel says something of distance; and the place is pulled towards where throws
land (`typical_m` inside, give or take `typical_spread_m`), which decides only what the
levels cannot. The error reported is the RMS distance from
the best place of the places that explain the reports, each weighted by how well it does
(exp(-chi2 / 2)); two microphones alone fix only a curve of places and say so. Air levels
cannot tell inside from outside (the fence line is a mirror); ground nodes, inside, can.

A landing's reports belong together when they come from nodes within `reach_m` of each
other and their landing moments (each channel decides a set time after the landing: a THUD
0.77 s after the thud, an IMPACT 1.5 s after the ground fell quiet) lie within `coincide_s`.
A thud heard by one node alone is not an alarm (a door slammed, a dropped tool): it waits
`window_s` for a neighbour to report the same landing; a ground node's IMPACT is one
(`alarm_engine`: its detector has already refused footsteps, vehicles and weather).
Sans-I/O.
"""

import math
from dataclasses import dataclass, field
from typing import Any

from gateway.alarming.fusion import Detection, LandingRule

AIR = "air"
GROUND = "ground"
POST = "post"
_THUD_DECIDED_S = 0.77  # device/detect/thud.py: 12 frames of 64 ms after the thud
_IMPACT_DECIDED_S = 1.5  # device/detect/ground.py and impact.py: 30 blocks of 50 ms after it
_REGION_CHI2 = 2.3  # two unknowns (x, y): the 68 % region


@dataclass(frozen=True)
class Report:
    """One node's report of a landing: where the node is, what it measured (dB)."""

    node_id: int
    chainage_m: float
    inside_m: float
    level_db: float
    channel: str


@dataclass
class Landing:
    """One landing as reported so far."""

    first_at: float  # its moment, as the first report places it
    reports: dict[int, Report] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    location_m: float | None = None
    inside_m: float | None = None
    error_m: float | None = None
    reported: bool = False  # its alarm (or evidence) has gone to the engine
    lone_at: float | None = None  # when to decide it as heard by one node alone, if loud enough

    def detail(self) -> dict[str, Any]:
        nodes = sorted(self.reports)
        out: dict[str, Any] = {
            "heard_by": nodes,
            "levels_db": [round(self.reports[n].level_db, 1) for n in nodes],
            "channels": [self.reports[n].channel for n in nodes],
        }
        if self.inside_m is not None:
            out["inside_m"] = self.inside_m
        if self.error_m is not None:
            out["error_m"] = round(self.error_m, 1)
        return out


def peak_db(peak_counts: float) -> float:
    """An IMPACT's peak (ADC counts) as a level in dB."""
    return 20 * math.log10(max(peak_counts, 1.0))


def moment(d: Detection) -> float:
    """When the landing a report speaks of happened, from when its detector decided it."""
    lasted = float(d.fields.get("duration_ms", 0)) / 1000
    return d.at - lasted - (_THUD_DECIDED_S if d.type == "thud" else _IMPACT_DECIDED_S)


class Landings:
    def __init__(self, rule: LandingRule | None = None) -> None:
        self.rule = rule or LandingRule()
        self.recent: list[Landing] = []

    def heard(self, d: Detection, chainage: float, chainages: dict[int, float]) -> Landing | None:
        """A node's THUD. The landing it belongs to once enough nodes reported it (again
        with each later report: a better place), else None. `chainages`: every placed
        microphone's."""
        if not self.rule.enabled or d.fields.get("floor_db", 0) > self.rule.quiet_floor_db:
            return None  # too loud around that node to tell a landing from everything else
        level = float(d.fields.get("level_db", 0))
        report = Report(d.node_id, chainage, 0.0, level, AIR)
        landing = self._join(d, report)
        rise = level - float(d.fields.get("floor_db", 0))
        if len(landing.reports) == 1 and self.rule.lone and rise >= self.rule.lone_rise_db:
            landing.lone_at = d.at + self.rule.lone_hold_s
        if len(landing.reports) < self.rule.min_nodes:
            return None
        return self._placed(landing, {AIR: chainages})

    def felt(
        self, d: Detection, chainage: float, inside_m: float, channel: str, placed: dict[int, tuple[float, float]]
    ) -> Landing | None:
        """A node's IMPACT: a ground node's (`GROUND`, `inside_m` inside the line) or a
        fence post's (`POST`). The landing it belongs to, placed as well as its reports
        allow (one report: at the node, its error the distance a typical package would
        be felt at that level). `placed`: every ground node's (chainage, metres inside)."""
        if not self.rule.enabled:
            return None
        report = Report(d.node_id, chainage, inside_m, peak_db(float(d.fields.get("peak", 0))), channel)
        landing = self._join(d, report)
        if len(landing.reports) > 1:
            placed_landing = self._placed(landing, {GROUND: placed} if channel == GROUND else {})
            if placed_landing is not None:
                return placed_landing
            landing = self._alone(landing, report, d)  # not that landing: one of its own
        landing.location_m = chainage
        landing.inside_m = inside_m
        landing.error_m = self._lone_range(report)
        return landing

    def _alone(self, landing: Landing, report: Report, d: Detection) -> Landing:
        """Take a report that cannot belong to `landing` out of it, as a landing of its own."""
        del landing.reports[report.node_id]
        landing.evidence.remove(d.event_id)
        alone = Landing(moment(d), {report.node_id: report}, [d.event_id])
        self.recent.append(alone)
        return alone

    def _join(self, d: Detection, report: Report) -> Landing:
        rule = self.rule
        self.recent = [g for g in self.recent if d.at - g.first_at <= rule.window_s + 2.0 or g.lone_at is not None]
        when = moment(d)
        for candidate in self.recent:
            near = all(abs(r.chainage_m - report.chainage_m) <= rule.reach_m for r in candidate.reports.values())
            if near and abs(when - candidate.first_at) <= rule.coincide_s and d.node_id not in candidate.reports:
                candidate.reports[d.node_id] = report
                candidate.evidence.append(d.event_id)
                return candidate
        landing = Landing(when, {d.node_id: report}, [d.event_id])
        self.recent.append(landing)
        return landing

    def _placed(self, landing: Landing, quiet: dict[str, dict[int, Any]]) -> Landing | None:
        """The landing placed from its reports, or None when they cannot be one landing.
        `quiet`: per channel, the nodes placed there (chainage, or (chainage, metres inside))."""
        rule = self.rule
        where, inside, error, sources = self.locate(list(landing.reports.values()))
        if sources.get(AIR, 0.0) > rule.loudest_db:
            return None  # no package is that loud: unrelated sounds at distant nodes
        for channel, nodes in quiet.items():
            heard = [r for r in landing.reports.values() if r.channel == channel]
            if not heard or (landing.reported and channel == AIR):
                continue  # a later thud joins a landing already made (as it always has)
            # A node that would have sensed this landing louder than one that did, by more
            # than twice a level's uncertainty, yet silent: two events, not one.
            faintest = min(r.level_db for r in heard)
            for node, place in nodes.items():
                if node in landing.reports:
                    continue
                c, y = place if isinstance(place, tuple) else (place, 0.0)
                level = sources.get(channel, 0.0) + self._predicted(Report(node, c, y, 0.0, channel), where, inside)
                if level > faintest + 2 * rule.level_sigma_db:
                    return None
        landing.location_m, landing.inside_m, landing.error_m = where, inside, error
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
                if len(landing.reports) == 1:
                    only = next(iter(landing.reports.values()))
                    landing.location_m = only.chainage_m
                    landing.inside_m, landing.error_m = self.lone_place(only)
                    found.append(landing)
        return found

    def lone_place(self, report: Report) -> tuple[float, float]:
        """How far inside one sensor alone puts a landing, and the error of that. A ground node
        felt it around itself; a fence sensor cannot tell how far in: where throws land
        (`typical_m`), no farther than the range a typical package is sensed at."""
        reach = self._lone_range(report)
        if report.channel == GROUND:
            return report.inside_m, reach
        return min(self.rule.typical_m, reach), reach

    # -- the physics -----------------------------------------------------------------------

    def _predicted(self, report: Report, x: float, y: float) -> float:
        """The level (dB, less the source's) a landing at (x, y) gives this report's sensor."""
        rule = self.rule
        if report.channel == AIR:
            return -10 * math.log10((x - report.chainage_m) ** 2 + y * y + rule.mic_height_m**2)
        r = max(1.0, math.hypot(x - report.chainage_m, y - report.inside_m))
        return -10 * math.log10(r) - rule.ground_db_per_m * r

    def _prior(self, channel: str) -> float:
        rule = self.rule
        return rule.air_source_db if channel == AIR else rule.ground_source_db  # a post's geophone: as a ground node's

    def _lone_range(self, report: Report) -> float:
        """How far from a ground sensor a typical package gives the level it felt."""
        prior = self._prior(report.channel)
        sensor = Report(0, 0.0, 0.0, 0.0, GROUND)
        r = 1.0
        while r < self.rule.reach_m and prior + self._predicted(sensor, r, 0.0) > report.level_db:
            r += 0.5
        return r

    def _misfit(self, heard: list[Report], x: float, y: float) -> tuple[float, dict[str, float]]:
        """Chi-square of a landing at (x, y), each channel's source level fitted in closed form."""
        rule = self.rule
        w = (rule.level_sigma_db / rule.source_sigma_db) ** 2  # a prior counts as this many reports
        groups: dict[str, list[float]] = {}
        for r in heard:
            groups.setdefault(r.channel, []).append(r.level_db - self._predicted(r, x, y))
        total = 0.0
        sources = {}
        for channel, residuals in groups.items():
            prior = self._prior(channel)
            source = (sum(residuals) + w * prior) / (len(residuals) + w)
            penalty = w * (source - prior) ** 2
            sources[channel] = source
            total += (sum((v - source) ** 2 for v in residuals) + penalty) / rule.level_sigma_db**2
        # Where throws land: a few metres to a few tens inside, most near `typical_m`. It
        # decides only what the levels cannot (two microphones' curve, two ground nodes' mirror).
        total += ((y - rule.typical_m) / rule.typical_spread_m) ** 2
        return total, sources

    def locate(self, heard: list[Report]) -> tuple[float, float, float, dict[str, float]]:
        """The place (chainage, metres inside) that best explains the reports, its error (the
        RMS distance of the places that explain them, weighted by how well), and each
        channel's fitted source level."""
        rule = self.rule
        if len(heard) == 1:
            only = heard[0]
            return only.chainage_m, only.inside_m, self._lone_range(only), {only.channel: only.level_db}
        low = min(r.chainage_m for r in heard) - rule.reach_m / 3
        high = max(r.chainage_m for r in heard) + rule.reach_m / 3
        steps = int((high - low) / 0.5) + 1
        grid = []
        best: tuple[float, float, float, dict[str, float]] = (math.inf, heard[0].chainage_m, 0.0, {})
        for i in range(steps):
            x = low + 0.5 * i
            for inside in range(int(rule.max_offset_m) + 1):
                chi2, sources = self._misfit(heard, x, float(inside))
                grid.append((chi2, x, float(inside)))
                if chi2 < best[0]:
                    best = (chi2, x, float(inside), sources)
        chi2, x, y, sources = best
        # The RMS distance from the best place, each place weighted by how well it explains
        # the reports (exp(-chi2/2)): two microphones alone leave a curve, and say so.
        weights = [(math.exp(-(c - chi2) / 2), gx, gy) for c, gx, gy in grid if c <= chi2 + 4 * _REGION_CHI2]
        spread = sum(w * ((gx - x) ** 2 + (gy - y) ** 2) for w, gx, gy in weights) / sum(w for w, _, _ in weights)
        return x, y, max(math.sqrt(spread), 0.5), sources
