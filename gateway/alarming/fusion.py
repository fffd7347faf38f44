"""Fusion rules: how detections from several nodes become one alarm, or none.

Each rule is a small class whose parameters come from the `[alarms]` table of the config.
They are pure functions of what they are given; `gateway.alarm_engine` feeds them.
"""

from dataclasses import dataclass, field
from typing import Any

from gateway.alarming.fence_history import Heard
from gateway.alarming.perimeter import Perimeter


@dataclass
class CommonModeRejection:
    """Fence activity on many nodes at once is the weather (wind, rain, a passing train),
    unless one node stands clearly above the rest, as a climber on a swaying fence does.

    With at least `min_nodes` nodes active within the fusion window, the strongest node is
    an intrusion only if its level is `dominance` times the median of the others' levels.
    (Senstar compensates between zones whose noise is within a factor of 2; a climber close
    to a sensor is far above that.)"""

    min_nodes: int = 4
    dominance: float = 3.0

    def standing_out(self, levels: dict[int, float]) -> int | None:
        """The node that carries an intrusion, or None when it is all environmental."""
        if not levels:
            return None
        strongest = max(levels, key=lambda n: levels[n])
        if len(levels) < self.min_nodes:
            return strongest
        others = sorted(level for node, level in levels.items() if node != strongest)
        median = others[len(others) // 2]
        return strongest if levels[strongest] >= self.dominance * max(median, 1e-9) else None


@dataclass
class Localisation:
    """Where along the fence: the level-weighted chainage of the strongest node and the
    strongest of its neighbours on the same side (up to `nodes` of them, within `reach_m`)."""

    nodes: int = 3
    reach_m: float = 100.0

    def locate(self, levels: dict[int, float], strongest: int, perimeter: Perimeter) -> float | None:
        centre = perimeter.chainage(strongest)
        if centre is None:
            return None
        side = perimeter.side(strongest)
        near = [
            (level, perimeter.chainage(node))
            for node, level in levels.items()
            if perimeter.side(node) == side
            and (c := perimeter.chainage(node)) is not None
            and abs(c - centre) <= self.reach_m
        ]
        near.sort(key=lambda item: -item[0])
        chosen = [(level, c) for level, c in near[: self.nodes] if c is not None]
        total = sum(level for level, _ in chosen)
        if total <= 0:
            return centre
        return sum(level * c for level, c in chosen) / total


@dataclass
class FaintPairRule:
    """A climb midway between two nodes reaches each at about a third of its strength; in a
    gale neither reaches its own climb threshold, and each reports the climb `faint`. A
    faint report alone is recorded, not alarmed. With a faint or climb report from the
    nearest node on either side within `window_s` (the nodes' own climb window), it is a
    climb between the two, unless other nodes within `reach_m` were active in that window
    about as strongly, before or during the `hold_s` it waits (the weather, which works the
    whole fence): the weaker of the pair must stand `dominance` times above the strongest
    of the others."""

    enabled: bool = True
    window_s: float = 10.0
    reach_m: float = 100.0
    dominance: float = 2.0
    hold_s: float = 2.0  # decided this long after the pair is complete (see intrusions.py)
    # Rain and wind also work the fence for minutes on end, and by chance two neighbours
    # report faint within a window with the others quiet in it: in 8 minutes of 12-25 mm/h
    # rain on 16 firmware nodes (400 m), 69 faint reports of peak 338-580 made 5 such pairs
    # (climbs in it: 1,181-1,386). When `weather_nodes` other nodes have reported faint in
    # the last `weather_window_s`, the fence is in weather: the weaker of a pair must also
    # stand `weather_dominance` times above the median peak of those reports. Two are
    # enough: as a storm sets in, a pair came 27 s in, after two other nodes' reports only.
    weather_window_s: float = 300.0
    weather_nodes: int = 2
    weather_dominance: float = 2.0

    def weather_level(self, faints: "list[Heard]", pair: "set[int]") -> float | None:
        """The fence's faint level in weather: the median peak of the other nodes' faint
        reports in the window, or None when fewer than `weather_nodes` nodes made them."""
        levels = sorted(h.level for h in faints if h.node_id not in pair)
        if len({h.node_id for h in faints if h.node_id not in pair}) < self.weather_nodes:
            return None
        return levels[len(levels) // 2]

    def partner(
        self, carrier: Heard, recent: list[Heard], neighbours: list[int], faints: "list[Heard] | None" = None
    ) -> Heard | None:
        """The neighbour's report that makes the carrier's faint climb an intrusion, if any;
        `faints`, the site's faint reports of the last `weather_window_s`."""
        if not self.enabled:
            return None
        loudest: dict[int, Heard] = {}
        for heard in recent:
            if heard.node_id != carrier.node_id and (
                heard.node_id not in loudest or heard.level > loudest[heard.node_id].level
            ):
                loudest[heard.node_id] = heard
        pair = [loudest[n] for n in neighbours if n in loudest and loudest[n].kind in ("faint", "climb")]
        if not pair:
            return None
        partner = max(pair, key=lambda h: h.level)
        others = [h.level for n, h in loudest.items() if n != partner.node_id]
        if others and min(carrier.level, partner.level) < self.dominance * max(others):
            return None  # the neighbours are as busy: weather, not a climber
        weather = self.weather_level(faints or [], {carrier.node_id, partner.node_id})
        if weather is not None and min(carrier.level, partner.level) < self.weather_dominance * weather:
            return None  # no louder than the rain's or the wind's faint reports all along the fence
        return partner


@dataclass
class ThrowOverRule:
    """An impact inside with no climb near it, or fence activity followed within `window_s`
    by an impact within `radius_m`: something came over, not someone."""

    window_s: float = 10.0
    radius_m: float = 60.0


@dataclass
class DroneRule:
    """Acoustic detections become a drone track (position from the detecting nodes' SNR);
    an impact within `drop_radius_m` of a track seen in the last `drop_window_s` is a drop.
    A track with no detecting node for `track_timeout_s` ends.

    A track becomes a drone alarm only when it is trustworthy: heard without a break for
    `confirm_s` (a bell or a cough is over sooner); with `require_two_nodes`, by a second
    node too when another node stands within `corroborate_m` of the first (it hears the same
    drone), unless one node alone has heard it for `alone_s` (its neighbour may be deaf or
    far); and, with `require_consistent_f0`, with the fundamentals the nodes report within
    `f0_tolerance` of one another. The alarm's detail says which of these held, required or
    not."""

    track_timeout_s: float = 30.0
    drop_window_s: float = 120.0
    drop_radius_m: float = 100.0
    # A node this near a live track's place hears the same drone (a node hears one 150 m
    # off; the place is the detecting nodes' SNR-weighted middle, within some 20 m of the
    # drone). A track lives while a node still hears it, so a drone flying along the fence
    # is followed node by node; two drones 300 m apart stay two tracks (at 300 m, the next
    # drone's farthest node joined the last drone's track, and its alarm was never raised).
    same_track_m: float = 160.0
    confirm_s: float = 2.0
    corroborate_m: float = 60.0
    require_two_nodes: bool = False
    alone_s: float = 10.0
    f0_tolerance: float = 0.15
    require_consistent_f0: bool = False

    def trust(
        self, track: "DroneTrack", now: float, silent_neighbours: int, corroborators: int | None = None
    ) -> dict[str, Any] | None:
        """What makes a live track trustworthy, or None while it is not (yet); the nodes in
        range of the first that have not heard it are `silent_neighbours`, and those that
        have (the first included) `corroborators` (a track joins nodes up to `same_track_m`
        apart, and two far-apart nodes each fooled by a sound of its own corroborate
        nothing)."""
        # Heard without a break by one node: sounds that fool nodes in turn along a track's
        # 300 m (each its own, a few seconds each) are not one drone heard all that time.
        heard_s = max((now - since for since in track.since.values()), default=0.0)
        if track.ended_at is not None or not track.detecting or heard_s < self.confirm_s:
            return None
        corroborated = (len(track.heard_by) if corroborators is None else corroborators) >= 2
        if self.require_two_nodes and not corroborated and silent_neighbours and heard_s < self.alone_s:
            return None  # a neighbour should hear it too: wait for it, or for alone_s
        f0 = track.fundamentals
        consistent = bool(f0) and max(f0) - min(f0) <= self.f0_tolerance * min(f0)
        if self.require_consistent_f0 and not consistent:
            return None
        return {
            "heard_s": round(heard_s, 1),
            "nodes": sorted(track.heard_by),
            "corroborated": corroborated,
            "neighbours_in_range": silent_neighbours + len(track.heard_by) - 1,
            "fundamental_consistent": consistent,
        }


@dataclass
class JammingRule:
    """EN 50131-5-3 as vendors implement it: jamming is `accumulated_s` of interference
    within any `window_s`."""

    accumulated_s: float = 30.0
    window_s: float = 60.0

    def jammed(self, intervals: list[tuple[float, float]], now: float) -> bool:
        start = now - self.window_s
        total = sum(max(0.0, min(end, now) - max(begin, start)) for begin, end in intervals)
        return total >= self.accumulated_s


@dataclass
class DroneTrack:
    track_id: int
    started_at: float
    last_seen: float
    detecting: dict[int, float] = field(default_factory=dict)  # node -> SNR dB of its last report
    evidence: list[str] = field(default_factory=list)
    position_m: float | None = None
    ended_at: float | None = None
    heard_by: set[int] = field(default_factory=set)  # every node that reported it
    fundamentals: list[int] = field(default_factory=list)  # Hz, as reported (0: none measured)
    alarmed: bool = False  # its alarm is raised (it was found trustworthy)
    since: dict[int, float] = field(default_factory=dict)  # node -> when its present detection began


@dataclass
class LandingRule:
    """Thuds of one landing (`landings.py`): reports within `window_s` from nodes within
    `reach_m` of each other, of thuds that happened within `coincide_s` of each other (each
    node's report says how long it waited: unrelated sounds at two nodes seldom coincide so
    closely); `min_nodes` of them make a landing; it is placed within `max_offset_m` of the
    line, a tie between places broken towards `typical_m` inside; levels that only a source
    louder than `loudest_db` at 1 m could explain are no landing. A node whose floor is over
    `quiet_floor_db` (day-time yard noise, a gale on its microphone) is not listened to for
    landings. With `lone`, a thud `lone_rise_db` over one node's quiet floor that no
    neighbour reported within `lone_hold_s` is a landing near that node (a light package a
    few metres from a node, too faint 30 m off for its neighbours): it caught 2 more of the
    20 bundled throw-overs, but in the storm a loud clip after a quiet one made a false one,
    so it is off by default. Where it is loud, landings are not listened for at all: a
    door, a dropped tool, a dog's bark there are thuds too, at one node or several (with
    real everyday sound at 55 dB SPL each node heard four a minute); there only the ground
    channel's impacts count."""

    enabled: bool = True
    window_s: float = 4.0  # one landing's reports arrive within this (airtime, retries)
    coincide_s: float = 0.4  # ... and say it happened within this of each other
    reach_m: float = 90.0  # nodes this far apart hear the same landing
    loudest_db: float = 100.0  # at 1 m: a package of 50 kg; anything louder is no package
    quiet_floor_db: float = 50.0  # a node this loud around it hears landings among too much else
    lone: bool = False  # see below: off until it is quiet enough somewhere to trust
    lone_rise_db: float = 15.0  # one node alone: a thud this far over its quiet floor ...
    lone_hold_s: float = 2.5  # ... that no neighbour reported within this of it
    min_nodes: int = 2
    max_offset_m: float = 30.0
    typical_m: float = 8.0  # where throws land, metres inside the line ...
    typical_spread_m: float = 12.0  # ... give or take this (a throw over a 5 m fence: 2-25 m)
    mic_height_m: float = 2.0
    # How levels fall and what a typical package (1 kg from 6 m) makes at 1 m, for placing it
    # (`landings.py`): a surface wave at 40 Hz in soil of Q 20 and 200 m/s loses 0.27 dB/m
    # besides spreading (FIELD.md); 80 dB SPL in the air (signals.package_thud); 78 µm/s in
    # the ground, 4,460 counts at a ground node's 57 counts per µm/s (simulators/ground.py).
    ground_db_per_m: float = 0.27
    air_source_db: float = 80.0
    ground_source_db: float = 73.0
    source_sigma_db: float = 6.0  # packages of 0.5-2 kg from 3-10 m, on grass or tarmac
    level_sigma_db: float = 3.0  # one report's level: the sensors' spread, the site's ground


@dataclass(frozen=True)
class Detection:
    """One journalled event, as the engine needs it."""

    event_id: str
    node_id: int
    type: str  # fence | acoustic | impact | tamper | fault
    fields: dict[str, int]
    at: float


@dataclass
class Rules:
    """Every fusion rule, as the `[alarms]` table of the config sets them."""

    fence_window_s: float = 0.5
    common_mode: CommonModeRejection = field(default_factory=CommonModeRejection)
    localisation: Localisation = field(default_factory=Localisation)
    throw_over: ThrowOverRule = field(default_factory=ThrowOverRule)
    drone: DroneRule = field(default_factory=DroneRule)
    jamming: JammingRule = field(default_factory=JammingRule)
    faint_pair: FaintPairRule = field(default_factory=FaintPairRule)
    landing: LandingRule = field(default_factory=LandingRule)

    @classmethod
    def from_table(cls, t: dict[str, Any]) -> "Rules":
        """The rules from the config's `[alarms]` table, whose keys are each rule's fields with
        the rule's prefix ("drone_", "faint_pair_", ...)."""

        def prefixed(prefix: str) -> dict[str, Any]:
            return {k[len(prefix) :]: v for k, v in t.items() if k.startswith(prefix)}

        return cls(
            fence_window_s=t["fence_window_s"],
            common_mode=CommonModeRejection(t["common_mode_min_nodes"], t["common_mode_dominance"]),
            throw_over=ThrowOverRule(t["throw_over_window_s"], t["throw_over_radius_m"]),
            drone=DroneRule(**prefixed("drone_")),
            jamming=JammingRule(t["jamming_accumulated_s"], t["jamming_window_s"]),
            faint_pair=FaintPairRule(**prefixed("faint_pair_")),
            landing=LandingRule(**prefixed("landing_")),
        )
