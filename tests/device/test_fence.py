"""The fence detector on synthesized accelerometer signals: climbs and cuts are detected and
told apart, a lone knock is only a rattle, and wind and rain raise no alarm. Every block is
analysed with the heap locked on MicroPython. Runs on CPython and MicroPython."""

from device.detect.fence import BLOCK_SAMPLES, CLIMB, CUT, FAINT, RATTLE, FenceDetector
from device.detect.kernels import zeros
from tests.device.heap import without_allocation
from tests.device.signals import FenceSignal


def events(signal, seconds, detector=None):
    """(time s, class, peak, pulses) for every decision over `seconds` of the signal."""
    detector = detector or FenceDetector()
    buf = zeros("h", 3 * BLOCK_SAMPLES)
    found = []
    for block in range(seconds * 20):
        signal.fill(buf, BLOCK_SAMPLES)
        decided = without_allocation(detector.process, buf)
        if decided:
            found.append((block / 20, decided, detector.peak, detector.pulses))
    return found


def classes(found):
    return [event[1] for event in found]


def alarms(found):
    """The decisions that raise an alarm on their own (a faint report needs a neighbour's)."""
    return [event for event in found if event[1] != FAINT]


def test_a_climb_is_detected_within_three_seconds_and_only_as_a_climb():
    found = events(FenceSignal(6).climb(10.0), 30)
    assert classes(alarms(found)) == [CLIMB], found
    assert 10.0 < alarms(found)[0][0] <= 13.0, found
    assert classes(found) == [CLIMB], found  # no faint report ahead of a climb heard at full strength


def test_a_climb_during_strong_gusty_wind_is_still_detected():
    found = events(FenceSignal(9, wind_mps=10).climb(20.0), 40)
    assert classes(alarms(found)) == [CLIMB], found
    assert 20.0 < alarms(found)[0][0] <= 25.0, found


def test_one_climb_in_moderate_wind_is_one_alarm_not_one_per_gust_after_it():
    found = events(FenceSignal(11, wind_mps=6).climb(120.0), 150)
    assert classes(alarms(found)) == [CLIMB], found


def test_a_climb_felt_at_a_third_of_its_strength_is_a_climb_even_in_gusts():
    # Midway between nodes 30 m apart each feels about a third of the climber (the mesh
    # damps it over ~10 m). Its level hardly rises above a gusty wind's, but each hold is a
    # spike in the whitened signal, and wind makes none.
    for seed, wind in ((62, 10), (64, 10), (63, 14)):
        found = [e for e in events(FenceSignal(seed, wind_mps=wind).climb(20.0, strength=250), 40) if e[0] > 20.0]
        assert CLIMB in classes(found), (wind, found)
        assert classes(found).count(CLIMB) == 1 and 20.0 < alarms(found)[0][0] <= 23.0, (wind, found)


def test_a_climb_too_faint_to_call_is_reported_faint_never_as_a_climb():
    # Further away, or in a gale, a node may not call it a climb alone: it reports it faint
    # for the gateway to weigh with its neighbour's (a lone faint report is not an alarm).
    for seed, wind, strength in ((62, 10, 70), (63, 14, 70), (66, 20, 250)):
        found = [e for e in events(FenceSignal(seed, wind_mps=wind).climb(20.0, strength=strength), 40) if e[0] > 20.0]
        assert classes(found)[:1] == [FAINT] and CLIMB not in classes(found), (wind, found)
        assert found[0][0] <= 31.0, found
    assert CLIMB in classes(events(FenceSignal(61).climb(20.0, strength=70), 40))  # in calm it is a climb


def test_a_series_of_wire_cuts_is_a_cut_not_a_climb():
    found = events(FenceSignal(7).cut(10.0, snaps=5), 40)
    assert CUT in classes(found) and CLIMB not in classes(found), found


def test_a_cut_in_rain_is_still_a_cut():
    found = events(FenceSignal(9, rain_mmph=8).cut(20.0), 50)
    assert CUT in classes(found) and CLIMB not in classes(found), found


def test_a_single_knock_is_reported_as_a_rattle_only():
    found = events(FenceSignal(8).knock(10.0), 20)
    assert classes(found) == [RATTLE], found
    assert found[0][3] == 1, found  # one pulse


def test_steady_wind_at_several_strengths_raises_nothing_and_few_faint_reports():
    # Gusts make a node faint-active too; the gateway sees the whole fence doing it (common
    # mode). The node only keeps such reports sparse: one per gust at most (a gust comes
    # every 7 s), never one per block.
    for seed, speed in ((2, 4), (3, 10), (4, 14), (5, 20)):
        found = events(FenceSignal(seed, wind_mps=speed), 60)
        assert alarms(found) == [], (speed, found)
        assert len(found) <= 6, (speed, found)


def test_rain_light_and_heavy_raises_nothing():
    for seed, rate in ((5, 2), (6, 8), (7, 30)):
        found = events(FenceSignal(seed, rain_mmph=rate), 60)
        assert found == [], (rate, found)


def test_a_climb_in_heavy_rain_is_still_a_climb_at_the_node_and_midway():
    # 25-35 mm/h keeps the panel ringing as loud as a climber a few metres off; the holds
    # still stand out of the whitened signal, and the rain alone makes none.
    for seed, wind, rain in ((70, 3, 25), (71, 12, 25), (72, 6, 35)):
        for strength in (800, 250):
            signal = FenceSignal(seed, wind_mps=wind, rain_mmph=rain).climb(20.0, strength=strength)
            found = [e for e in events(signal, 40) if e[0] > 20.0]
            assert classes(alarms(found)) == [CLIMB] and found[-1][0] <= 23.0, (rain, wind, strength, found)
        assert alarms(events(FenceSignal(seed, wind_mps=wind, rain_mmph=rain), 60)) == [], (rain, wind)


def test_the_noise_floor_follows_the_wind_up_and_back_down():
    detector = FenceDetector()
    events(FenceSignal(1), 10, detector)
    calm = detector.noise_floor
    events(FenceSignal(2, wind_mps=14), 30, detector)
    windy = detector.noise_floor
    events(FenceSignal(3), 10, detector)
    assert windy > 4 * calm and detector.noise_floor < 2 * calm, (calm, windy, detector.noise_floor)


def test_a_higher_threshold_ignores_a_climb_a_lower_one_detects():
    assert events(FenceSignal(6).climb(10.0, strength=300), 30, FenceDetector(fence_threshold=48)) != []
    assert events(FenceSignal(6).climb(10.0, strength=300), 30, FenceDetector(fence_threshold=4000)) == []
