"""A package landing heard by the microphone: one short low thud over the quiet is reported
once, about a second later (after the first 10 s, in which the floor is learnt), with its
level and the floor's in dB SPL; a series of knocks (footsteps, hammering), a sustained
sound and the quiet itself are not. Each frame runs the acoustic detector's measurement and
the thud detector with the heap locked on MicroPython. Runs on CPython and MicroPython."""

from device.detect.acoustic import FRAME_SAMPLES, AcousticDetector
from device.detect.kernels import zeros
from device.detect.thud import THUD, ThudDetector
from tests.device.heap import without_allocation
from tests.device.signals import AudioSignal

FRAME_S = FRAME_SAMPLES / 8000


def thuds(signal, seconds):
    """(time s, level dB, floor dB) of every THUD over `seconds` of the signal."""
    acoustic = AcousticDetector()
    detector = ThudDetector()
    buf = zeros("h", FRAME_SAMPLES)
    found = []

    for k in range(int(seconds / FRAME_S)):
        signal.fill(buf, FRAME_SAMPLES)
        without_allocation(acoustic.process, buf)
        if acoustic.low_q4 >= 0 and without_allocation(detector.process, acoustic.low_q4) == THUD:
            found.append((k * FRAME_S, detector.level_db, detector.floor_db))
    return found


def test_a_landing_is_one_thud_reported_within_a_second_and_a_half():
    found = thuds(AudioSignal(3).thud(12.0, 6000), 16)
    assert len(found) == 1, found
    assert 12.0 < found[0][0] <= 13.5, found
    assert found[0][1] >= found[0][2] + 10, found  # it stood 10 dB over the floor at least


def test_the_reported_level_follows_the_thud_so_neighbours_can_be_compared():
    # 12 dB apart in amplitude (x4): the reports differ by about as much.
    loud = thuds(AudioSignal(4).thud(12.0, 16000), 15)
    faint = thuds(AudioSignal(4).thud(12.0, 4000), 15)
    assert len(loud) == 1 and len(faint) == 1, (loud, faint)
    assert 9 <= loud[0][1] - faint[0][1] <= 15, (loud, faint)
    assert loud[0][2] == faint[0][2]  # the same floor


def test_a_faint_thud_under_the_rise_is_not_reported():
    assert thuds(AudioSignal(5).thud(12.0, 400), 15) == []


def test_a_series_of_knocks_is_not_a_landing():
    signal = AudioSignal(6)
    for k in range(8):
        signal.thud(12.0 + 0.6 * k, 6000)
    assert thuds(signal, 20) == []


def test_a_sustained_low_sound_is_not_a_landing():
    assert thuds(AudioSignal(7).tone(150, 8000, start_s=12.0, stop_s=16.0), 18) == []


def test_nothing_is_reported_while_the_floor_is_learnt_after_a_start():
    # A node started in a loud place: its floor is the first frame's until it has learnt it.
    assert thuds(AudioSignal(10).thud(3.0, 16000), 12) == []


def test_the_quiet_and_a_drone_raise_nothing():
    assert thuds(AudioSignal(8), 20) == []
    assert thuds(AudioSignal(9).drone(203, 1500, start_s=12.0), 18) == []
