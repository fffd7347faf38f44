"""Operator commands from the security office, over MQTT request/response topics or from the
dashboard, under an identity the gateway did not take from the request.

Over MQTT a request is JSON on `P/bridge/request/<account>/<command>`; the broker's ACL lets
only that account publish there (`perimeter site init` writes it), so the topic says who is
asking. The answer goes to `P/bridge/response/<account>/<command>` as
`{"data", "status": "ok"|"pending"|"error", "error", "transaction"}`. A request carries
`sent_at` and a `nonce` (`request_guard.py`); one that names another `operator` than its
account is refused. The dashboard hands over the logged-in account. Every request and its
outcome is journalled with the account's name, whether it succeeded or not, so nothing an
operator does, or tries to do, goes unrecorded.

    ack     {"alarm_id", "note"}               acknowledge an alarm (a note is required)
    clear   {"alarm_id", "note", "reason"}     clear an acknowledged alarm, saying what it was
                                               (a reason code of `outcomes.py`)
    mask    {"zone", "reason", "minutes"}      mask a zone for maintenance, with an expiry
    unmask  {"zone"}                           lift a mask before it expires
    alarms  {}                                 the open alarms
    pending {}                                 the requests waiting for approval
    approve {"request_id"}                     carry out another account's request
    refuse  {"request_id", "note"}             turn it down
    node_config  {"node_id", "heartbeat_s", "fence_threshold", "cut_threshold",
                  "acoustic_snr_db", "impact_threshold", "armed"}   any subset: a CONFIG downlink
    walk_test    {"node_id", "minutes"}        every detection reported for that long (0 ends);
                                               the events carry "test": true and raise no alarm
    node_command {"node_id", "command"}        "ping", "reboot" or "self_test"

Who may ask for what, and what waits for a second account's approval, is
`permissions.py`; the waiting requests are `approvals.py`; the site's caps on masks, walk
tests and heartbeats are `Policy`.

The desk is sans-I/O: `handle(command, payload, now, account)` returns a `Decision` (the
response, the operator row to journal, the alarm changes, masks, the downlink, the walk test
and the approvals table's change) and the daemon applies all of it in one transaction. Alarm
changes are made in the alarm book, which keeps them only if that transaction commits.
Downlinks go the way the node was last heard, after the request is journalled; the node
answers a CONFIG with a HELLO carrying the new config id.
"""

import json
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from gateway.alarming import outcomes
from gateway.alarming.alarms import AlarmBook, Change, OperatorError
from gateway.alarming.approvals import Approvals, Pending
from gateway.alarming.permissions import may_ask, needs_approval
from gateway.alarming.request_guard import RequestGuard, check_text
from protocol.messages import BY_NAME, COMMAND, CONFIG_KEYS, KINDS

# Each downlink uses up one of the node's 65,536 downlink counters for good: unlimited pings
# would exhaust them in hours, after which the node's events could no longer be acknowledged.
MAX_DOWNLINKS = 6  # per node ...
DOWNLINK_WINDOW_S = 60.0  # ... within this
MAX_WALK_TEST_MINUTES = 1092  # the COMMAND's u16 argument, in seconds
CONFIG_BIT = {name: 1 << bit for bit, name in CONFIG_KEYS.items()}  # CONFIG's `set` mask, by field


class NotPermitted(OperatorError):
    """The account's role may not ask for this (`permissions.py`)."""


@dataclass(frozen=True)
class Policy:
    """Four eyes and the site's limits on silencing (`[operators]` in gateway.toml)."""

    approval_minutes: float = 15.0  # a request waits this long for a second account
    max_mask_minutes: float = 12 * 60.0
    max_walk_test_minutes: int = 60
    max_heartbeat_s: int = 300
    request_max_age_s: float = 60.0


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
    asked: Pending | None = None  # a request now waiting for approval
    decided: Pending | None = None  # a waiting request approved or refused now
    approved_by: str | None = None  # carrying out `decided` on this account's approval


