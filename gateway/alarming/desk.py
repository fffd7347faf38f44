"""Operator commands from the security office, over MQTT request/response topics.

A request is JSON on `P/bridge/request/<command>`:
`{"operator": "j.smith", "transaction": "t-17", ...}`. The answer goes to
`P/bridge/response/<command>` as `{"data", "status": "ok"|"error", "error", "transaction"}`.
Every request and its outcome is journalled with the operator's name, whether it succeeded
or not, so nothing an operator does, or tries to do, goes unrecorded. The broker's ACLs
decide who may publish requests at all; the name in the request says who is at the desk.

    ack     {"alarm_id", "note"}               acknowledge an alarm (a note is required)
    clear   {"alarm_id", "note"}               clear an acknowledged alarm
    mask    {"zone", "reason", "minutes"}      mask a zone for maintenance, with an expiry
    unmask  {"zone"}                           lift a mask before it expires
    alarms  {}                                 the open alarms
    node_config  {"node_id", "heartbeat_s", "fence_threshold", "cut_threshold",
                  "acoustic_snr_db", "impact_threshold", "armed"}   any subset: a CONFIG downlink
    walk_test    {"node_id", "minutes"}        every detection reported for that long (0 ends);
                                               the events carry "test": true and raise no alarm
    node_command {"node_id", "command"}        "ping", "reboot" or "self_test"

The desk is sans-I/O: `handle(command, payload, now)` returns a `Decision` (the response,
the operator row to journal, the alarm changes, masks, the downlink and the walk test) and
the daemon applies all of it in one transaction. Alarm changes are made in the alarm book,
which keeps them only if that transaction commits. Downlinks go the way the node was last
heard, after the request is journalled; the node answers a CONFIG with a HELLO carrying the
new config id.
"""

import json
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from gateway.alarming.alarms import AlarmBook, Change, OperatorError
from protocol.messages import BY_NAME, COMMAND, CONFIG_KEYS, KINDS

MAX_MASK_MINUTES = 7 * 24 * 60
MAX_WALK_TEST_MINUTES = 1092  # the COMMAND's u16 argument, in seconds
# Each downlink uses up one of the node's 65,536 downlink counters for good: unlimited pings
# would exhaust them in hours, after which the node's events could no longer be acknowledged.
MAX_DOWNLINKS = 6  # per node ...
DOWNLINK_WINDOW_S = 60.0  # ... within this


@dataclass
class Decision:
    """What one request comes to. `response["data"]` of a downlink gets its counter ("ctr")
    once the daemon has sealed it."""

    response: dict[str, Any]
    row: dict[str, Any]  # the operator row, journalled whatever the outcome
    changes: list[Change] = field(default_factory=list)
    masks: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # zone -> retained mask (None: lifted)
    downlink: tuple[int, str, dict[str, int]] | None = None  # node, message, fields
    walk_test: tuple[int, float] | None = None  # node, until when its detections are tests


