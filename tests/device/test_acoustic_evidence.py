"""The physics-first acoustic detector (`acoustic_evidence`, issue 29) on synthesized audio:
a close multirotor of any blade-pass fundamental from 80 to 700 Hz, loud or at -3 dB SNR, is
reported within five seconds with its fundamental, and cleared when it goes; broadband
noise, white or traffic-like, a generator's steady tone and mains hum with its harmonics (one
motor's lines, which do not beat) build no evidence. Every frame is analysed with the heap
locked on MicroPython. Runs on CPython and MicroPython. (Real recordings, each drone model
held out: bench/acoustic_real.py --cross.)"""

from device.detect.acoustic_evidence import DRONE, DRONE_CLEARED, AcousticDetector
from tests.device.signals import AudioSignal
from tests.device.test_acoustic import detections as heard

FUNDAMENTALS = (80, 185, 366, 500, 700)  # a large slow rotor to a small drone's fast one


def detections(signal, frames, detector=None):
    """(frame, decision, fundamental) of each decision, every frame with the heap locked."""
    return [found[:3] for found in heard(signal, frames, detector or AcousticDetector())]


def test_a_multirotor_from_80_to_700_hz_is_reported_within_five_seconds_with_its_fundamental():
    for f0 in FUNDAMENTALS:
        for amplitude in (3000, 300):
            found = detections(AudioSignal(f0).multirotor(f0, amplitude), 78)
            assert found and found[0][1] == DRONE, (f0, amplitude, found)
            assert abs(found[0][2] - f0) <= max(16, f0 * 7 // 100), (f0, amplitude, found)


def test_the_report_clears_within_seconds_of_the_drone_going():
    detector = AcousticDetector()
    assert [d[1] for d in detections(AudioSignal(5).multirotor(185, 1000, stop_s=4), 63, detector)] == [DRONE]
    cleared = detections(AudioSignal(6), 63, detector)
    assert [d[1] for d in cleared] == [DRONE_CLEARED] and cleared[0][0] <= 47, cleared


def test_broadband_noise_white_or_traffic_like_builds_no_evidence():
    assert detections(AudioSignal(1, noise_rms=300), 94) == []
    assert detections(AudioSignal(2, noise_rms=3000, lowpass=True), 94) == []


def test_one_motor_a_steady_tone_or_mains_hum_with_its_harmonics_is_not_a_drone():
    assert detections(AudioSignal(3).tone(350, 8000), 94) == []
    hum = AudioSignal(4)
    for h in range(1, 9):
        hum.tone(100 * h, 3000 // h)
    assert detections(hum, 94) == []
