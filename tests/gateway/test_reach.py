"""Each account's reach is its own (issue 31, point 5): its request rate, its nonces, its share
of the requests waiting for approval; reads cost no journal row, and are counted. Sans-I/O
specs of `reach.py`, `request_guard.py`, `approvals.py` and the desk, on a real alarm book."""

import pytest

from gateway.alarming.alarms import OperatorError
from gateway.alarming.approvals import MAX_PENDING_EACH
from gateway.alarming.reach import Reach, ReachLimits
from gateway.alarming.request_guard import MAX_NONCES, RequestGuard, fresh
from tests.gateway.test_desk import NOW, ROLES, approve, ask, desk


def test_an_account_beyond_its_rate_is_refused_and_others_are_not_touched() -> None:
    reach = Reach(ReachLimits(per_s=2.0, burst=30))
    admitted = sum(reach.admit("v.brown", NOW) for _ in range(10_000))
    assert admitted == 30  # the burst, then nothing until the bucket refills
    assert reach.admit("j.smith", NOW)  # the flood took nothing of anyone else's
    assert not reach.admit("v.brown", NOW + 0.4) and reach.admit("v.brown", NOW + 1.0)  # 2 a second again
    (row,) = reach.due(NOW + 60)  # j.smith had nothing to count
    assert (row["operator"], row["throttled"], row["reads"]) == ("v.brown", 9_971, 0)


def test_only_the_first_refusal_of_a_window_is_journalled_the_rest_are_a_tally() -> None:
    reach = Reach(ReachLimits(per_s=1.0, burst=1))
    assert reach.admit("v.brown", NOW)
    assert not reach.admit("v.brown", NOW) and reach.first_refusal("v.brown")
    assert not reach.admit("v.brown", NOW) and not reach.first_refusal("v.brown")
    reach.read("v.brown", NOW)
    assert reach.due(NOW + 59) == []
    (row,) = reach.due(NOW + 60)
    assert (row["command"], row["reads"], row["throttled"]) == ("tally", 1, 2)


def test_a_clock_stepped_back_does_not_drain_an_accounts_bucket() -> None:
    reach = Reach(ReachLimits(per_s=2.0, burst=30))
    assert reach.admit("j.smith", NOW)
    assert all(reach.admit("j.smith", NOW - 3600) for _ in range(29))


def test_one_accounts_nonces_never_fill_anothers_table() -> None:
    guard = RequestGuard(60.0)
    for i in range(MAX_NONCES):
        guard.check({"sent_at": NOW, "nonce": "flood-%06d" % i}, NOW, False, "v.brown")
    with pytest.raises(OperatorError, match="too many requests"):
        guard.check(fresh({}, NOW), NOW, False, "v.brown")
    guard.check(fresh({}, NOW), NOW, False, "j.smith")  # before: refused for 120 s, like everyone
    replay = {"sent_at": NOW, "nonce": "flood-000001"}
    with pytest.raises(OperatorError, match="already heard"):
        guard.check(replay, NOW + 1, False, "v.brown")


def test_one_accounts_pending_requests_never_block_anothers() -> None:
    d, _book = desk()
    for minutes in range(1, MAX_PENDING_EACH + 1):
        asked = ask(d, "mask", zone="north", minutes=minutes, reason="fence repair")
        assert asked.asked is not None
        d.approvals.add(asked.asked)
    full = ask(d, "mask", zone="north", minutes=99, reason="fence repair")
    assert (
        full.response["error"] == "8 of your requests are already waiting for approval: have them approved or "
        "let them lapse"
    )
    other = ask(d, "mask", who="m.chief", zone="east", minutes=30, reason="gate works")
    assert other.response["status"] == "pending"  # before: "64 requests are already waiting" for everyone


def test_a_removed_accounts_request_lapses_and_is_never_carried_out() -> None:
    d, book = desk()
    asked = ask(d, "mask", zone="north", minutes=30, reason="fence repair")
    del ROLES["j.smith"]  # the account file no longer lists him
    try:
        approved = approve(d, asked)
        assert (
            approved.response["error"] == "j.smith no longer has an account that may ask for this: request "
            "%s lapsed" % asked.asked.request_id
        )
        assert approved.masks == {} and not book.masked("north", NOW + 1)
        assert d.approvals.lapsed(NOW, d.may_still_ask) == [asked.asked]  # journalled as lapsed at the next round
    finally:
        ROLES["j.smith"] = "operator"
