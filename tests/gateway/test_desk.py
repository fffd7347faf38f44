"""The operator desk decides; it journals and sends nothing. Each request, from an account the
gateway knows (never a name the request gives itself), comes back as a `Decision`: the
response, the operator row (for every request, refused ones included), the alarm changes,
masks, the downlink, the walk test and the approvals table's change, which the daemon then
applies in one transaction. Who may ask for what, and which requests wait for a second
account, is specified here too. A real alarm book; no broker, gateway or journal."""

import json

import pytest

from gateway.alarming.alarms import ACKNOWLEDGED, CLEARED, DRONE_DROP, INTRUSION, JAMMING, SECURITY, TAMPER, AlarmBook
from gateway.alarming.desk import DOWNLINK_WINDOW_S, MAX_DOWNLINKS, Decision, OperatorDesk, Policy
from gateway.alarming.request_guard import fresh

NOW = 1_800_000_000.0
ROLES = {
    "j.smith": "operator",
    "s.jones": "supervisor",
    "m.chief": "supervisor",
    "e.wright": "engineer",
    "v.brown": "viewer",
}


def desk(heard: set[int] | None = None, policy: Policy | None = None) -> tuple[OperatorDesk, AlarmBook]:
    book = AlarmBook("test")
    reachable = heard if heard is not None else {1, 2}
    desk = OperatorDesk(book, {"north", "east"}, {1, 2, 3}, reachable.__contains__, ROLES.get, policy or Policy())
    return desk, book


def ask(desk: OperatorDesk, request: str, /, who: str = "j.smith", at: float = NOW, **fields: object) -> Decision:
    """A request from the dashboard, where the session says who is asking."""
    payload = json.dumps(dict({"transaction": "t-1"}, **fields)).encode()
    return desk.handle(request, payload, at, who, mqtt=False)


def approve(desk: OperatorDesk, asked: Decision, who: str = "s.jones", at: float = NOW) -> Decision:
    assert asked.response["status"] == "pending", asked.response
    desk.approvals.add(asked.asked)  # as the daemon does once the request is journalled
    decided = ask(desk, "approve", who=who, at=at, request_id=asked.asked.request_id)
    if decided.decided is not None:
        desk.approvals.remove(decided.decided.request_id)
    return decided


def raised(book: AlarmBook, category: str = INTRUSION) -> str:
    change = book.trigger(category, "north", 40.0, ["ev-1"], NOW - 60)
    assert change is not None
    book.commit()
    return change.alarm.alarm_id


def test_an_acknowledgement_is_a_change_a_response_and_a_row() -> None:
    d, book = desk()
    alarm_id = raised(book)
    decision = ask(d, "ack", alarm_id=alarm_id, note="camera 4 shows a fox")
    assert decision.response["status"] == "ok" and decision.response["transaction"] == "t-1"
    assert [(c.action, c.alarm.state, c.operator) for c in decision.changes] == [
        ("acknowledged", ACKNOWLEDGED, "j.smith")
    ]
    assert decision.row["operator"] == "j.smith" and decision.row["command"] == "ack"
    assert decision.downlink is None and decision.masks == {} and decision.walk_test is None
    # The change waits in the book for the daemon's commit; a rollback takes it back.
    book.rollback()
    assert book.alarms[alarm_id].state == "active"


def test_clearing_follows_acknowledging() -> None:
    d, book = desk()
    alarm_id = raised(book)
    assert ask(d, "clear", alarm_id=alarm_id, note="x", reason="test").response["status"] == "error"
    ask(d, "ack", alarm_id=alarm_id, note="seen")
    decision = ask(d, "clear", alarm_id=alarm_id, note="fox left", reason="nuisance_animal")
    assert decision.changes[0].alarm.state == CLEARED


@pytest.mark.parametrize("reason", [None, "", "fox", "NUISANCE_ANIMAL", 3])
def test_clearing_says_what_the_alarm_was_or_is_refused(reason: object) -> None:
    # Nuisance alarms per zone per 30 days can only be counted if every clearing says what
    # the alarm was: intrusion, attempted, nuisance (weather, animal, vegetation, unknown),
    # maintenance or test.
    d, book = desk()
    alarm_id = raised(book)
    ask(d, "ack", alarm_id=alarm_id, note="seen")
    fields: dict[str, object] = {"alarm_id": alarm_id, "note": "fox left"}
    if reason is not None:
        fields["reason"] = reason
    refused = ask(d, "clear", **fields)
    assert refused.response["status"] == "error" and "reason code" in refused.response["error"]
    assert refused.changes == [] and book.alarms[alarm_id].state == ACKNOWLEDGED
    cleared = ask(d, "clear", alarm_id=alarm_id, note="fox left", reason="nuisance_animal")
    assert cleared.changes[0].alarm.as_json()["reason"] == "nuisance_animal"


