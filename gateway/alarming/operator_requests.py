"""Operators' requests made durable: what the desk decides (`gateway/alarming/desk.py`)
applied and journalled with the account's name in one transaction, then answered on
`P/bridge/response/<account>/<command>`. Requests waiting for approval are published,
retained, on `P/bridge/pending`, and each one that lapses is journalled.

The shell between the daemon's transaction helper and the sans-I/O desk: the approvals
table and the walk tests change in memory only with an undo registered for a rollback.
"""

import json
from collections.abc import Callable
from typing import Any

from gateway.alarming.desk import CONFIG_BIT, Decision, OperatorDesk
from gateway.alarming.reach import READS, Reach, ReachLimits
from gateway.alarming.records import AlarmRecords
from gateway.clock import Clock
from gateway.evidence import chain_state
from gateway.evidence.journal import Journal
from gateway.ingest.downlinks import Downlinks
from gateway.outputs import topics
from gateway.transaction import Transactions


class OperatorRequests:
    def __init__(
        self,
        desk: OperatorDesk,
        journal: Journal,
        records: AlarmRecords,
        downlinks: Downlinks,
        walk_tests: dict[int, float],
        transactions: Transactions,
        prefix: str,
        clock: Clock,
        reach_limits: ReachLimits | None = None,
    ) -> None:
        self.desk = desk
        self.journal = journal
        self.records = records
        self.downlinks = downlinks
        self.walk_tests = walk_tests
        self.transactions = transactions
        self.prefix = prefix
        self.clock = clock
        self.on_change: list[Callable[[], None]] = []  # the approvals or the masks changed (staged for the pages)
        self.reach = Reach(reach_limits or ReachLimits())
        # Publishes an answer that changed nothing (a read, a throttled request) without the journal.
        self.answer: Callable[[str, str, bytes], None] | None = None

    def handle(
        self, account: str, command: str, payload: bytes, mqtt: bool = False, retained: bool = False
    ) -> dict[str, Any] | None:
        """`account`'s request (from its own MQTT topic, or the dashboard's session): the
        response; None if it could not be journalled (then nothing was changed).

        Within the account's own rate (`reach.py`); a request beyond it is refused unread,
        and only the first refusal of a window is journalled. A read is answered without a
        journal row, and counted."""
        now = self.clock.now()
        reach = self.reach
        if not reach.admit(account, now):
            response = {
                "data": None,
                "status": "error",
                "error": "%s sent more than %g requests a second: wait a moment" % (account, reach.limits.per_s),
                "transaction": _transaction(payload),
            }
            if reach.first_refusal(account):
                row = {"command": command, "operator": account, "status": "error", "error": response["error"]}
                self.transactions.durably("a throttled request", lambda: self.journal.append("operator", row))
            self._answer(account, command, response, mqtt)
            return response
        if command in READS:
            decision = self.desk.handle(command, payload, now, account, mqtt, retained)
            reach.read(account, now)
            self._answer(account, command, decision.response, mqtt)
            return decision.response
        answered: list[dict[str, Any]] = []

        def record() -> None:
            now = self.clock.now()
            decision = self.desk.handle(command, payload, now, account, mqtt, retained)
            self._apply(decision)
            self.records.publish_zones(now)
            answer = json.dumps(decision.response).encode()
            self.journal.enqueue(topics.response(self.prefix, account, command), answer)
            answered.append(decision.response)

        return answered[0] if self.transactions.durably("operator request %s" % command, record) else None

    def _answer(self, account: str, command: str, response: dict[str, Any], mqtt: bool) -> None:
        """An answer that changed nothing: straight to the broker, never through the journal."""
        if mqtt and self.answer is not None:
            self.answer(account, topics.response(self.prefix, account, command), json.dumps(response).encode())

    def tally(self, now: float, everything: bool = False) -> None:
        """Each account's reads and throttled requests, one row per account and window
        (inside the supervision round's transaction)."""
        for row in self.reach.due(now, everything):
            self.journal.append("operator", row)

    def distrust_masks(self) -> None:
        """At start: a mask in the retained table that no `mask` row of the journal put there
        (written into the SQLite file by hand) is dropped, not obeyed, and journalled as a
        security finding."""
        journalled = chain_state.journalled_masks(self.journal)
        book = self.desk.book
        forged = [
            m
            for m in book.masks.values()
            if not (j := journalled.get(m.zone))
            or (j["operator"], j["reason"], j["until"]) != (m.operator, m.reason, m.until)
        ]

        def record() -> None:
            for mask in forged:
                del book.masks[mask.zone]
                detail = "a mask of zone %s by %r is in the retained table but not in the journal: ignored"
                self.journal.append(
                    "security",
                    {"kind": "untrusted_mask", "zone": mask.zone, "detail": detail % (mask.zone, mask.operator)},
                )
                self.journal.set_retained(topics.mask(self.prefix, mask.zone), b"")

        if forged:
            self.transactions.durably("untrusted masks", record)

    def lapse(self, now: float) -> None:
        """Requests nobody approved in time: journalled as lapsed, then gone (inside the
        supervision round's transaction)."""
        lapsed = self.desk.approvals.lapsed(now, self.desk.may_still_ask)
        for pending in lapsed:
            row = {"command": "lapsed", "operator": None, **pending.as_json()}
            if now < pending.expires:
                row["why_lapsed"] = "%s may no longer ask for this (account removed or its role changed)" % (
                    pending.requested_by
                )
            self.journal.append("operator", row)
            self._remove(pending.request_id)
        if lapsed:
            self._desk_changed(pending=True)

    def _apply(self, decision: Decision) -> None:
        if decision.downlink is not None:
            node_id, message, fields = decision.downlink
            data = decision.response["data"]
            (data["result"] if "result" in data else data)["ctr"] = self.downlinks.after_commit(
                node_id, message, fields
            )
        self.records.write(decision.changes)
        self.journal.append("operator", decision.row)  # the request's row follows what it changed
        for zone, mask in decision.masks.items():  # in the chain, so that the retained copy can be checked
            self.journal.append("mask", {"zone": zone, "mask": mask})
            self.journal.set_retained(topics.mask(self.prefix, zone), json.dumps(mask).encode() if mask else b"")
        if decision.walk_test is not None:
            node_id, until = decision.walk_test
            self._keep(self.walk_tests, node_id)
            self.walk_tests[node_id] = until
        self._supervisory(decision)
        approvals = self.desk.approvals
        asked = decision.asked
        if asked is not None:
            approvals.add(asked)
            self.transactions.undo_on_rollback(lambda: approvals.remove(asked.request_id))
        if decision.decided is not None:
            self._remove(decision.decided.request_id)
        pending = asked is not None or decision.decided is not None
        if pending or decision.masks:
            self._desk_changed(pending)

    def _desk_changed(self, pending: bool) -> None:
        """The approvals table (`pending`) or the masks changed: retained, and staged for the pages."""
        if pending:
            self.journal.set_retained(topics.pending(self.prefix), json.dumps(self.desk.approvals.listing()).encode())
        for listener in self.on_change:
            listener()

    def _supervisory(self, decision: Decision) -> None:
        """Each mask, walk test and disarm that starts or ends, published as it happens."""
        who = {"by": decision.row["operator"], "approved_by": decision.approved_by}
        if decision.decided is not None:
            who["by"] = decision.decided.requested_by
        happened: list[dict[str, Any]] = []
        for zone, mask in decision.masks.items():
            happened.append(
                dict(who, what="mask_started" if mask else "mask_ended", zone=zone, until=(mask or {}).get("until"))
            )
        if decision.walk_test is not None:
            node_id, until = decision.walk_test
            started = until > self.clock.now()
            happened.append(
                dict(who, what="walk_test_started" if started else "walk_test_ended", node_id=node_id, until=until)
            )
        if decision.downlink is not None and decision.downlink[1] == "CONFIG":
            node_id, _, fields = decision.downlink
            if fields["set"] & CONFIG_BIT["armed"]:
                happened.append(dict(who, what="armed" if fields["armed"] else "disarmed", node_id=node_id))
        for event in happened:
            self.journal.enqueue(topics.supervisory_events(self.prefix), json.dumps(event).encode())

    def _remove(self, request_id: str) -> None:
        approvals = self.desk.approvals
        removed = approvals.remove(request_id)
        if removed is not None:
            self.transactions.undo_on_rollback(lambda: approvals.add(removed))

    def _keep(self, table: dict[int, float], key: int) -> None:
        before = table.get(key)

        def undo() -> None:
            if before is None:
                table.pop(key, None)
            else:
                table[key] = before

        self.transactions.undo_on_rollback(undo)


def _transaction(payload: bytes) -> Any:
    """The `transaction` a request names, so a refused one can be matched to its answer (a
    short request only: a throttled one is refused without reading much of it)."""
    if len(payload) > 4096:
        return None
    try:
        request = json.loads(payload)
    except ValueError:
        return None
    transaction = request.get("transaction") if isinstance(request, dict) else None
    return transaction if isinstance(transaction, str | int) and not isinstance(transaction, bool) else None
