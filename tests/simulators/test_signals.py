"""The simulators' signal models obey their physics, and the node's own detectors (run
here under CPython) hear what the models say they should."""

from array import array

import numpy as np
import pytest

from device.detect.acoustic import DRONE, FRAME_SAMPLES, AcousticDetector
from device.detect.fence import BLOCK_SAMPLES, CLIMB, FenceDetector
from device.detect.impact import BLOCK_SAMPLES as IMPACT_BLOCK
from device.detect.impact import IMPACT, ImpactDetector
from simulators.signals import (
    AUDIO_RATE,
    absorption_db_per_m,
    drone_audio,
    drone_level_db,
    fence_vibration,
    package_impact,
    spl_to_amplitude,
)


def test_sound_falls_6_db_per_doubling_plus_absorption_that_grows_with_frequency() -> None:
    near, far = drone_level_db(75, 200, 50), drone_level_db(75, 200, 100)
    assert near - far == pytest.approx(6.02 + absorption_db_per_m(200) * 50, abs=0.01)
    assert absorption_db_per_m(1000) * 1000 == pytest.approx(5.0) and absorption_db_per_m(200) < 0.001


def test_94_db_spl_is_minus_26_dbfs_at_the_microphone() -> None:
    assert spl_to_amplitude(94.0) / np.sqrt(2) == pytest.approx(32767 * 10 ** (-26 / 20), rel=1e-6)


def test_a_drone_sounds_at_its_blade_pass_frequency_each_rotor_a_little_apart() -> None:
    audio = drone_audio(4.0, distance_m=20, rpm=6090, blades=2, ambient_db=20)
    spectrum = np.abs(np.fft.rfft(audio.astype(float)))
    hz = np.fft.rfftfreq(len(audio), 1 / AUDIO_RATE)  # 0.25 Hz bins over 4 s
    peak_hz = hz[np.argmax(spectrum[40:]) + 40]
    assert abs(peak_hz - 203) <= 0.08 * 203  # one rotor's line, within the rotors' spread
    cluster = spectrum[(hz > 180) & (hz < 226)]
    assert (cluster > cluster.max() / 4).sum() >= 8  # a cluster of lines, not one: 2+ Hz wide


def test_a_drone_has_broadband_rotor_wash_under_its_series() -> None:
    quiet = drone_audio(2.0, distance_m=20, ambient_db=0, wash_db=-200.0)
    washed = drone_audio(2.0, distance_m=20, ambient_db=0)
    between = lambda a: np.abs(np.fft.rfft(a.astype(float)))[2 * 250 : 2 * 350].mean()  # noqa: E731
    assert between(washed) > 5 * between(quiet)  # between the 1st and 2nd harmonics


def detects_drone(samples: np.ndarray) -> bool:
    detector = AcousticDetector()
    frame = array("h", bytes(2 * FRAME_SAMPLES))
    for start in range(0, len(samples) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        frame[:] = array("h", samples[start : start + FRAME_SAMPLES].tobytes())
        if detector.process(frame) == DRONE:
            return True
    return False


def test_the_node_hears_a_drone_at_60_m_but_not_at_600_m() -> None:
    assert detects_drone(drone_audio(1.0, distance_m=60))
    assert not detects_drone(drone_audio(1.0, distance_m=600))


def test_a_climb_felt_through_the_fence_is_a_climb_only_when_it_is_near() -> None:
    def climbs(distance: float) -> bool:
        xyz = fence_vibration(20.0, wind_mps=4, climbs=((5.0, distance),), seed=3)
        detector = FenceDetector()
        block = array("h", bytes(6 * BLOCK_SAMPLES))
        for start in range(0, len(xyz) - BLOCK_SAMPLES + 1, BLOCK_SAMPLES):
            block[:] = array("h", xyz[start : start + BLOCK_SAMPLES].tobytes())
            if detector.process(block) == CLIMB:
                return True
        return False

    assert climbs(2.0) and not climbs(60.0)


def test_a_heavier_package_thuds_harder_and_the_node_reports_it() -> None:
    light = package_impact(5.0, 2.0, mass_kg=0.2).astype(int) - 32768
    heavy = package_impact(5.0, 2.0, mass_kg=2.0).astype(int) - 32768
    assert np.abs(heavy).max() > 2.5 * np.abs(light).max()
    detector = ImpactDetector()
    block = array("H", bytes(2 * IMPACT_BLOCK))
    found = 0
    for start in range(0, len(heavy) - IMPACT_BLOCK + 1, IMPACT_BLOCK):
        block[:] = array("H", (heavy[start : start + IMPACT_BLOCK] + 32768).astype(np.uint16).tobytes())
        found += detector.process(block) == IMPACT
    assert found == 1
