"""Login limits that stop guessing without handing an attacker a way to lock operators out,
and a flood of refusals that costs a journal row a minute, not one per attempt. Sans-I/O,
on a clock the spec turns."""

from gateway.dashboard.throttle import Bounded, LoginLimits, LoginThrottle, Refusals
from tests.fake_clock import FakeClock

LIMITS = LoginLimits(max_failures=5, window_s=300, lockout_s=300, address_failures=20, name_failures=20)


def test_five_failures_lock_that_address_out_of_that_name_only() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(LIMITS, clock)
    assert [throttle.failed("10.0.0.66", "alice") for _ in range(5)] == [False] * 4 + [True]
    assert throttle.wait("10.0.0.66", "alice") == 300
    assert throttle.wait("10.0.0.7", "alice") == 0  # alice at her own desk still gets in
    assert throttle.wait("10.0.0.66", "bob") == 0
    clock.t += 301
    assert throttle.wait("10.0.0.66", "alice") == 0
    # failures spread thinly (one every two minutes) never lock
    assert not any(throttle.failed("10.0.0.66", "bob") or clock.__setattr__("t", clock.t + 120) for _ in range(10))


def test_an_address_spraying_names_is_locked_whole() -> None:
    throttle = LoginThrottle(LIMITS, FakeClock())
    locked = [throttle.failed("10.0.0.66", "name-%d" % i) for i in range(20)]
    assert locked == [False] * 19 + [True]
    assert throttle.wait("10.0.0.66", "alice") == 300 and throttle.wait("10.0.0.7", "alice") == 0


def test_guesses_sent_at_once_are_checked_one_at_a_time() -> None:
    # Before, 60 guesses at once from one address were all checked: each passed `wait` before
    # any had failed (issue 31, point 6).
    throttle = LoginThrottle(LIMITS, FakeClock())
    admitted = [throttle.begin("10.0.0.66", "alice") for _ in range(60)]
    assert admitted == [True] + [False] * 59
    assert [throttle.begin("10.0.0.66", "name-%d" % i) for i in range(6)] == [True] * 3 + [False] * 3
    throttle.end("10.0.0.66", "alice")
    assert throttle.begin("10.0.0.66", "alice") and throttle.begin("10.0.0.7", "alice")


def test_a_spray_through_a_local_proxy_does_not_lock_out_the_operators_who_use_it() -> None:
    # Before, 21 failures from 127.0.0.1 locked out everyone behind a local proxy.
    clock = FakeClock()
    throttle = LoginThrottle(LIMITS, clock)
    throttle.succeeded("127.0.0.1", "alice")  # the night shift logged in through the proxy
    for i in range(21):
        throttle.failed("127.0.0.1", "name-%d" % i)
    assert throttle.wait("127.0.0.1", "mallory") == 300  # the spray's address is locked ...
    assert throttle.wait("127.0.0.1", "alice") == 0  # ... not for a name known to log in from it


def test_a_name_guessed_from_many_addresses_is_slowed_never_locked() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(LIMITS, clock)
    for i in range(20):
        throttle.failed("10.1.%d.%d" % (i // 250, i % 250), "alice")
    assert throttle.wait("10.0.0.7", "alice") == LIMITS.name_spacing_s  # one try every 2 s for anyone
    clock.t += LIMITS.name_spacing_s
    assert throttle.wait("10.0.0.7", "alice") == 0


def test_a_flood_of_invented_names_and_addresses_costs_bounded_memory() -> None:
    throttle = LoginThrottle(LoginLimits(max_tracked=1000), FakeClock())
    for i in range(50_000):
        throttle.failed("10.%d.%d.%d" % (i >> 16, (i >> 8) & 255, i & 255), "name-%d" % i)
    assert throttle.tracked() <= 5 * 1000
    table: Bounded[int, int] = Bounded(3)
    for i in range(5):
        table.put(i, i)
    assert table.items() == [(2, 2), (3, 3), (4, 4)]


def test_refusals_are_one_row_then_a_summary_per_window() -> None:
    clock = FakeClock()
    refusals = Refusals(60, clock)
    key = ("10.0.0.66", "locked")
    assert [refusals.refused(key) for _ in range(190)] == [True] + [False] * 189  # a second's flood
    assert refusals.due() == []  # the window is still open
    clock.t += 60
    assert refusals.due() == [(key, 189, 1000.0)]
    assert refusals.refused(key) is True  # a new window starts with a row of its own
    refusals.refused(key)
    assert refusals.due(everything=True) == [(key, 1, 1060.0)]  # at a stop, whatever was counted
