"""The alarm engine decides from event sequences: the weather on many nodes is not an
intrusion, a climber who stands out is, and is placed within half a node spacing; packages
over the wall and drone drops are told from climbs; operators acknowledge, clear and mask,
and every rule of that lifecycle holds."""

import math

import pytest

from gateway.alarming.alarm_engine import AlarmEngine
from gateway.alarming.alarms import (
    ACKNOWLEDGED,
    ACTIVE,
    CLEARED,
    COMM_FAIL,
    DRONE,
    DRONE_DROP,
    INTRUSION,
    JAMMING,
    MASK_EXPIRED,
    TAMPER,
    THROW_OVER,
    AlarmBook,
    OperatorError,
)
from gateway.alarming.fusion import Detection, DroneRule, LandingRule, Rules
from gateway.alarming.perimeter import INSIDE, OUTER_FENCE, Perimeter, PlacedNode, Zone

SPACING = 30.0
T0 = 1_800_000_000.0


def site() -> Perimeter:
    """1200 m of fence in 12 zones of 100 m; fence nodes every 30 m (ids 1-40 at 15, 45, ...
    m); ground sensors inside every 60 m (ids 101-120 at 30, 90, ... m)."""
    nodes = {i: PlacedNode(i, 15 + (i - 1) * SPACING, OUTER_FENCE) for i in range(1, 41)}
    nodes.update({100 + i: PlacedNode(100 + i, 30 + (i - 1) * 60.0, INSIDE) for i in range(1, 21)})
    zones = [Zone("Z%02d" % (k + 1), k * 100.0, (k + 1) * 100.0, priority=2 if k < 6 else 3) for k in range(12)]
    return Perimeter([(0.0, 0.0), (600.0, 0.0), (600.0, 600.0)], zones, nodes)


def engine() -> AlarmEngine:
    return AlarmEngine(site(), AlarmBook("hmp"))


_seq = [0]


def event(node: int, type_: str, at: float, **fields: int) -> Detection:
    _seq[0] += 1
    return Detection("hmp:%d:1:%d" % (node, _seq[0]), node, type_, dict(fields), at)


def fence(node: int, at: float, peak: int, cls: int = 1) -> Detection:
    return event(node, "fence", at, **{"class": cls, "peak": peak, "noise_floor": 50, "pulses": 3})


def feed(e: AlarmEngine, detections: list[Detection], settle_s: float = 3.0) -> list:
    changes = []
    for d in detections:
        changes += e.on_event(d)
    changes += e.tick(max(d.at for d in detections) + settle_s)
    return changes


def raised(changes: list, category: str | None = None) -> list:
    return [c.alarm for c in changes if c.action == "raised" and (category is None or c.alarm.category == category)]


def gust(at: float, nodes: range = range(10, 20)) -> list[Detection]:
    # Wind makes ten neighbouring sensors misfire within half a second, at similar levels.
    return [fence(n, at + 0.05 * k, 380 + 17 * (k % 4), cls=1 if k % 3 == 0 else 3) for k, n in enumerate(nodes)]


def test_a_wind_gust_on_ten_nodes_raises_no_intrusion():
    e = engine()
    assert raised(feed(e, gust(T0))) == []
    assert e.environmental == 1


def test_a_climb_during_the_same_gust_on_one_node_does():
    e = engine()
    climb = fence(14, T0 + 0.2, 3200)
    alarms = raised(feed(e, gust(T0) + [climb]), INTRUSION)
    assert len(alarms) == 1 and alarms[0].detail["kind"] == "climb" and alarms[0].detail["node_id"] == 14
    assert alarms[0].zone == "Z05"  # node 14 is at 405 m
    assert climb.event_id in alarms[0].evidence


def level_at(distance_m: float) -> int:
    """How strongly a sensor feels a climber at this distance along the fence."""
    return int(3000 / (1 + (distance_m / 10) ** 2))


@pytest.mark.parametrize("offset", [0.0, 4.0, 9.0, 15.0, 21.0, 27.0, 30.0])
def test_a_climb_between_two_nodes_is_located_within_half_the_spacing(offset: float) -> None:
    e = engine()
    truth = 15 + 11 * SPACING + offset  # between node 12 (345 m) and node 13 (375 m)
    detections = []
    for node in range(1, 41):
        level = level_at(abs(truth - (15 + (node - 1) * SPACING)))
        if level > 100:  # quieter sensors report nothing
            detections.append(fence(node, T0 + 0.1, level, cls=1))
    alarms = raised(feed(e, detections), INTRUSION)
    assert len(alarms) == 1
    assert abs(alarms[0].location_m - truth) <= SPACING / 2, (truth, alarms[0].location_m)


