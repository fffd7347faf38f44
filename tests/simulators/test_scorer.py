"""The scorer matches alarms to ground truth by category, time and place, and counts what
is left over as nuisance per zone per day."""

from simulators.scenario import parse
from simulators.scorer import ObservedAlarm, score

SCENARIO = """
[scenario]
name = "mixed"
duration_s = 3600
[perimeter]
length_m = 1000
node_spacing_m = 25
[[event]]
t = 100
kind = "climb"
position_m = 210
[[event]]
t = 500
kind = "climb"
position_m = 700
[[event]]
t = 900
kind = "cut"
position_m = 400
[[event]]
t = 1200
kind = "drone"
path = [[1200, 100], [1300, 300]]
drop_t = 1250
[[event]]
t = 1500
kind = "silence"
node = 3
[[event]]
t = 2000
kind = "knock"
position_m = 50
"""


def test_alarms_are_matched_by_category_time_and_place() -> None:
    s = parse(SCENARIO)
    alarms = [
        ObservedAlarm("a1", "intrusion", 101.2, 215.0, "Z03"),
        ObservedAlarm("a2", "intrusion", 502.0, 400.0, "Z05"),  # right time, 300 m off: not a match
        ObservedAlarm("a3", "intrusion", 903.0, 396.0, "Z05"),
        ObservedAlarm("a4", "drone", 1210.0, 130.0, "Z02"),  # the drone is at 120 m then
        ObservedAlarm("a5", "comm_fail", 1590.0, 62.5, "Z01"),
        ObservedAlarm("a6", "intrusion", 2001.0, 50.0, "Z01"),  # the knock alarmed: a nuisance
        ObservedAlarm("a7", "mask_expired", 3000.0, None, "Z01"),  # an operator matter, not nuisance
    ]
    report = score(s, alarms, zone_length_m=100.0)
    climb = report["per_kind"]["climb"]
    assert (climb["trials"], climb["detected"], climb["probability_of_detection"]) == (2, 1, 0.5)
    assert climb["latency_s"] == {"mean": 1.2, "p95": 1.2, "max": 1.2} and climb["location_error_m"]["max"] == 5.0
    assert report["per_kind"]["cut"]["detected"] == 1
    assert report["per_kind"]["drone"]["location_error_m"]["mean"] == 10.0
    assert report["per_kind"]["silence"]["latency_s"]["max"] == 90.0
    assert "knock" not in report["per_kind"]
    nuisance = report["nuisance"]
    assert nuisance["alarms"] == 2 and nuisance["by_zone"] == {"Z05": 1, "Z01": 1}
    assert nuisance["per_zone_per_day"] == round(2 / 10 / (3600 / 86400), 3)


def test_an_alarm_counts_for_one_trial_only_and_late_ones_do_not_count() -> None:
    s = parse(SCENARIO)
    report = score(s, [ObservedAlarm("a", "intrusion", 100.5, 210.0), ObservedAlarm("b", "intrusion", 630.0, 700.0)])
    assert report["per_kind"]["climb"]["detected"] == 1  # b came 130 s after the second climb
    assert report["nuisance"]["alarms"] == 1


def test_an_alarm_more_than_30_s_after_the_attack_is_a_miss_and_a_nuisance() -> None:
    s = parse(SCENARIO)
    report = score(s, [ObservedAlarm("late", "intrusion", 131.0, 210.0, "Z03", kind="climb")])
    assert report["per_kind"]["climb"]["detected"] == 0
    assert report["nuisance"]["alarms"] == 1 and report["nuisance"]["by_zone"] == {"Z03": 1}
    on_time = score(s, [ObservedAlarm("ok", "intrusion", 129.0, 210.0, "Z03", kind="climb")])
    assert on_time["per_kind"]["climb"]["detected"] == 1 and on_time["nuisance"]["alarms"] == 0


def test_an_attack_under_a_jammer_has_until_30_s_after_the_jammer_stops() -> None:
    s = parse(SCENARIO + '[[event]]\nt = 80\nkind = "jam"\nduration_s = 60\n')
    # The climb at 100 s falls in the jam (80-140 s): its frames get through at 140 s.
    report = score(s, [ObservedAlarm("j", "intrusion", 165.0, 210.0, "Z03", kind="climb")])
    assert report["per_kind"]["climb"]["detected"] == 1
    assert score(s, [ObservedAlarm("k", "intrusion", 175.0, 210.0, "Z03")])["per_kind"]["climb"]["detected"] == 0


def test_an_alarm_of_the_wrong_kind_is_a_miss_and_a_nuisance() -> None:
    s = parse(SCENARIO)
    # The cut at 400 m at 900 s, alarmed as a climb; then the climb at 210 m alarmed as a cut.
    wrong = [
        ObservedAlarm("w1", "intrusion", 902.0, 400.0, "Z05", kind="climb"),
        ObservedAlarm("w2", "intrusion", 101.0, 210.0, "Z03", kind="cut"),
    ]
    report = score(s, wrong)
    assert report["per_kind"]["cut"]["detected"] == 0 and report["per_kind"]["climb"]["detected"] == 0
    assert report["nuisance"]["alarms"] == 2
    right = score(s, [ObservedAlarm("r", "intrusion", 902.0, 400.0, "Z05", kind="cut")])
    assert right["per_kind"]["cut"]["detected"] == 1


def test_a_trial_ends_when_the_next_attack_of_its_kind_at_the_same_place_begins() -> None:
    s = parse(
        """
[scenario]
name = "again"
duration_s = 300
[perimeter]
length_m = 600
node_spacing_m = 30
[[event]]
t = 10.0
kind = "climb"
position_m = 100.0
[[event]]
t = 50.0
kind = "climb"
position_m = 105.0
"""
    )
    report = score(s, [ObservedAlarm("late", "intrusion", 55.0, 104.0)])
    climb = report["per_kind"]["climb"]
    assert climb["detected"] == 1 and climb["latency_s"]["max"] == 5.0  # the second climb's, not the first's


def test_latency_after_airtime_counts_from_the_first_frame_sent_after_the_event() -> None:
    s = parse(
        """
[scenario]
name = "drop"
duration_s = 300
[perimeter]
length_m = 600
node_spacing_m = 30
[[event]]
t = 10.0
kind = "drone"
path = [[10, 100], [60, 110]]
drop_t = 50.0
"""
    )
    track = ObservedAlarm("t", "drone", 12.0, 100.0, evidence_ends=(11.5, 30.0))
    drop = ObservedAlarm("d", "drone_drop", 50.9, 110.0, evidence_ends=(11.5, 30.0, 50.3))  # the track's, then the thud
    report = score(s, [track, drop])
    assert report["per_kind"]["drone"]["latency_after_airtime_s"]["mean"] == 0.5
    assert report["per_kind"]["drone_drop"]["latency_after_airtime_s"]["mean"] == 0.6


def test_an_alarm_is_scored_where_it_was_raised_and_where_it_stood_once_the_reports_were_in() -> None:
    # A climb raised at the first node's report, 12 m off, moved 2 s later by the second
    # node's report to 3 m off: both are reported, the first place and the settled one.
    s = parse(SCENARIO)
    report = score(s, [ObservedAlarm("a1", "intrusion", 101.0, 222.0, "Z03", settled_m=213.0)], zone_length_m=100.0)
    climb = report["per_kind"]["climb"]
    assert climb["location_error_m"]["mean"] == 12.0 and climb["settled_error_m"]["mean"] == 3.0