def test_a_request_cannot_act_under_another_name() -> None:
    d, book = desk()
    alarm_id = raised(book)
    decision = ask(d, "ack", who="j.smith", operator="s.jones", alarm_id=alarm_id, note="seen")
    assert decision.response["error"] == "this request comes from j.smith: it cannot act as 's.jones'"
    assert decision.row["operator"] == "j.smith" and decision.changes == []
    assert ask(d, "ack", who="nobody", alarm_id=alarm_id, note="x").response["error"] == (
        "nobody has no account at this gateway"
    )


@pytest.mark.parametrize(
    "who, command, fields",
    [
        ("v.brown", "ack", {"alarm_id": "a", "note": "x"}),
        ("v.brown", "mask", {"zone": "north", "minutes": 5, "reason": "x"}),
        ("j.smith", "walk_test", {"node_id": 1, "minutes": 5}),
        ("j.smith", "node_config", {"node_id": 1, "armed": False}),
        ("e.wright", "ack", {"alarm_id": "a", "note": "x"}),
        ("j.smith", "approve", {"request_id": "r-1"}),
        ("e.wright", "refuse", {"request_id": "r-1", "note": "x"}),
    ],
)
def test_each_role_may_ask_only_for_its_own_work(who: str, command: str, fields: dict[str, object]) -> None:
    d, _book = desk()
    decision = ask(d, command, who=who, **fields)
    assert decision.response["status"] == "error"
    assert " may not %s" % command.replace("_", " ") in decision.response["error"]
    assert decision.row["operator"] == who and decision.asked is None and decision.downlink is None


def test_a_mask_waits_for_a_second_account_then_both_names_are_kept() -> None:
    d, book = desk()
    asked = ask(d, "mask", zone="north", minutes=30, reason="fence repair")
    assert asked.response["status"] == "pending" and asked.masks == {} and not book.masked("north", NOW + 60)
    assert asked.row["request_id"] == asked.asked.request_id and "masking" in asked.row["why"]
    # The one who asked cannot approve it, even as a supervisor asking for themselves.
    assert approve(d, asked, who="j.smith").response["status"] == "error"
    own = ask(d, "mask", who="s.jones", zone="east", minutes=10, reason="lights")
    refused = approve(d, own, who="s.jones")
    assert refused.response["error"] == "s.jones asked for this: a different account must approve it"
    approved = approve(d, asked, who="m.chief", at=NOW + 120)
    assert approved.response["status"] == "ok"
    assert approved.masks == {
        "north": {
            "zone": "north",
            "operator": "j.smith",
            "reason": "fence repair",
            "until": NOW + 120 + 1800,
            "approved_by": "m.chief",
        }
    }
    assert (approved.row["operator"], approved.row["requested_by"], approved.row["approved_by"]) == (
        "m.chief",
        "j.smith",
        "m.chief",
    )
    assert book.masked("north", NOW + 200)
    assert ask(d, "unmask", zone="north").masks == {"north": None}  # lifting a mask needs nobody else


def test_a_request_nobody_approves_in_time_lapses() -> None:
    d, _book = desk(policy=Policy(approval_minutes=5))
    asked = ask(d, "mask", zone="north", minutes=30, reason="fence repair")
    d.approvals.add(asked.asked)
    assert d.approvals.lapsed(NOW + 299) == [] and d.approvals.lapsed(NOW + 300) == [asked.asked]
    late = ask(d, "approve", who="s.jones", at=NOW + 301, request_id=asked.asked.request_id)
    assert "lapsed" in late.response["error"] and late.masks == {}


def test_a_supervisor_refuses_with_a_note() -> None:
    d, book = desk()
    asked = ask(d, "mask", zone="north", minutes=30, reason="fence repair")
    d.approvals.add(asked.asked)
    refused = ask(d, "refuse", who="s.jones", request_id=asked.asked.request_id, note="no works order")
    assert refused.response["status"] == "ok" and refused.decided == asked.asked and refused.masks == {}
    assert not book.masked("north", NOW)