def test_a_far_node_hearing_the_same_climber_a_moment_later_does_not_move_the_alarm() -> None:
    # In calm a node 30 m off hears a climber's holds too, and may decide a second later;
    # the climber is where they were heard loudest (node 12, 345 m), not at the echo.
    e = engine()
    changes = feed(e, [fence(12, T0, level_at(0)), fence(11, T0, level_at(30))])
    changes += feed(e, [fence(13, T0 + 1.5, level_at(30))])
    alarms = {c.alarm.alarm_id: c.alarm for c in changes}
    assert len(alarms) == 1, alarms
    assert abs(list(alarms.values())[0].location_m - 345) <= 5, alarms


FAINT = 4


def test_a_climb_midway_that_two_neighbours_hear_only_faintly_is_one_climb_between_them() -> None:
    # Nodes 12 (345 m) and 13 (375 m); the climber at 362 m. Each node reports it faint, a
    # few seconds apart (each reaches its own count in its own time).
    e = engine()
    first = fence(12, T0, level_at(17), cls=FAINT)
    second = fence(13, T0 + 3.0, level_at(13), cls=FAINT)
    assert raised(feed(e, [first])) == []  # alone it is not an alarm
    alarms = raised(feed(e, [second]), INTRUSION)
    assert len(alarms) == 1 and alarms[0].detail["kind"] == "climb"
    assert alarms[0].evidence[:2] == [first.event_id, second.event_id]
    assert abs(alarms[0].location_m - 362) <= 10, alarms[0].location_m


def test_faint_reports_that_are_not_neighbours_or_not_within_the_window_raise_nothing() -> None:
    e = engine()
    assert raised(feed(e, [fence(12, T0, 400, cls=FAINT), fence(14, T0 + 2, 400, cls=FAINT)])) == []
    assert raised(feed(e, [fence(20, T0 + 100, 400, cls=FAINT), fence(21, T0 + 112, 400, cls=FAINT)])) == []


def test_faint_reports_all_along_a_stretch_are_the_wind_not_a_climber() -> None:
    e = engine()
    wind = [fence(n, T0 + 0.7 * k, 380 + 20 * (k % 3), cls=FAINT) for k, n in enumerate(range(10, 18))]
    assert raised(feed(e, wind)) == []


def rain(start: float, minutes: int, skip: tuple[int, ...] = ()) -> list[Detection]:
    """Rain on the fence as the firmware reports it (a run of 12-25 mm/h on 16 nodes): a faint
    report from some node every 7 s or so, peaks 340-580, scattered along the fence."""
    reports = []
    for k in range(int(minutes * 60 / 7)):
        node = 1 + (k * 7) % 16
        if node not in skip:
            reports.append(fence(node, start + 7.0 * k, 340 + (k * 53) % 240, cls=FAINT))
    return reports


def test_neighbours_faint_by_chance_in_rain_are_the_rain_not_a_climber() -> None:
    # In rain two neighbours do report faint within seconds, the others quiet in that window:
    # before, that was a climb (5 in 8 minutes on 400 m of fence).
    e = engine()
    reports = rain(T0, 3)
    chance = [fence(8, T0 + 181.0, 560, cls=FAINT), fence(9, T0 + 184.0, 520, cls=FAINT)]
    assert raised(feed(e, reports + chance)) == []


def test_a_climb_in_rain_stands_above_the_rains_faint_reports() -> None:
    e = engine()
    climb = [fence(8, T0 + 181.0, 1250, cls=FAINT), fence(9, T0 + 184.0, 1180, cls=FAINT)]
    alarms = raised(feed(e, rain(T0, 3, skip=(8, 9)) + climb), INTRUSION)
    assert len(alarms) == 1 and alarms[0].detail["faint_pair"] == [8, 9]


def test_a_nodes_climb_is_a_climb_though_its_faint_report_from_just_before_arrives_after_it() -> None:
    # In heavy rain a node reports faint, then climb 0.3 s later, both at the rain's level;
    # on LoRa the faint report's retry arrives last. The node said climb: that is the alarm.
    e = engine()
    late = [fence(9, T0 + 181.2, 588, cls=1), fence(8, T0 + 181.2, 470, cls=1), fence(9, T0 + 180.9, 588, cls=FAINT)]
    alarms = raised(feed(e, rain(T0, 3, skip=(8, 9)) + late), INTRUSION)
    assert len(alarms) == 1 and alarms[0].detail["kind"] == "climb" and alarms[0].detail["node_id"] == 9


