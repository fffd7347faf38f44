"""The ground channel (`simulators/ground.py`) holds the physics it cites, and the ground
node's own detector, fed what a buried geophone reads, hears packages land where the
physics lets it and nothing else: footsteps, vehicles, rain and gales on the fence are not
landings."""

from array import array

import numpy as np
import pytest

from device.detect.ground import BLOCK_SAMPLES, IMPACT, GroundDetector
from simulators.ground import (
    COUNTS_PER_UM_S,
    attenuation,
    fence_wind_um_s,
    ground_samples,
    package_peak_um_s,
)


def landings(samples: np.ndarray) -> list[float]:
    detector = GroundDetector()
    block = array("H", bytes(2 * BLOCK_SAMPLES))
    found = []
    for b in range(len(samples) // BLOCK_SAMPLES):
        block[:] = array("H", samples[b * BLOCK_SAMPLES : (b + 1) * BLOCK_SAMPLES].astype("<u2").tobytes())
        if detector.process(block) == IMPACT:
            found.append((b + 1) * BLOCK_SAMPLES / 1000)
    return found


def test_the_physics_is_the_fields() -> None:
    assert COUNTS_PER_UM_S == pytest.approx(57.2, abs=0.1)  # SM-24 x100 into a 3.3 V 16-bit reading
    assert package_peak_um_s(1.0, 10.0) == pytest.approx(18.0, abs=1.0)  # FIELD.md's 1 kg from 6 m
    assert attenuation(20.0) < attenuation(10.0) / 2**0.5  # spreading and the soil's damping
    assert fence_wind_um_s(20.0, 10.0) == pytest.approx(4 * fence_wind_um_s(10.0, 10.0))  # drag ~ v^2
    assert fence_wind_um_s(20.0, 18.0) < fence_wind_um_s(20.0, 2.0) / 2  # posts carry the wind


@pytest.mark.parametrize("wind_mps", [0.0, 20.0])
def test_a_package_landing_10_m_from_a_ground_node_is_heard_calm_or_gale(wind_mps: float) -> None:
    heard = 0
    for seed in range(1, 6):
        landing = ((15.0, 10.0, 1.0, 40 + seed),)  # at 15 s, 10 m off, 1 kg
        samples = ground_samples(25, seed, wind_mps=wind_mps, from_fence_m=14.0, landings=landing)
        found = landings(samples)
        assert all(abs(t - 16.6) < 1.0 for t in found), found  # nothing but the landing
        heard += len(found)
    assert heard >= 4, heard


def test_a_package_too_far_for_the_physics_is_not_heard() -> None:
    samples = ground_samples(25, 3, from_fence_m=14.0, landings=((15.0, 80.0, 0.5, 7),))
    assert landings(samples) == []


@pytest.mark.parametrize(
    "weather",
    [
        {"walkers": ((2.0, 1.5, 20.0), (60.0, 4.0, 80.0))},  # someone walking past, twice
        {"vehicles": ((0.0, 4.0, 30.0), (60.0, 15.0, 90.0))},  # a van on the perimeter road
        {"rain_mmph": 30.0, "wind_mps": 8.0},
        {"wind_mps": 24.0, "from_fence_m": 10.0},  # a gale: panels slap their posts
    ],
)
def test_nothing_but_a_landing_is_a_landing(weather: dict) -> None:
    kwargs = {"from_fence_m": 14.0, **weather}
    assert [landings(ground_samples(120, seed, **kwargs)) for seed in (1, 2)] == [[], []]
