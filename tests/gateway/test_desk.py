"""The operator desk decides; it journals and sends nothing. Each request comes back as a
`Decision`: the response, the operator row (for every request, refused ones included), the
alarm changes, masks, the downlink and the walk test that the daemon then applies in one
transaction. Specified here with a real alarm book and no broker, gateway or journal."""

import json

import pytest

from gateway.alarming.alarms import ACKNOWLEDGED, CLEARED, INTRUSION, AlarmBook
from gateway.alarming.desk import DOWNLINK_WINDOW_S, MAX_DOWNLINKS, MAX_MASK_MINUTES, Decision, OperatorDesk

NOW = 1_800_000_000.0


def desk(heard: set[int] | None = None) -> tuple[OperatorDesk, AlarmBook]:
    book = AlarmBook("test")
    reachable = heard if heard is not None else {1, 2}
    return OperatorDesk(book, {"north", "east"}, {1, 2, 3}, reachable.__contains__), book


def ask(desk: OperatorDesk, request: str, /, **fields: object) -> Decision:
    payload = json.dumps(dict({"operator": "j.smith", "transaction": "t-1"}, **fields)).encode()
    return desk.handle(request, payload, NOW)


def raised(book: AlarmBook) -> str:
    change = book.trigger(INTRUSION, "north", 40.0, ["ev-1"], NOW - 60)
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
    assert ask(d, "clear", alarm_id=alarm_id, note="x").response["status"] == "error"
    ask(d, "ack", alarm_id=alarm_id, note="seen")
    decision = ask(d, "clear", alarm_id=alarm_id, note="fox left")
    assert decision.changes[0].alarm.state == CLEARED


def test_a_mask_has_a_zone_a_limit_and_a_retained_record() -> None:
    d, book = desk()
    decision = ask(d, "mask", zone="north", minutes=30, reason="fence repair")
    assert decision.masks == {
        "north": {"zone": "north", "operator": "j.smith", "reason": "fence repair", "until": NOW + 1800}
    }
    assert book.masked("north", NOW + 60)
    assert ask(d, "unmask", zone="north").masks == {"north": None}
    assert ask(d, "mask", zone="south", minutes=30).response["error"] == "no zone 'south'"
    too_long = ask(d, "mask", zone="east", minutes=MAX_MASK_MINUTES + 1)
    assert too_long.response["status"] == "error" and not book.masked("east", NOW)


def test_a_node_config_is_a_downlink_for_the_daemon_to_seal() -> None:
    d, _book = desk()
    decision = ask(d, "node_config", node_id=2, fence_threshold=900, armed=False)
    node_id, message, fields = decision.downlink or (0, "", {})
    assert (node_id, message) == (2, "CONFIG")
    assert fields["fence_threshold"] == 900 and fields["armed"] == 0 and fields["set"] != 0
    assert decision.response["data"] == {"node_id": 2, "type": "config", "fields": fields}


def test_a_walk_test_marks_the_node_until_it_ends() -> None:
    d, _book = desk()
    decision = ask(d, "walk_test", node_id=1, minutes=20)
    assert decision.walk_test == (1, NOW + 1200)
    assert decision.downlink == (1, "COMMAND", {"command": 4, "arg": 1200})


@pytest.mark.parametrize(
    "command, fields, error",
    [
        ("walk_test", {"node_id": 3, "minutes": 5}, "node 3 has not been heard yet: no way to reach it"),
        ("walk_test", {"node_id": 9, "minutes": 5}, "'node_id' must be one of the site's nodes"),
        ("node_config", {"node_id": 1}, "name at least one of"),
        ("node_config", {"node_id": 1, "heartbeat_s": 70000}, "'heartbeat_s' must be an integer in"),
        ("node_command", {"node_id": 1, "command": "format_flash"}, "'command' must be one of"),
        ("reboot_gateway", {}, "unknown command 'reboot_gateway'"),
        ("_ack", {}, "unknown command '_ack'"),
        ("ack", {"alarm_id": "nope", "note": "x"}, "nope"),
    ],
)
def test_refusals_change_nothing_and_are_still_rows(command: str, fields: dict[str, object], error: str) -> None:
    d, book = desk()
    decision = ask(d, command, **fields)
    assert decision.response["status"] == "error" and error in decision.response["error"]
    assert decision.row["status"] == "error" and decision.row["error"] == decision.response["error"]
    assert (decision.changes, decision.masks, decision.downlink, decision.walk_test) == ([], {}, None, None)
    assert book.open_alarms() == []


@pytest.mark.parametrize(
    "payload, error",
    [
        (b"\xff\xfe", "the request is not JSON"),
        (b"[1, 2]", "the request must be a JSON object"),
        (b'{"alarm_id": "x"}', "every request names its operator"),
        (b'{"operator": "a", "note": "\\ud800"}', "the request holds text that is not valid Unicode"),
    ],
)
def test_malformed_requests_are_answered_not_raised(payload: bytes, error: str) -> None:
    d, _book = desk()
    decision = d.handle("ack", payload, NOW)
    assert decision.response == {"data": None, "status": "error", "error": error, "transaction": None}
    assert decision.row["request"] == payload.decode("utf-8", "replace")


def test_downlinks_to_one_node_are_limited_so_its_counters_last() -> None:
    d, _book = desk()
    answers = [
        d.handle("node_command", b'{"operator": "x", "node_id": 1, "command": "ping"}', NOW + i) for i in range(8)
    ]
    assert [a.response["status"] for a in answers] == ["ok"] * MAX_DOWNLINKS + ["error"] * 2
    assert "downlinks in the last 60 s" in answers[-1].response["error"] and answers[-1].downlink is None
    assert ask(d, "node_command", node_id=2, command="ping").response["status"] == "ok"  # other nodes are not
    later = d.handle("node_command", b'{"operator": "x", "node_id": 1, "command": "ping"}', NOW + DOWNLINK_WINDOW_S)
    assert later.response["status"] == "ok"
