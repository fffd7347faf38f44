"""The ground node's detector on synthesized geophone signals: a package landing alone is
reported with its peak, within two seconds; footsteps, a vehicle's rumble, the ADC's noise
and a series of slaps are not. Every block is analysed with the heap locked on MicroPython.
Runs on CPython and MicroPython (the physics of the ground channel: `tests/simulators/
test_ground_channel.py`)."""

from device.detect.ground import BLOCK_SAMPLES, IMPACT, GroundDetector
from device.detect.kernels import zeros
from tests.device.geophone import GeophoneSignal
from tests.device.heap import without_allocation


def impacts(signal, seconds, detector=None):
    detector = detector or GroundDetector()
    buf = zeros("H", BLOCK_SAMPLES)
    found = []
    for block in range(seconds * 20):
        signal.fill(buf, BLOCK_SAMPLES)
        if without_allocation(detector.process, buf) == IMPACT:
            found.append((block / 20, detector.peak, detector.duration_ms))
    return found


def test_a_package_landing_is_reported_within_two_seconds_with_its_peak():
    found = impacts(GeophoneSignal(3).package(10.0, strength=450), 20)
    assert len(found) == 1 and 10.0 < found[0][0] <= 12.0, found
    assert found[0][2] <= 300, found
    louder = impacts(GeophoneSignal(3).package(10.0, strength=900), 20)
    assert 1.7 < louder[0][1] / found[0][1] < 2.3, (found, louder)  # its level, for placing it


def test_a_faint_landing_far_off_is_heard_over_a_quiet_floor():
    # About 400 counts at its peak: 7 µm/s, a 1 kg package some 25 m away.
    assert len(impacts(GeophoneSignal(4).package(10.0, strength=120), 20)) == 1


def test_two_packages_apart_are_two_landings():
    assert len(impacts(GeophoneSignal(6).package(8.0, strength=450).package(20.0, strength=450), 30)) == 2


def test_footsteps_are_not_a_landing():
    assert impacts(GeophoneSignal(4).walker(8.0, 15.0, strength=450), 30) == []


def test_a_landing_with_someone_walking_right_after_is_not_reported():
    assert impacts(GeophoneSignal(5).package(10.0, strength=450).walker(10.6, 8.0, strength=450), 30) == []


def test_a_landing_well_above_distant_footsteps_is_still_reported():
    signal = GeophoneSignal(5).walker(6.0, 14.0, strength=40).package(12.3, strength=450)
    assert len(impacts(signal, 30)) == 1


def test_a_vehicle_rumble_is_background_not_a_landing():
    assert impacts(GeophoneSignal(7).rumble(8.0, 12.0, 250), 30) == []


def test_the_threshold_is_respected():
    assert impacts(GeophoneSignal(3).package(10.0, strength=120), 20, GroundDetector(impact_threshold=2000)) == []


def test_noise_alone_is_not_a_landing():
    assert impacts(GeophoneSignal(1), 30) == []
    assert impacts(GeophoneSignal(2, noise=200), 30) == []