def test_a_faint_pair_can_be_switched_off() -> None:
    from gateway.alarming.fusion import FaintPairRule

    e = AlarmEngine(site(), AlarmBook("hmp"), Rules(faint_pair=FaintPairRule(enabled=False)))
    assert raised(feed(e, [fence(12, T0, 400, cls=FAINT), fence(13, T0 + 1, 400, cls=FAINT)])) == []


def thud(node: int, at: float, landing: tuple[float, float], source_db: float = 80.0) -> Detection:
    """What a fence node reports of a package landing at (chainage, metres inside)."""
    chainage = 15 + (node - 1) * SPACING
    distance2 = (landing[0] - chainage) ** 2 + landing[1] ** 2 + 4.0  # microphone 2 m up
    level = round(source_db - 10 * math.log10(distance2))
    return event(node, "thud", at, level_db=level, floor_db=38, duration_ms=64)


@pytest.mark.parametrize("landing", [(362.0, 8.0), (345.0, 3.0), (356.0, 15.0), (371.0, 0.0)])
def test_a_landing_heard_by_neighbours_is_a_throw_over_placed_from_their_levels(
    landing: tuple[float, float],
) -> None:
    e = engine()
    # Reports arrive over a second or two, but each says when its node heard the thud.
    reports = [thud(13, T0 + 0.1, landing), thud(12, T0 + 0.25, landing), thud(14, T0 + 0.3, landing)]
    changes = feed(e, reports)
    alarms = raised(changes, THROW_OVER)
    assert len(alarms) == 1, changes
    assert abs(alarms[0].location_m - landing[0]) <= 5.0, (landing, alarms[0].location_m)
    assert set(alarms[0].evidence) == {r.event_id for r in reports}
    assert alarms[0].detail["heard_by"] == [12, 13, 14]


def test_where_the_site_trusts_one_node_a_loud_lone_thud_is_a_landing_near_it() -> None:
    # A light package 4 m from node 13 (375 m): 27 dB over the floor there, too faint 30 m
    # off for nodes 12 and 14. After 2.5 s with no neighbour's report, a landing at node 13.
    # Off by default (landing `lone`): it is nothing unless the site turns it on.
    assert raised(feed(engine(), [thud(13, T0, (371.0, 2.0))], settle_s=5.0)) == []
    e = AlarmEngine(site(), AlarmBook("hmp"), Rules(landing=LandingRule(lone=True)))
    report = thud(13, T0, (371.0, 2.0))
    assert raised(feed(e, [report], settle_s=2.0)) == []
    assert e.next_deadline() == T0 + 2.5
    alarms = raised(e.tick(T0 + 2.5), THROW_OVER)
    assert len(alarms) == 1 and alarms[0].location_m == 375.0 and alarms[0].evidence == [report.event_id]
    # How far in one microphone cannot tell: drawn where throws land, with the range it is heard at.
    assert alarms[0].detail["inside_m"] == Rules().landing.typical_m and alarms[0].detail["error_m"] > 5


def test_a_thud_that_one_node_alone_heard_is_no_alarm() -> None:
    e = engine()
    assert raised(feed(e, [thud(13, T0, (370.0, 25.0))])) == []  # 14 dB over the floor only
    # Nor (faint ones, under the 15 dB a lone thud needs) are two nodes far apart each
    # hearing a thud of its own at the same moment,
    assert raised(feed(e, [thud(3, T0 + 60, (80.0, 25.0)), thud(30, T0 + 60.2, (880.0, 25.0))])) == []
    # nor neighbours hearing thuds a second and a half apart (a dog's bark, then a door),
    assert raised(feed(e, [thud(20, T0 + 120, (590.0, 25.0)), thud(21, T0 + 121.5, (630.0, 25.0))])) == []
    # nor two nodes 60 m apart while the node between them heard nothing,
    assert raised(feed(e, [thud(12, T0 + 160, (350.0, 22.0)), thud(14, T0 + 160.1, (400.0, 22.0))])) == []
    # nor thuds among the noise of a busy yard (each node's floor over 50 dB),
    busy = [thud(8, T0 + 180, (240.0, 2.0)), thud(9, T0 + 180.1, (240.0, 2.0))]
    for report in busy:
        report.fields["floor_db"] = 55
    assert raised(feed(e, busy)) == []
    # nor levels only a 50 kg package could make (two loud sounds, one near each node).
    loud = [thud(25, T0 + 200, (735.0, 0.0), 90.0), thud(26, T0 + 200.1, (765.0, 0.0), 90.0)]
    assert raised(feed(e, loud)) == []


