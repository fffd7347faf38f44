"""LoRa time on air matches the figures in FIELD.md / DESIGN.md (BW125, CR4/5, 8 preamble)."""

import pytest

from simulators.airtime import duty_cycle_packets_per_hour, time_on_air_ms
from tests.device.field_figures import KNOWN_MS  # FIELD.md's figures, one table for both rooms


@pytest.mark.parametrize("size, sf, expected_ms", KNOWN_MS)
def test_time_on_air_matches_the_semtech_calculator(size: int, sf: int, expected_ms: float) -> None:
    assert round(time_on_air_ms(size, sf), 1) == expected_ms


def test_one_percent_duty_cycle_allows_36_seconds_per_hour() -> None:
    per_hour = duty_cycle_packets_per_hour(24, 12)
    assert per_hour == int(36_000 // time_on_air_ms(24, 12)) == 24


def test_the_simulators_airtime_agrees_with_the_nodes_integer_version() -> None:
    # Two rooms, two implementations (the node has no floats to spare): they must agree.
    from device.dutycycle import time_on_air_us

    for sf in range(7, 13):
        for size in range(0, 256, 5):
            assert abs(time_on_air_ms(size, sf) * 1000 - time_on_air_us(size, sf)) <= 1, (size, sf)