@pytest.mark.parametrize(
    "fields, waits",
    [
        ({"armed": False}, True),
        ({"fence_threshold": 900}, True),
        ({"heartbeat_s": 120}, True),
        ({"armed": True}, False),
    ],
)
def test_disarming_or_retuning_a_node_waits_for_approval(fields: dict[str, object], waits: bool) -> None:
    d, _book = desk()
    decision = ask(d, "node_config", who="e.wright", node_id=2, **fields)
    assert (decision.response["status"] == "pending") is waits and (decision.downlink is None) is waits
    if waits:
        node_id, message, sent = approve(d, decision).downlink or (0, "", {})
        assert (node_id, message) == (2, "CONFIG") and sent["set"] != 0


def test_a_walk_test_waits_for_approval_and_marks_the_node_until_it_ends() -> None:
    d, _book = desk()
    asked = ask(d, "walk_test", who="e.wright", node_id=1, minutes=20)
    assert asked.walk_test is None and asked.downlink is None
    decision = approve(d, asked)
    assert decision.walk_test == (1, NOW + 1200)
    assert decision.downlink == (1, "COMMAND", {"command": 4, "arg": 1200})
    assert decision.response["data"]["result"]["type"] == "command"
    ended = ask(d, "walk_test", who="e.wright", node_id=1, minutes=0)  # ending one needs nobody else
    assert ended.response["status"] == "ok" and ended.walk_test == (1, NOW)


def test_clearing_a_severity_1_alarm_waits_for_approval() -> None:
    d, book = desk()
    alarm_id = raised(book, DRONE_DROP)
    assert book.alarms[alarm_id].severity == 1
    ask(d, "ack", alarm_id=alarm_id, note="seen")
    asked = ask(d, "clear", alarm_id=alarm_id, note="package found", reason="intrusion")
    assert asked.response["status"] == "pending" and asked.changes == []
    cleared = approve(d, asked)
    assert cleared.changes[0].alarm.state == CLEARED and cleared.changes[0].operator == "j.smith"


@pytest.mark.parametrize("category", [TAMPER, SECURITY, JAMMING])
def test_an_alarm_about_the_system_itself_is_never_cleared_by_one_operator(category: str) -> None:
    # A jammer or an opened box is what hides the next climb: an insider who clears it alone
    # has blinded the perimeter (issue 31, point 4).
    d, book = desk()
    alarm_id = raised(book, category)
    assert book.alarms[alarm_id].severity == 2
    unacknowledged = ask(d, "clear", alarm_id=alarm_id, note="x", reason="test")
    assert unacknowledged.response["error"] == "alarm %s must be acknowledged before it is cleared" % alarm_id
    ask(d, "ack", alarm_id=alarm_id, note="seen")
    asked = ask(d, "clear", alarm_id=alarm_id, note="nothing there", reason="nuisance_unknown")
    assert asked.response["status"] == "pending" and asked.changes == []
    assert asked.asked is not None and asked.asked.why == "clearing a %s alarm" % category
    assert book.alarms[alarm_id].state == ACKNOWLEDGED
    cleared = approve(d, asked, who="s.jones")
    assert cleared.changes[0].alarm.state == CLEARED and cleared.row["approved_by"] == "s.jones"


def test_a_climb_is_still_one_operators_to_clear() -> None:
    d, book = desk()
    alarm_id = raised(book, INTRUSION)
    ask(d, "ack", alarm_id=alarm_id, note="seen")
    assert ask(d, "clear", alarm_id=alarm_id, note="fox", reason="nuisance_animal").changes[0].alarm.state == CLEARED