def ground_site() -> Perimeter:
    """`site()`'s fence nodes, and ground nodes (ids 201-260) every 20 m, 10 m inside."""
    perimeter = site()
    nodes = {n: p for n, p in perimeter.nodes.items() if p.side == OUTER_FENCE}
    nodes.update({200 + i: PlacedNode(200 + i, 10 + (i - 1) * 20.0, INSIDE, inside_m=10.0) for i in range(1, 61)})
    return Perimeter(perimeter.polyline, perimeter.zones, nodes)


def felt(node: int, at: float, landing: tuple[float, float], mass_kg: float = 1.0) -> Detection:
    """What a ground node 10 m inside reports of a package landing at (chainage, metres
    inside): the surface wave's peak (simulators/ground.py: 78 µm/s at 1 m for 1 kg, 57
    counts per µm/s), decided 1.5 s after the ground fell quiet."""
    chainage = 10 + (node - 201) * 20.0
    r = max(1.0, math.hypot(landing[0] - chainage, landing[1] - 10.0))
    peak = 4460 * math.sqrt(mass_kg) * math.exp(-math.pi * 40 * (r - 1) / 4000) / math.sqrt(r)
    return event(node, "impact", at + 1.55, peak=round(peak), noise_floor=18, duration_ms=50)


@pytest.mark.parametrize("landing", [(352.0, 6.0), (365.0, 14.0), (341.0, 2.0)])
def test_a_landing_is_placed_from_ground_and_air_together_with_its_error(landing: tuple[float, float]) -> None:
    e = AlarmEngine(ground_site(), AlarmBook("hmp"))
    reports = [thud(12, T0 + 0.85, landing), thud(13, T0 + 0.9, landing)]
    # Every ground node that feels it over its detector's 300 counts, the nearest first.
    ground = sorted((felt(n, T0, landing) for n in range(201, 261)), key=lambda d: -d.fields["peak"])
    reports += [d for d in ground if d.fields["peak"] >= 300]
    changes = feed(e, reports)
    alarms = raised(changes, THROW_OVER)
    assert len(alarms) == 1, changes  # one landing, however many reports
    final = [c.alarm for c in changes if c.alarm.alarm_id == alarms[0].alarm_id][-1]
    assert abs(final.location_m - landing[0]) <= 3.0, (landing, final.location_m, final.detail)
    assert abs(final.detail["inside_m"] - landing[1]) <= 3.0, final.detail  # the ground tells inside
    assert final.detail["error_m"] <= 10.0 and final.detail["channels"].count("ground") >= 3, final.detail
    assert set(final.evidence) == {r.event_id for r in reports}


def test_a_landing_felt_by_one_ground_node_alone_is_a_throw_over_at_it_with_a_wide_error() -> None:
    e = AlarmEngine(ground_site(), AlarmBook("hmp"))
    alarms = raised(feed(e, [felt(218, T0, (352.0, 12.0), mass_kg=0.5)]), THROW_OVER)
    assert len(alarms) == 1 and alarms[0].location_m == 350.0
    assert 2.0 <= alarms[0].detail["error_m"] <= 15.0, alarms[0].detail


def test_two_ground_nodes_far_apart_feeling_their_own_thuds_at_once_are_two_landings() -> None:
    # Each is loud at its own node: no single place explains both.
    e = AlarmEngine(ground_site(), AlarmBook("hmp"))
    alarms = raised(feed(e, [felt(205, T0, (90.0, 10.0)), felt(209, T0 + 0.1, (170.0, 10.0))]), THROW_OVER)
    assert sorted(a.location_m for a in alarms) == [90.0, 170.0]


def test_an_impact_inside_with_no_climb_is_a_throw_over():
    e = engine()
    alarms = raised(feed(e, [event(106, "impact", T0, peak=9000, noise_floor=30, duration_ms=50)]))
    assert [a.category for a in alarms] == [THROW_OVER]
    assert alarms[0].location_m == 330.0 and alarms[0].zone == "Z04"


def test_a_fence_posts_impact_alone_is_drawn_a_few_metres_inside_with_its_error():
    # A post's ground channel felt a package land near it: at the post along the line; how far
    # in it cannot tell, so the plan draws it where throws land, within the range it feels.
    e = engine()
    alarms = raised(feed(e, [event(11, "impact", T0, peak=9000, noise_floor=30, duration_ms=50)]))
    assert [a.category for a in alarms] == [THROW_OVER] and alarms[0].location_m == 315.0
    detail = alarms[0].detail
    assert 0 < detail["inside_m"] <= Rules().landing.typical_m and detail["error_m"] >= detail["inside_m"]


