"""The acoustic detector on synthesized audio: drone harmonic series at several fundamentals
and SNRs are detected with their fundamental measured; broadband noise, a single loud tone
and mains hum are not. Every frame is analysed with the heap locked on MicroPython. Runs on
CPython and MicroPython."""

from device.detect.acoustic import DRONE, DRONE_CLEARED, FRAME_SAMPLES, AcousticDetector
from device.detect.kernels import zeros
from tests.device.heap import without_allocation
from tests.device.signals import AudioSignal


def detections(signal, frames, detector=None):
    detector = detector or AcousticDetector()
    buf = zeros("h", FRAME_SAMPLES)
    found = []
    for frame in range(frames):
        signal.fill(buf, FRAME_SAMPLES)
        decided = without_allocation(detector.process, buf)
        if decided:
            found.append((frame, decided, detector.fundamental_hz, detector.harmonics, detector.snr_db))
    return found


# FIELD.md: Phantom 4 Pro ~185 Hz, Mavic Pro ~203 Hz, Spark 366 Hz; 90 Hz for a large,
# slow rotor. Noise is 300 rms; a harmonic of amplitude 300 is at -3 dB SNR.
FUNDAMENTALS = (90, 185, 203, 366)


def test_drones_are_detected_at_their_fundamental_at_high_and_low_snr():
    for f0 in FUNDAMENTALS:
        for amplitude in (3000, 300):
            found = detections(AudioSignal(f0).drone(f0, amplitude), 10)
            assert found and found[0][1] == DRONE, (f0, amplitude, found)
            assert found[0][0] <= 3, (f0, amplitude, found)  # raised after two positive frames
            assert abs(found[0][2] - f0) <= 8, (f0, amplitude, found)  # half a bin
            assert found[0][3] >= 3, (f0, amplitude, found)


def test_snr_is_reported_and_falls_with_the_drone_level():
    loud = detections(AudioSignal(1).drone(203, 3000), 5)[0][4]
    quiet = detections(AudioSignal(1).drone(203, 300), 5)[0][4]
    assert loud >= 25 and 12 <= quiet < loud, (loud, quiet)


def test_a_drone_below_the_noise_is_not_claimed():
    assert detections(AudioSignal(2).drone(203, 60), 30) == []


def test_broadband_noise_white_or_traffic_like_is_not_a_drone():
    assert detections(AudioSignal(1, noise_rms=300), 60) == []
    assert detections(AudioSignal(2, noise_rms=3000, lowpass=True), 60) == []


def test_a_single_loud_tone_like_a_generator_hum_is_not_a_drone():
    for freq in (100, 150, 240, 400):
        assert detections(AudioSignal(3).tone(freq, 8000), 20) == [], freq


def test_mains_hum_with_its_harmonics_is_not_a_drone():
    for mains in (50, 60):
        signal = AudioSignal(4)
        for h in range(1, 8):
            signal.tone(mains * h, 3000 // h)
        assert detections(signal, 20) == [], mains


def test_the_detection_clears_after_eight_silent_frames():
    detector = AcousticDetector()
    assert [d[1] for d in detections(AudioSignal(5).drone(185, 1000), 10, detector)] == [DRONE]
    found = detections(AudioSignal(6), 12, detector)
    assert [d[1] for d in found] == [DRONE_CLEARED] and found[0][0] == 7, found


def test_a_higher_snr_setting_ignores_a_faint_drone():
    assert detections(AudioSignal(7).drone(203, 300), 10, AcousticDetector(snr_db=12)) != []
    assert detections(AudioSignal(7).drone(203, 300), 10, AcousticDetector(snr_db=30)) == []