class OperatorDesk:
    def __init__(
        self,
        book: AlarmBook,
        zones: Collection[str],
        nodes: Collection[int],
        reachable: Callable[[int], bool],
        roles: Callable[[str], str | None],
        policy: Policy = Policy(),
    ) -> None:
        self.book = book
        self.zones = zones
        self.nodes = nodes
        self.reachable = reachable  # whether a downlink can reach the node (it has been heard)
        self.roles = roles  # account -> its role (None: no such account)
        self.policy = policy
        self.approvals = Approvals(60 * policy.approval_minutes)
        self.guard = RequestGuard(policy.request_max_age_s)
        self._sent: dict[int, deque[float]] = {}  # node -> when its recent downlinks were decided

    def handle(
        self, command: str, payload: bytes, now: float, account: str, mqtt: bool = True, retained: bool = False
    ) -> Decision:
        """What one request from `account` comes to (`mqtt`: heard on the broker, where it must
        be fresh and new); nothing is journalled or sent here."""
        transaction = None
        decision = Decision({}, {})
        try:
            try:
                request = json.loads(payload.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise OperatorError("the request is not JSON") from None
            if not isinstance(request, dict):
                raise OperatorError("the request must be a JSON object")
            transaction = request.get("transaction")
            check_text(request)
            named = request.get("operator", account)
            if named != account:
                raise OperatorError("this request comes from %s: it cannot act as %r" % (account, named))
            role = self.roles(account)
            if role is None:
                raise OperatorError("%s has no account at this gateway" % account)
            handler = getattr(self, "_" + command, None)
            if handler is None or command.startswith("_"):
                raise OperatorError("unknown command %r" % command)
            if not may_ask(role, command):
                raise NotPermitted("%s is a %s: a %s may not %s" % (account, role, role, command.replace("_", " ")))
            if mqtt:
                self.guard.check(request, now, retained, account)
            data = handler(decision, request, account, now)
            status = "pending" if decision.asked is not None else "ok"
            decision.response = {"data": data, "status": status, "error": None, "transaction": transaction}
        except OperatorError as exc:
            decision = Decision({"data": None, "status": "error", "error": str(exc), "transaction": transaction}, {})
            if isinstance(exc, NotPermitted):
                decision.response["forbidden"] = True  # the role, not the request, is the problem
        decision.row = {
            "command": command,
            "operator": account,
            "request": payload.decode("utf-8", "replace")[:2000],
            "status": decision.response["status"],
            "error": decision.response["error"],
            "transaction": transaction,
        }
        if decision.decided is not None:  # both names, in the row of the act that needed them
            decision.row["requested_by"] = decision.decided.requested_by
            decision.row["request_id"] = decision.decided.request_id
            decision.row["approved_by"] = decision.approved_by
        if decision.asked is not None:
            decision.row["request_id"] = decision.asked.request_id
            decision.row["why"] = decision.asked.why
        return decision

    def _waits(
        self,
        decision: Decision,
        command: str,
        request: dict[str, Any],
        operator: str,
        now: float,
        severity: int | None = None,
        category: str | None = None,
    ) -> dict[str, Any] | None:
        """Hold a silencing request for a second account's approval: what to answer, or None
        when it takes effect now (it needs none, or it is being carried out on approval)."""
        why = needs_approval(command, request, severity, category)
        if why is None or decision.approved_by is not None:
            return None
        decision.asked = self.approvals.ask(command, request, operator, why, now)
        return decision.asked.as_json()

    def may_still_ask(self, account: str, command: str) -> bool:
        """Whether `account` still exists with a role that may ask for `command`."""
        return may_ask(self.roles(account), command)

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
        alarm_id = self._text(request, "alarm_id")
        if not outcomes.is_reason(request.get("reason")):
            # Asked now, refused now: a clearing that cannot be counted is no clearing.
            raise OperatorError("clearing needs a reason code: one of %s" % ", ".join(outcomes.REASONS))
        alarm = self.book.alarms.get(alarm_id)
        if alarm is not None and alarm.state == "active" and decision.approved_by is None:
            # Asked now, refused now: not after a supervisor has been called to approve it.
            raise OperatorError("alarm %s must be acknowledged before it is cleared" % alarm_id)
        severity, category = (alarm.severity, alarm.category) if alarm else (None, None)
        waiting = self._waits(decision, "clear", request, operator, now, severity, category)
        if waiting is not None:
            return waiting
        change = self.book.clear(alarm_id, operator, request.get("note") or "", now, request["reason"])
        decision.changes.append(change)
        return change.alarm.as_json()

    def _mask(self, decision: Decision, request: dict[str, Any], operator: str, now: float) -> dict[str, Any]:
        zone = self._text(request, "zone")
        if zone not in self.zones:
            raise OperatorError("no zone %r" % zone)
        minutes, most = request.get("minutes"), self.policy.max_mask_minutes
        if not isinstance(minutes, int | float) or isinstance(minutes, bool) or not 0 < minutes <= most:
            raise OperatorError("'minutes' must be a number of minutes up to %g (the site's limit)" % most)
        self._text(request, "reason")
        waiting = self._waits(decision, "mask", request, operator, now)
        if waiting is not None:
            return waiting
        mask = self.book.mask(zone, operator, request["reason"], now + minutes * 60, now, decision.approved_by or "")
        data = {"zone": zone, "operator": operator, "reason": mask.reason, "until": mask.until}
        if decision.approved_by:
            data["approved_by"] = decision.approved_by
        decision.masks[zone] = data
        return data

    def _unmask(self, decision: Decision, request: dict[str, Any], operator: str, now: float) -> dict[str, Any]:
        zone = self._text(request, "zone")
        self.book.unmask(zone, operator)
        decision.masks[zone] = None
        return {"zone": zone, "unmasked_by": operator}

    def _pending(self, decision: Decision, request: dict[str, Any], operator: str, now: float) -> list[dict[str, Any]]:
        return self.approvals.listing()

    def _approve(self, decision: Decision, request: dict[str, Any], operator: str, now: float) -> dict[str, Any]:
        pending = self.approvals.decide(request.get("request_id"), operator, now, approving=True)
        if not self.may_still_ask(pending.requested_by, pending.command):
            raise OperatorError(
                "%s no longer has an account that may ask for this: request %s lapsed"
                % (pending.requested_by, pending.request_id)
            )
        decision.decided, decision.approved_by = pending, operator
        handler = getattr(self, "_" + pending.command)
        return {"approved": pending.as_json(), "result": handler(decision, pending.request, pending.requested_by, now)}

    def _refuse(self, decision: Decision, request: dict[str, Any], operator: str, now: float) -> dict[str, Any]:
        pending = self.approvals.decide(request.get("request_id"), operator, now, approving=False)
        decision.decided = pending
        return {"refused": pending.as_json(), "note": self._text(request, "note")}

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
        if chosen & CONFIG_BIT["heartbeat_s"] and fields["heartbeat_s"] > self.policy.max_heartbeat_s:
            raise OperatorError(
                "'heartbeat_s' above %d s would leave the node unsupervised longer than the site allows"
                % self.policy.max_heartbeat_s
            )
        waiting = self._waits(decision, "node_config", request, operator, now)
        if waiting is not None:
            return waiting
        fields["set"] = chosen
        fields["config_id"] = int(now) & 0xFFFF
        return self._send(decision, node_id, "CONFIG", fields, now)

    def _walk_test(self, decision: Decision, request: dict[str, Any], operator: str, now: float) -> dict[str, Any]:
        node_id = self._node(request)
        minutes, most = request.get("minutes"), min(self.policy.max_walk_test_minutes, MAX_WALK_TEST_MINUTES)
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 0 <= minutes <= most:
            raise OperatorError("'minutes' must be an integer from 0 (end) to %d (the site's limit)" % most)
        waiting = self._waits(decision, "walk_test", request, operator, now)
        if waiting is not None:
            return waiting
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
