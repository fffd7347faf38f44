"""LoRa airtime in integers and the EU868 1 % budget. Runs on CPython and MicroPython."""

from device.dutycycle import BUCKET_MS, DutyCycleBudget, time_on_air_us
from tests.device.field_figures import KNOWN_MS


def test_time_on_air_matches_the_semtech_figures_to_a_tenth_of_a_millisecond():
    for size, sf, expected in KNOWN_MS:
        got = time_on_air_us(size, sf)
        assert abs(got - expected * 1000) <= 100, (size, sf, got)


def test_one_percent_allows_36_seconds_of_airtime_per_hour():
    budget = DutyCycleBudget(per_mille=10)
    sent = 0
    while budget.allows(1483, now_ms=0):  # 24-byte frames at SF12
        budget.record(1483, now_ms=0)
        sent += 1
    assert sent == 24 and budget.spent_ms(0) == 24 * 1483 <= 36000


def test_airtime_is_given_back_once_its_minute_has_left_the_hour():
    budget = DutyCycleBudget(per_mille=10)
    budget.record(36000, now_ms=0)
    assert not budget.allows(100, now_ms=59 * 60000)
    assert not budget.allows(100, now_ms=60 * 60000 - 1)
    assert budget.allows(36000, now_ms=60 * 60000 + BUCKET_MS)


def test_budget_spread_over_the_hour_rolls_minute_by_minute():
    budget = DutyCycleBudget(per_mille=10)
    for minute in range(60):
        budget.record(600, now_ms=minute * 60000)
    assert budget.spent_ms(59 * 60000) == 36000
    assert budget.spent_ms(60 * 60000) == 35400  # the first minute's 600 ms have left
    assert budget.spent_ms(200 * 60000) == 0  # a long silence clears everything


def test_accounting_allocates_nothing():
    try:
        import micropython  # MicroPython only: CPython has no heap lock
    except ImportError:
        return
    budget = DutyCycleBudget()
    budget.record(1, 0)
    micropython.heap_lock()
    try:
        for minute in range(1, 120):
            if budget.allows(300, minute * 60000):
                budget.record(300, minute * 60000)
    finally:
        micropython.heap_unlock()
    assert budget.spent_ms(119 * 60000) == 60 * 300
