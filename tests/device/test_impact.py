"""The impact detector on synthesized geophone signals: a package landing is reported, a
series of thuds (someone climbing or walking) is not, and noise is ignored. Every block is
analysed with the heap locked on MicroPython. Runs on CPython and MicroPython."""

from device.detect.impact import BLOCK_SAMPLES, IMPACT, ImpactDetector
from device.detect.kernels import zeros
from tests.device.heap import without_allocation
from tests.device.signals import ImpactSignal


def impacts(signal, seconds, detector=None):
    detector = detector or ImpactDetector()
    buf = zeros("H", BLOCK_SAMPLES)
    found = []
    for block in range(seconds * 20):
        signal.fill(buf, BLOCK_SAMPLES)
        if without_allocation(detector.process, buf) == IMPACT:
            found.append((block / 20, detector.peak, detector.duration_ms))
    return found


def test_a_package_landing_is_reported_within_two_seconds():
    found = impacts(ImpactSignal(3).package(10.0), 20)
    assert len(found) == 1 and 10.0 < found[0][0] <= 12.0, found
    assert found[0][2] <= 200, found  # short


def test_a_light_package_is_reported_too():
    assert len(impacts(ImpactSignal(3).package(10.0, strength=3000), 20)) == 1


def test_two_packages_are_two_impacts():
    assert len(impacts(ImpactSignal(6).package(5.0).package(20.0), 30)) == 2


def test_footsteps_or_climbing_are_not_a_package():
    assert impacts(ImpactSignal(4).footsteps(10.0), 30) == []


def test_a_thud_followed_by_activity_is_not_a_package():
    assert impacts(ImpactSignal(5).package(10.0).footsteps(10.5), 30) == []


def test_noise_alone_is_not_an_impact():
    assert impacts(ImpactSignal(1), 30) == []
    assert impacts(ImpactSignal(2, noise=300), 30) == []


def test_the_threshold_is_respected():
    assert impacts(ImpactSignal(3).package(10.0, strength=3000), 20, ImpactDetector(impact_threshold=20000)) == []