def test_fence_activity_then_an_impact_inside_is_a_throw_over_with_both_as_evidence():
    e = engine()
    rattle = fence(11, T0, 900, cls=3)  # the package clipped the fence on its way over
    impact = event(106, "impact", T0 + 4.0, peak=9000, noise_floor=30, duration_ms=50)
    alarms = raised(feed(e, [rattle, impact]))
    assert [a.category for a in alarms] == [THROW_OVER]
    assert alarms[0].evidence == [rattle.event_id, impact.event_id]
    assert alarms[0].detail["fence_activity_before"] is True


def test_a_climb_then_an_impact_nearby_is_the_climber_landing_not_a_throw_over():
    e = engine()
    changes = feed(e, [fence(11, T0, 3000)])
    changes += feed(e, [event(106, "impact", T0 + 5.0, peak=9000, noise_floor=30, duration_ms=50)])
    assert [a.category for a in raised(changes)] == [INTRUSION]
    assert len(raised(changes, INTRUSION)[0].evidence) == 2


def test_a_drone_then_an_impact_nearby_is_a_drone_drop():
    e = engine()
    changes = feed(e, [event(20, "acoustic", T0, **{"class": 1, "snr_db": 20, "fundamental_hz": 203})])
    changes += feed(e, [event(21, "acoustic", T0 + 2, **{"class": 1, "snr_db": 10, "fundamental_hz": 203})])
    drone = raised(changes, DRONE)
    assert len(drone) == 1 and 585 <= drone[0].location_m <= 615  # between nodes 20 and 21, nearer 20
    changes = feed(e, [event(110, "impact", T0 + 40, peak=7000, noise_floor=30, duration_ms=50)])
    drops = raised(changes, DRONE_DROP)
    assert len(drops) == 1 and drops[0].location_m == 570.0 and drops[0].severity == 1
    assert raised(changes, THROW_OVER) == []


def test_an_impact_far_from_the_drone_is_a_throw_over_not_a_drop():
    e = engine()
    feed(e, [event(20, "acoustic", T0, **{"class": 1, "snr_db": 20, "fundamental_hz": 203})])
    changes = feed(e, [event(101, "impact", T0 + 20, peak=7000, noise_floor=30, duration_ms=50)])
    assert len(raised(changes, THROW_OVER)) == 1 and raised(changes, DRONE_DROP) == []


def drone(node: int, at: float, cls: int = 1, f0: int = 203) -> Detection:
    return event(node, "acoustic", at, **{"class": cls, "snr_db": 20, "fundamental_hz": f0})


def test_a_drone_heard_by_two_neighbours_for_two_seconds_is_an_alarm_that_says_why():
    e = engine()
    assert raised(feed(e, [drone(20, T0)], settle_s=1.0)) == []  # heard 1 s, by one node
    changes = feed(e, [drone(21, T0 + 1.5, f0=208)], settle_s=0.5)
    alarm = raised(changes, DRONE)
    assert len(alarm) == 1, changes
    trust = alarm[0].detail["trust"]
    assert trust["heard_s"] == 2.0 and trust["nodes"] == [20, 21] and trust["corroborated"] is True
    assert trust["fundamental_consistent"] is True  # 203 and 208 Hz: within 15 %
    assert len(alarm[0].evidence) == 2  # both nodes' reports


def test_two_drones_300_m_apart_are_two_tracks_each_with_its_own_drop():
    # Nodes 10 and 20 stand 300 m apart (285 and 585 m): each hears a drone of its own.
    e = engine()
    changes = feed(e, [drone(10, T0), drone(20, T0 + 0.4), drone(10, T0 + 3), drone(20, T0 + 3.2)], settle_s=1.0)
    alarms = raised(changes, DRONE)
    assert sorted(round(a.location_m) for a in alarms) == [285, 585], alarms
    assert len(e.tracks) == 2
    # A drone flies on: a node farther along than a node hears joins its track a while later.
    changes = feed(e, [drone(12, T0 + 12)], settle_s=1.0)  # 345 m, 60 m on from node 10
    assert len(e.tracks) == 2 and 12 in e.tracks[0].heard_by