@pytest.mark.parametrize(
    "who, command, fields, error",
    [
        ("j.smith", "mask", {"zone": "north", "minutes": 721, "reason": "x"}, "up to 720 (the site's limit)"),
        ("e.wright", "walk_test", {"node_id": 1, "minutes": 61}, "from 0 (end) to 60 (the site's limit)"),
        ("e.wright", "node_config", {"node_id": 1, "heartbeat_s": 301}, "'heartbeat_s' above 300 s"),
        ("e.wright", "node_config", {"node_id": 1, "heartbeat_s": 70000}, "'heartbeat_s' must be an integer in"),
        ("e.wright", "walk_test", {"node_id": 3, "minutes": 5}, "node 3 has not been heard yet: no way to reach it"),
        ("e.wright", "walk_test", {"node_id": 9, "minutes": 5}, "'node_id' must be one of the site's nodes"),
        ("e.wright", "node_config", {"node_id": 1}, "name at least one of"),
        ("e.wright", "node_command", {"node_id": 1, "command": "format_flash"}, "'command' must be one of"),
        ("j.smith", "mask", {"zone": "south", "minutes": 5, "reason": "x"}, "no zone 'south'"),
        ("j.smith", "mask", {"zone": "north", "minutes": 5}, "'reason' is required"),
        ("j.smith", "reboot_gateway", {}, "unknown command 'reboot_gateway'"),
        ("j.smith", "_ack", {}, "unknown command '_ack'"),
        ("j.smith", "ack", {"alarm_id": "nope", "note": "x"}, "nope"),
        ("s.jones", "approve", {"request_id": "r-00"}, "no request 'r-00' is waiting for approval"),
    ],
)
def test_refusals_change_nothing_and_are_still_rows(
    who: str, command: str, fields: dict[str, object], error: str
) -> None:
    d, book = desk()
    decision = ask(d, command, who=who, **fields)
    assert decision.response["status"] == "error" and error in decision.response["error"], decision.response
    assert decision.row["status"] == "error" and decision.row["error"] == decision.response["error"]
    assert (decision.changes, decision.masks, decision.downlink, decision.walk_test) == ([], {}, None, None)
    assert decision.asked is None and book.open_alarms() == []


@pytest.mark.parametrize(
    "payload, error",
    [
        (b"\xff\xfe", "the request is not JSON"),
        (b"[1, 2]", "the request must be a JSON object"),
        (b'{"alarm_id": "x", "note": "\\ud800"}', "request.note holds text that is not valid Unicode"),
        (b'{"alarm_id": "x", "note": "a\\u0000b"}', "request.note holds a control character (U+0000)"),
        (json.dumps({"alarm_id": "x", "note": "y" * 501}).encode(), "request.note is longer than 500 characters"),
    ],
)
def test_malformed_requests_are_answered_not_raised(payload: bytes, error: str) -> None:
    d, _book = desk()
    decision = d.handle("ack", payload, NOW, "j.smith", mqtt=False)
    assert decision.response == {"data": None, "status": "error", "error": error, "transaction": None}
    assert decision.row["request"] == payload.decode("utf-8", "replace")


def test_over_mqtt_a_request_must_be_fresh_new_and_not_retained() -> None:
    d, book = desk()
    alarm_id = raised(book)

    def heard(body: dict[str, object], at: float = NOW, retained: bool = False) -> str | None:
        decision = d.handle("ack", json.dumps(body).encode(), at, "j.smith", mqtt=True, retained=retained)
        return decision.response["error"]

    request = fresh({"alarm_id": alarm_id, "note": "seen"}, NOW)
    assert "retained request is never carried out" in str(heard(request, retained=True))
    assert "carries 'sent_at'" in str(heard({"alarm_id": alarm_id, "note": "seen"}))
    assert "sent_at is 61 s off the gateway's clock" in str(
        heard(fresh({"alarm_id": alarm_id, "note": "seen"}, NOW - 61))
    )
    assert heard(request) is None
    book.rollback()  # the daemon's commit failed, say: the same request again is a replay all the same
    assert "was already heard: a replay is never carried out" in str(heard(request, at=NOW + 5))
    assert heard(fresh({"alarm_id": alarm_id, "note": "seen"}, NOW + 5), at=NOW + 5) is None


def test_downlinks_to_one_node_are_limited_so_its_counters_last() -> None:
    d, _book = desk()
    answers = [ask(d, "node_command", who="e.wright", at=NOW + i, node_id=1, command="ping") for i in range(8)]
    assert [a.response["status"] for a in answers] == ["ok"] * MAX_DOWNLINKS + ["error"] * 2
    assert "downlinks in the last 60 s" in answers[-1].response["error"] and answers[-1].downlink is None
    other = ask(d, "node_command", who="e.wright", node_id=2, command="ping")  # other nodes are not limited
    assert other.response["status"] == "ok"
    later = ask(d, "node_command", who="e.wright", at=NOW + DOWNLINK_WINDOW_S, node_id=1, command="ping")
    assert later.response["status"] == "ok"
