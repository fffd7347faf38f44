"""The acoustic detector on synthesized audio: drone harmonic series at several fundamentals
and SNRs are detected within a second, with their fundamental measured; broadband noise, a
single loud tone and mains hum are not. A dead, stuck, clipping or suddenly silent
microphone is a fault, never a drone. Every frame is analysed with the heap locked on
MicroPython. Runs on CPython and MicroPython. (The real recordings: bench/acoustic_real.py.)"""

from device.detect.acoustic import (
    DRONE,
    DRONE_CLEARED,
    FRAME_SAMPLES,
    MIC_CLIPPING,
    MIC_FLOOR_LOST,
    MIC_OK,
    MIC_STILL,
    AcousticDetector,
)
from device.detect.kernels import zeros
from tests.device.heap import without_allocation
from tests.device.signals import AudioSignal, ConstantSignal


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
            found = detections(AudioSignal(f0).drone(f0, amplitude), 16)
            assert found and found[0][1] == DRONE, (f0, amplitude, found)
            assert found[0][0] <= 15, (f0, amplitude, found)  # within a second of being heard
            assert abs(found[0][2] - f0) <= 8, (f0, amplitude, found)  # half a bin
            assert found[0][3] >= 3, (f0, amplitude, found)


def test_snr_is_reported_and_falls_with_the_drone_level():
    loud = detections(AudioSignal(1).drone(203, 3000), 16)[0][4]
    quiet = detections(AudioSignal(1).drone(203, 300), 16)[0][4]
    assert loud >= 20 and 12 <= quiet < loud, (loud, quiet)  # the rotor wash is noise too


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


def test_the_detection_clears_within_a_second_of_the_drone_going_and_not_before_eight_frames():
    detector = AcousticDetector()
    assert [d[1] for d in detections(AudioSignal(5).drone(185, 1000), 16, detector)] == [DRONE]
    found = detections(AudioSignal(6), 24, detector)
    # Eight negative frames clear it; the window still remembers the drone for a few frames.
    assert [d[1] for d in found] == [DRONE_CLEARED] and 7 <= found[0][0] <= 15, found


def test_a_higher_snr_setting_ignores_a_faint_drone():
    assert detections(AudioSignal(7).drone(203, 300), 16, AcousticDetector(snr_db=12)) != []
    assert detections(AudioSignal(7).drone(203, 300), 16, AcousticDetector(snr_db=30)) == []


# -- the microphone's health ----------------------------------------------------------------


class Clipping(AudioSignal):
    """A loud drone driven into the rails: most samples at +-32767."""

    def fill(self, buf, count):
        AudioSignal.fill(self, buf, count)
        for i in range(count):
            buf[i] = 32767 if buf[i] > 0 else -32767


def faults(signal, frames, detector):
    """(frame, fault) at each change of the detector's fault, and every detection."""
    buf = zeros("h", FRAME_SAMPLES)
    seen = []
    fault = detector.fault
    for frame in range(frames):
        signal.fill(buf, FRAME_SAMPLES)
        decided = without_allocation(detector.process, buf)
        if decided:
            seen.append((frame, "drone" if decided == DRONE else "cleared"))
        if detector.fault != fault:
            fault = detector.fault
            seen.append((frame, fault))
    return seen


def test_a_dead_microphone_is_a_fault_after_a_second_and_never_a_drone():
    detector = AcousticDetector()
    assert faults(ConstantSignal(0), 40, detector) == [(15, MIC_STILL)]
    assert faults(AudioSignal(8), 40, detector) == [(15, MIC_OK)]  # a second of sound clears it


def test_a_microphone_stuck_at_one_level_is_the_same_fault():
    detector = AcousticDetector()
    assert faults(ConstantSignal(-1234), 40, detector) == [(15, MIC_STILL)]


def test_a_clipping_microphone_is_a_fault_not_a_drone():
    detector = AcousticDetector()
    assert faults(Clipping(9).drone(203, 20000), 40, detector) == [(15, MIC_CLIPPING)]
    assert faults(AudioSignal(10), 40, detector) == [(15, MIC_OK)]


def test_a_sudden_loss_of_the_noise_floor_is_a_fault_a_quiet_night_is_not():
    detector = AcousticDetector()
    assert faults(AudioSignal(11, noise_rms=2000), 200, detector) == []  # learns the floor
    assert faults(AudioSignal(12, noise_rms=5), 40, detector) == [(15, MIC_FLOOR_LOST)]  # 52 dB down
    assert faults(AudioSignal(13, noise_rms=2000), 40, detector) == [(15, MIC_OK)]
    quiet = AcousticDetector()
    assert faults(AudioSignal(14, noise_rms=20), 200, quiet) == []
    assert faults(AudioSignal(15, noise_rms=3), 60, quiet) == []  # the floor was already low


def test_a_drone_heard_when_the_microphone_dies_is_cleared_with_the_fault():
    detector = AcousticDetector()
    assert faults(AudioSignal(16).drone(185, 1000), 16, detector)[0][1] == "drone"
    assert faults(ConstantSignal(0), 20, detector) == [(15, "cleared"), (15, MIC_STILL)]