def test_a_drop_belongs_to_the_drone_over_the_place_now_not_one_that_left_a_minute_ago():
    e = engine()
    feed(e, [drone(20, T0), drone(21, T0 + 0.5), drone(20, T0 + 15, cls=2), drone(21, T0 + 15.5, cls=2)])
    changes = feed(e, [drone(20, T0 + 80), drone(21, T0 + 80.5)], settle_s=3.0)
    second = raised(changes, DRONE)
    assert len(second) == 1  # a drone again, a new track
    drops = raised(feed(e, [event(110, "impact", T0 + 90, peak=7000, noise_floor=30, duration_ms=50)]), DRONE_DROP)
    assert len(drops) == 1 and drops[0].detail["track"] == second[0].detail["track"], drops


def test_a_drop_felt_by_two_ground_nodes_is_one_alarm_even_across_a_zones_edge():
    e = AlarmEngine(ground_site(), AlarmBook("hmp"))
    feed(e, [drone(20, T0), drone(21, T0 + 0.5)], settle_s=3.0)  # over 585-615 m
    # The drop, 4 m short of the Z06/Z07 edge: the farther ground node's report first
    # (alone, it is placed at that node, 610 m, Z07), then the nearer's, which places it in Z06.
    reports = [felt(231, T0 + 8, (596.0, 10.0)), felt(230, T0 + 8.1, (596.0, 10.0))]
    changes = feed(e, reports)
    drops = raised(changes, DRONE_DROP)
    assert len(drops) == 1, changes
    final = [c.alarm for c in changes if c.alarm.alarm_id == drops[0].alarm_id][-1]
    assert abs(final.location_m - 596.0) <= 5.0 and final.zone == "Z06", final


def test_a_sound_that_stops_before_two_seconds_is_no_drone():
    e = engine()
    changes = feed(e, [drone(20, T0), drone(21, T0 + 0.3), drone(20, T0 + 1.0, cls=2), drone(21, T0 + 1.2, cls=2)])
    assert raised(changes) == []
    assert raised(e.tick(T0 + 60)) == []


def test_a_detection_that_arrives_after_its_own_clear_is_over_and_no_drone():
    # Its first transmission was lost on air; the clear got through, then the retry.
    e = engine()
    changes = feed(e, [drone(1, T0 + 0.5, cls=2), drone(1, T0)], settle_s=5.0)
    assert raised(changes) == [] and raised(e.tick(T0 + 60)) == []
    assert raised(feed(e, [drone(1, T0 + 70)], settle_s=2.0), DRONE)  # a later one counts again


def test_an_aircraft_overhead_heard_by_every_node_for_a_minute_is_never_a_drone():
    e = engine()
    reports = [drone(n, T0 + t, cls=3, f0=90) for t in range(0, 60, 5) for n in (19, 20, 21)]
    changes = feed(e, reports + [drone(n, T0 + 61, cls=4) for n in (19, 20, 21)], settle_s=15.0)
    assert raised(changes) == [] and e.tracks == []


def test_an_aircraft_gone_does_not_end_a_drone_heard_meanwhile():
    e = engine()
    assert raised(feed(e, [drone(20, T0), drone(20, T0 + 0.5, cls=4)], settle_s=2.5), DRONE)


def test_one_node_heard_for_two_seconds_is_enough_unless_the_site_asks_for_two_nodes():
    e = engine()
    alarm = raised(feed(e, [drone(20, T0)], settle_s=2.0), DRONE)
    assert len(alarm) == 1 and alarm[0].detail["trust"]["corroborated"] is False


def test_with_two_nodes_required_one_node_alone_raises_a_drone_only_after_ten_seconds():
    e = AlarmEngine(site(), AlarmBook("hmp"), Rules(drone=DroneRule(require_two_nodes=True)))
    assert raised(feed(e, [drone(20, T0)], settle_s=9.0)) == []
    assert e.next_deadline() == T0 + 10  # the daemon wakes when the track can be confirmed
    alarm = raised(e.tick(T0 + 10), DRONE)
    assert len(alarm) == 1 and alarm[0].detail["trust"]["corroborated"] is False
    assert alarm[0].detail["trust"]["neighbours_in_range"] == 6  # 18, 19, 21, 22 and 110, 111 inside
    assert e.next_deadline() is None  # nothing more to wait for


