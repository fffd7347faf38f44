"""Requests waiting for a second pair of eyes (`gateway/alarming/permissions.py` says which).

A request that silences something is held here, as it was asked and checked, until a
supervisor other than the one who asked approves it (then the desk carries it out under both
names), refuses it, or the site's approval time runs out. The table is bounded: an account
cannot fill the gateway's memory with requests nobody approves.

Sans-I/O. The desk decides; the daemon adds and removes entries in the same transaction as
the journal rows that say so (`Approvals.add`/`remove` with undo), so the table never holds a
request the journal does not, nor loses one it does. Each account has a share of the table of
its own (`MAX_PENDING_EACH`): before, one operator's 64 masks blocked all four-eyes work for
everyone until they lapsed. A request whose asker's account was removed (or may no longer ask
for it) lapses: it is never carried out on a later approval. Pending requests do not survive a
gateway restart: they lapse, and the journal says they were asked.
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.alarming.alarms import OperatorError

MAX_PENDING = 512  # in all: bounded memory, whatever the number of accounts
MAX_PENDING_EACH = 8  # one account's share


@dataclass(frozen=True)
class Pending:
    request_id: str
    command: str
    request: dict[str, Any]  # what was asked, as it was checked
    requested_by: str
    why: str  # why it needs approval
    asked_at: float
    expires: float

    def as_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "command": self.command,
            "request": {k: v for k, v in self.request.items() if k not in ("operator", "nonce", "sent_at")},
            "requested_by": self.requested_by,
            "why": self.why,
            "asked_at": self.asked_at,
            "expires": self.expires,
        }


class Approvals:
    def __init__(self, approval_s: float) -> None:
        self.approval_s = approval_s
        self.pending: dict[str, Pending] = {}

    def ask(self, command: str, request: dict[str, Any], operator: str, why: str, now: float) -> Pending:
        """A new pending request (not yet in the table: the daemon adds it once journalled)."""
        if len(self.pending) >= MAX_PENDING:
            raise OperatorError("%d requests are already waiting for approval: approve or refuse some" % MAX_PENDING)
        mine = [p for p in self.pending.values() if p.requested_by == operator]
        if any(p.command == command and p.request == request for p in mine):
            raise OperatorError("the same request is already waiting for approval")
        if len(mine) >= MAX_PENDING_EACH:
            raise OperatorError(
                "%d of your requests are already waiting for approval: have them approved or let them lapse"
                % MAX_PENDING_EACH
            )
        return Pending("r-" + secrets.token_hex(4), command, request, operator, why, now, now + self.approval_s)

    def decide(self, request_id: Any, operator: str, now: float, approving: bool) -> Pending:
        """The pending request `operator` approves or refuses (not yet removed)."""
        pending = self.pending.get(request_id) if isinstance(request_id, str) else None
        if pending is None:
            raise OperatorError("no request %r is waiting for approval" % (request_id,))
        if now >= pending.expires:
            raise OperatorError("request %s lapsed: nobody approved it in time; ask again" % request_id)
        if approving and pending.requested_by == operator:
            raise OperatorError("%s asked for this: a different account must approve it" % operator)
        return pending

    def lapsed(self, now: float, may_still_ask: Callable[[str, str], bool] = lambda who, what: True) -> list[Pending]:
        """The requests nobody approved in time, and those whose asker may no longer ask
        for them (the account removed, or its role changed)."""
        return [p for p in self.pending.values() if now >= p.expires or not may_still_ask(p.requested_by, p.command)]

    def add(self, pending: Pending) -> None:
        self.pending[pending.request_id] = pending

    def remove(self, request_id: str) -> Pending | None:
        return self.pending.pop(request_id, None)

    def listing(self) -> list[dict[str, Any]]:
        return [p.as_json() for p in sorted(self.pending.values(), key=lambda p: p.asked_at)]