class OperatorDesk:
    def __init__(
        self, book: AlarmBook, zones: Collection[str], nodes: Collection[int], reachable: Callable[[int], bool]
    ) -> None:
        self.book = book
        self.zones = zones
        self.nodes = nodes
        self.reachable = reachable  # whether a downlink can reach the node (it has been heard)
        self._sent: dict[int, deque[float]] = {}  # node -> when its recent downlinks were decided

    def handle(self, command: str, payload: bytes, now: float) -> Decision:
        """What one request comes to; nothing is journalled or sent here."""
        transaction = None
        operator = None
        decision = Decision({}, {})
        try:
            try:
                request = json.loads(payload.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise OperatorError("the request is not JSON") from None
            if not isinstance(request, dict):
                raise OperatorError("the request must be a JSON object")
            try:  # valid JSON may still hold text no journal can store ("\ud800")
                json.dumps(request, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:
                raise OperatorError("the request holds text that is not valid Unicode") from None
            transaction = request.get("transaction")
            operator = request.get("operator")
            if not isinstance(operator, str) or not operator.strip():
                raise OperatorError("every request names its operator")
            handler = getattr(self, "_" + command, None)
            if handler is None or command.startswith("_"):
                raise OperatorError("unknown command %r" % command)
            data = handler(decision, request, operator, now)
            decision.response = {"data": data, "status": "ok", "error": None, "transaction": transaction}
        except OperatorError as exc:
            decision = Decision({"data": None, "status": "error", "error": str(exc), "transaction": transaction}, {})
        decision.row = {
            "command": command,
            "operator": operator,
            "request": payload.decode("utf-8", "replace")[:2000],
            "status": decision.response["status"],
            "error": decision.response["error"],
            "transaction": transaction,
        }
        return decision

    @staticmethod
    def _text(request: dict[str, Any], key: str) -> str:
        value = request.get(key)
        if not isinstance(value, str) or not value.strip():
            raise OperatorError("%r is required" % key)
        return value

    def _ack(self, decision: Decision, request: dict[str, Any], operator: str, now: float) -> dict[str, Any]:
        change = self.book.acknowledge(self._text(request, "alarm_id"), operator, request.get("note") or "", now)
        decision.changes.append(change)
        return change.alarm.as_json()

    def _clear(self, decision: Decision, request: dict[str, Any], operator: str, now: float) -> dict[str, Any]:
        change = self.book.clear(self._text(request, "alarm_id"), operator, request.get("note") or "", now)
        decision.changes.append(change)
        return change.alarm.as_json()

    def _mask(self, decision: Decision, request: dict[str, Any], operator: str, now: float) -> dict[str, Any]:
        zone = self._text(request, "zone")
        if zone not in self.zones:
            raise OperatorError("no zone %r" % zone)
        minutes = request.get("minutes")
        if not isinstance(minutes, int | float) or isinstance(minutes, bool) or not 0 < minutes <= MAX_MASK_MINUTES:
            raise OperatorError("'minutes' must be a number of minutes up to %d" % MAX_MASK_MINUTES)
        mask = self.book.mask(zone, operator, request.get("reason") or "", now + minutes * 60, now)
        data = {"zone": zone, "operator": operator, "reason": mask.reason, "until": mask.until}
        decision.masks[zone] = data
        return data

    def _unmask(self, decision: Decision, request: dict[str, Any], operator: str, now: float) -> dict[str, Any]:
        zone = self._text(request, "zone")
        self.book.unmask(zone, operator)
        decision.masks[zone] = None
        return {"zone": zone, "unmasked_by": operator}

    def _alarms(self, decision: Decision, request: dict[str, Any], operator: str, now: float) -> list[dict[str, Any]]:
        return [a.as_json() for a in self.book.open_alarms()]

    def _node(self, request: dict[str, Any]) -> int:
        node_id = request.get("node_id")
        if not isinstance(node_id, int) or node_id not in self.nodes:
            raise OperatorError("'node_id' must be one of the site's nodes")
        if not self.reachable(node_id):
            raise OperatorError("node %d has not been heard yet: no way to reach it" % node_id)
        return node_id

    def _send(
        self, decision: Decision, node_id: int, type_name: str, fields: dict[str, int], now: float
    ) -> dict[str, Any]:
        sent = self._sent.setdefault(node_id, deque())
        while sent and now - sent[0] >= DOWNLINK_WINDOW_S:
            sent.popleft()
        if len(sent) >= MAX_DOWNLINKS:
            raise OperatorError(
                "node %d was sent %d downlinks in the last %d s: wait before sending more"
                % (node_id, len(sent), DOWNLINK_WINDOW_S)
            )
        sent.append(now)
        decision.downlink = (node_id, type_name, fields)
        return {"node_id": node_id, "type": type_name.lower(), "fields": fields}

    def _node_config(self, decision: Decision, request: dict[str, Any], operator: str, now: float) -> dict[str, Any]:
        node_id = self._node(request)
        layout = {f[0]: f[1] for f in BY_NAME["CONFIG"].fields}
        fields = {name: 0 for name in layout}
        chosen = 0
        for bit, name in CONFIG_KEYS.items():
            if name in request:
                value = request[name]
                if name == "armed" and isinstance(value, bool):
                    value = int(value)
                _size, low, high = KINDS[layout[name]]
                if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                    raise OperatorError("%r must be an integer in %d..%d" % (name, low, high))
                fields[name] = value
                chosen |= 1 << bit
        if not chosen:
            raise OperatorError("name at least one of %s" % ", ".join(CONFIG_KEYS.values()))
        fields["set"] = chosen
        fields["config_id"] = int(now) & 0xFFFF
        return self._send(decision, node_id, "CONFIG", fields, now)

    def _walk_test(self, decision: Decision, request: dict[str, Any], operator: str, now: float) -> dict[str, Any]:
        node_id = self._node(request)
        minutes = request.get("minutes")
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 0 <= minutes <= MAX_WALK_TEST_MINUTES:
            raise OperatorError("'minutes' must be an integer from 0 (end) to %d" % MAX_WALK_TEST_MINUTES)
        # The gateway marks the node's events as tests for as long as the node reports them.
        decision.walk_test = (node_id, now + minutes * 60)
        return self._send(decision, node_id, "COMMAND", {"command": 4, "arg": minutes * 60}, now)

    def _node_command(self, decision: Decision, request: dict[str, Any], operator: str, now: float) -> dict[str, Any]:
        node_id = self._node(request)
        names = {name: code for code, name in COMMAND.items() if name != "walk_test"}
        command = request.get("command")
        if command not in names:
            raise OperatorError("'command' must be one of %s" % ", ".join(sorted(names)))
        return self._send(decision, node_id, "COMMAND", {"command": names[command], "arg": 0}, now)