def test_sounds_that_fool_far_apart_nodes_in_turn_are_not_one_drone_heard_for_long():
    # Nodes 20, 26 (180 m off, within a track's reach) and 17 are each fooled for 1.5 s, in
    # turn, for 12 s: the track lives all that time, but no node heard anything for the 2 s
    # a drone must be heard without a break.
    e = engine()
    sounds = []
    for k in range(10):
        node, start = (20, 26, 17)[k % 3], 1.2 * k
        sounds += [drone(node, T0 + start), drone(node, T0 + start + 1.5, cls=2)]
    sounds.sort(key=lambda d: d.at)
    assert raised(feed(e, sounds, settle_s=3.0), DRONE) == []


def test_a_node_with_no_neighbour_in_range_needs_only_the_two_seconds():
    e = AlarmEngine(site(), AlarmBook("hmp"), Rules(drone=DroneRule(require_two_nodes=True, corroborate_m=10.0)))
    assert len(raised(feed(e, [drone(20, T0)], settle_s=2.0), DRONE)) == 1


def test_inconsistent_fundamentals_block_the_alarm_only_when_the_site_requires_consistency():
    relaxed = engine()
    assert len(raised(feed(relaxed, [drone(20, T0, f0=120), drone(21, T0 + 0.5, f0=340)]), DRONE)) == 1
    alarm = raised(feed(relaxed, [drone(22, T0 + 4, f0=200)]))
    strict = AlarmEngine(site(), AlarmBook("hmp"), Rules(drone=DroneRule(require_consistent_f0=True)))
    assert raised(feed(strict, [drone(20, T0, f0=120), drone(21, T0 + 0.5, f0=340)], settle_s=30.0)) == []
    assert alarm == []  # the relaxed track's alarm stands: later reports add evidence, not alarms


def test_jamming_is_thirty_seconds_of_interference_within_sixty():
    e = engine()
    assert e.on_interference("lora-east", T0, T0 + 10) == []
    assert e.on_interference("lora-east", T0 + 20, T0 + 35) == []  # 25 s so far
    changes = e.on_interference("lora-east", T0 + 40, T0 + 46)  # 31 s within the last 60
    assert [c.alarm.category for c in changes] == [JAMMING]


def test_tamper_and_comm_fail_are_alarmed_at_their_node():
    e = engine()
    tamper = raised(e.on_event(event(3, "tamper", T0, kind=1, state=1)))
    assert [a.category for a in tamper] == [TAMPER] and tamper[0].location_m == 75.0
    fail = raised(e.on_comm_fail(7, "hmp:7:supervision:1", T0))
    assert [a.category for a in fail] == [COMM_FAIL] and fail[0].zone == "Z02"


def test_acknowledging_needs_a_note_and_clearing_needs_an_acknowledgement():
    e = engine()
    alarm = raised(feed(e, [fence(5, T0, 3000)]))[0]
    with pytest.raises(OperatorError):
        e.book.acknowledge(alarm.alarm_id, "officer.jones", "  ", T0 + 5)
    with pytest.raises(OperatorError):
        e.book.clear(alarm.alarm_id, "officer.jones", "false alarm", T0 + 5, "nuisance_unknown")
    assert (
        e.book.acknowledge(alarm.alarm_id, "officer.jones", "camera 4 shows a man", T0 + 5).alarm.state == ACKNOWLEDGED
    )
    cleared = e.book.clear(alarm.alarm_id, "officer.jones", "detained", T0 + 60, "intrusion").alarm
    assert cleared.state == CLEARED and cleared.cleared_by == "officer.jones"


def test_a_new_climb_in_an_acknowledged_alarms_zone_escalates_it():
    e = engine()
    alarm = raised(feed(e, [fence(5, T0, 3000)]))[0]
    severity = alarm.severity
    e.book.acknowledge(alarm.alarm_id, "officer.jones", "on camera", T0 + 5)
    changes = feed(e, [fence(5, T0 + 30, 2800)])
    assert [c.action for c in changes] == ["escalated"]
    assert alarm.state == ACTIVE and alarm.escalations == 1 and alarm.severity == max(1, severity - 1)


def test_a_masked_zone_raises_nothing_and_an_expired_mask_is_itself_alarmed():
    e = engine()
    with pytest.raises(OperatorError):
        e.book.mask("Z01", "officer.smith", "", T0 + 600, T0)
    e.book.mask("Z01", "officer.smith", "fence repair, works order 5521", T0 + 600, T0)
    assert raised(feed(e, [fence(2, T0 + 10, 3000)])) == []
    expired = raised(e.tick(T0 + 601), MASK_EXPIRED)
    assert len(expired) == 1 and expired[0].zone == "Z01"
    assert expired[0].detail["masked_by"] == "officer.smith"
    assert raised(feed(e, [fence(2, T0 + 700, 3000)]), INTRUSION) != []


