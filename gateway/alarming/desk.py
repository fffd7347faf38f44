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

Downlinks go the way the node was last heard, after the request is journalled; the node
answers a CONFIG with a HELLO carrying the new config id.
"""

import json
from typing import TYPE_CHECKING, Any

from gateway.alarming.alarms import OperatorError
from gateway.outputs import topics
from protocol.messages import BY_NAME, COMMAND, CONFIG_KEYS, KINDS

if TYPE_CHECKING:
    from gateway.daemon import Gateway

MAX_MASK_MINUTES = 7 * 24 * 60


class OperatorDesk:
    def __init__(self, gateway: "Gateway") -> None:
        self.gateway = gateway

    def handle(self, command: str, payload: bytes, now: float) -> dict[str, Any]:
        """Carry out one request (inside the caller's transaction); returns the response."""
        transaction = None
        operator = None
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
            data = handler(request, operator, now)
            response = {"data": data, "status": "ok", "error": None, "transaction": transaction}
        except OperatorError as exc:
            response = {"data": None, "status": "error", "error": str(exc), "transaction": transaction}
        self.gateway.journal.append(
            "operator",
            {
                "command": command,
                "operator": operator,
                "request": payload.decode("utf-8", "replace")[:2000],
                "status": response["status"],
                "error": response["error"],
                "transaction": transaction,
            },
        )
        return response

    @staticmethod
    def _text(request: dict[str, Any], key: str) -> str:
        value = request.get(key)
        if not isinstance(value, str) or not value.strip():
            raise OperatorError("%r is required" % key)
        return value

    def _ack(self, request: dict[str, Any], operator: str, now: float) -> dict[str, Any]:
        change = self.gateway.alarms.book.acknowledge(
            self._text(request, "alarm_id"), operator, request.get("note") or "", now
        )
        self.gateway.alarm_changes([change])
        return change.alarm.as_json()

    def _clear(self, request: dict[str, Any], operator: str, now: float) -> dict[str, Any]:
        change = self.gateway.alarms.book.clear(
            self._text(request, "alarm_id"), operator, request.get("note") or "", now
        )
        self.gateway.alarm_changes([change])
        return change.alarm.as_json()

    def _mask(self, request: dict[str, Any], operator: str, now: float) -> dict[str, Any]:
        zone = self._text(request, "zone")
        if zone not in {z.name for z in self.gateway.config.perimeter.zones}:
            raise OperatorError("no zone %r" % zone)
        minutes = request.get("minutes")
        if not isinstance(minutes, int | float) or isinstance(minutes, bool) or not 0 < minutes <= MAX_MASK_MINUTES:
            raise OperatorError("'minutes' must be a number of minutes up to %d" % MAX_MASK_MINUTES)
        mask = self.gateway.alarms.book.mask(zone, operator, request.get("reason") or "", now + minutes * 60, now)
        data = {"zone": zone, "operator": operator, "reason": mask.reason, "until": mask.until}
        self.gateway.journal.set_retained(topics.mask(self.gateway.prefix, zone), json.dumps(data).encode())
        return data

    def _unmask(self, request: dict[str, Any], operator: str, now: float) -> dict[str, Any]:
        zone = self._text(request, "zone")
        self.gateway.alarms.book.unmask(zone, operator)
        self.gateway.journal.set_retained(topics.mask(self.gateway.prefix, zone), b"")
        return {"zone": zone, "unmasked_by": operator}

    def _alarms(self, request: dict[str, Any], operator: str, now: float) -> list[dict[str, Any]]:
        return [a.as_json() for a in self.gateway.alarms.book.open_alarms()]

    def _node(self, request: dict[str, Any]) -> int:
        node_id = request.get("node_id")
        if not isinstance(node_id, int) or node_id not in self.gateway.registry.nodes:
            raise OperatorError("'node_id' must be one of the site's nodes")
        return node_id

    def _send(self, node_id: int, type_name: str, fields: dict[str, int]) -> dict[str, Any]:
        try:
            ctr = self.gateway.downlink(node_id, type_name, fields)
        except ValueError as exc:
            raise OperatorError(str(exc)) from None
        return {"node_id": node_id, "type": type_name.lower(), "fields": fields, "ctr": ctr}

    def _node_config(self, request: dict[str, Any], operator: str, now: float) -> dict[str, Any]:
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
        return self._send(node_id, "CONFIG", fields)

    def _walk_test(self, request: dict[str, Any], operator: str, now: float) -> dict[str, Any]:
        node_id = self._node(request)
        minutes = request.get("minutes")
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 0 <= minutes <= 1092:
            raise OperatorError("'minutes' must be an integer from 0 (end) to 1092")
        sent = self._send(node_id, "COMMAND", {"command": 4, "arg": minutes * 60})
        # The gateway marks the node's events as tests for as long as the node reports them.
        walk_tests = self.gateway.walk_tests
        before = walk_tests.get(node_id)
        walk_tests[node_id] = now + minutes * 60

        def undo() -> None:
            if before is None:
                walk_tests.pop(node_id, None)
            else:
                walk_tests[node_id] = before

        self.gateway.on_rollback(undo)
        return sent

    def _node_command(self, request: dict[str, Any], operator: str, now: float) -> dict[str, Any]:
        node_id = self._node(request)
        names = {name: code for code, name in COMMAND.items() if name != "walk_test"}
        command = request.get("command")
        if command not in names:
            raise OperatorError("'command' must be one of %s" % ", ".join(sorted(names)))
        return self._send(node_id, "COMMAND", {"command": names[command], "arg": 0})