def test_a_drone_track_keeps_one_alarm_as_it_flies_from_zone_to_zone():
    e = engine()
    changes = []
    for k, node in enumerate((20, 21, 22, 23, 24, 25)):  # 585 m to 735 m, heard node by node
        changes += feed(e, [event(node, "acoustic", T0 + 5 * k, **{"class": 1, "snr_db": 20, "fundamental_hz": 203})])
    drones = {c.alarm.alarm_id for c in changes if c.alarm.category == DRONE}
    assert len(drones) == 1 and len(raised(changes, DRONE)) == 1
    assert changes[-1].alarm.zone == "Z07" and changes[-1].alarm.location_m > 650


def test_a_climb_heard_again_across_a_zone_boundary_stays_one_alarm():
    e = engine()
    first = raised(feed(e, [fence(7, T0, 3000)]))  # node 7 at 195 m, zone Z02
    changes = feed(e, [fence(8, T0 + 5, 3000)])  # node 8 at 225 m, zone Z03, 5 s later
    assert len(first) == 1 and raised(changes) == [] and [c.action for c in changes] == ["updated"]
    assert len(first[0].evidence) == 2


def test_a_cut_heard_later_by_one_farther_node_alone_stays_one_alarm():
    e = engine()
    first = raised(feed(e, [fence(9, T0, 3000, cls=2), fence(10, T0, 3000, cls=2)]))  # 255 m and 285 m: at 270 m
    later = feed(e, [fence(7, T0 + 6, 900, cls=2)])  # node 7 at 195 m alone, 75 m off: within its hearing
    assert len(first) == 1 and raised(later) == [] and [c.action for c in later] == ["updated"]


def test_two_groups_of_nodes_far_apart_are_two_intrusions():
    e = engine()
    first = raised(feed(e, [fence(5, T0, 3000), fence(6, T0, 2800)]))  # 135 m and 165 m
    second = raised(feed(e, [fence(9, T0 + 6, 3000), fence(10, T0 + 6, 2800)]))  # 255 m and 285 m
    assert len(first) == 1 and len(second) == 1


def test_one_package_heard_by_two_neighbouring_sensors_is_one_throw_over():
    e = engine()
    first = raised(feed(e, [event(106, "impact", T0, peak=9000, noise_floor=30, duration_ms=50)]))  # 330 m, Z04
    later = feed(e, [event(105, "impact", T0 + 3, peak=4000, noise_floor=30, duration_ms=50)])  # 270 m, Z03
    assert len(first) == 1 and raised(later) == [] and [c.action for c in later] == ["updated"]
    assert len(first[0].evidence) == 2


def test_a_second_loud_climb_on_a_lone_node_nearby_is_a_second_intrusion():
    e = engine()
    first = raised(feed(e, [fence(2, T0, 3000)]))  # 45 m
    second = raised(feed(e, [fence(4, T0 + 1, 3000)]))  # 105 m, as loud: someone else
    assert len(first) == 1 and len(second) == 1


def test_a_rolled_back_book_is_as_it_was_at_its_last_commit():
    e = engine()
    alarm = raised(feed(e, [fence(5, T0, 3000)]))[0]
    e.book.mask("Z03", "officer.smith", "fence repair", T0 + 600, T0)
    e.book.commit()
    before = ({a: x.as_json() for a, x in e.book.alarms.items()}, dict(e.book.masks))
    # A transaction that acknowledges and clears the alarm, raises and updates others,
    # lifts one mask and sets another, and then fails to commit:
    e.book.acknowledge(alarm.alarm_id, "officer.jones", "on camera", T0 + 5)
    e.book.clear(alarm.alarm_id, "officer.jones", "nothing there", T0 + 6, "nuisance_unknown")
    feed(e, [fence(20, T0 + 7, 3000)])
    feed(e, [fence(20, T0 + 12, 2900)])
    e.book.unmask("Z03", "officer.smith")
    e.book.mask("Z09", "officer.smith", "works", T0 + 900, T0 + 8)
    e.book.rollback()
    assert ({a: x.as_json() for a, x in e.book.alarms.items()}, dict(e.book.masks)) == before
    assert e.book.find(INTRUSION, "Z02", "") is alarm and e.book.open_in_zone("Z06") == []
    # And it goes on from there: the alarm can still be acknowledged.
    assert e.book.acknowledge(alarm.alarm_id, "officer.jones", "on camera", T0 + 20).alarm.state == ACKNOWLEDGED
