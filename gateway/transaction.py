"""The one way a change becomes durable: journalled in one SQLite transaction, committed, and
only then let out of the gateway (ACKs and downlinks sent, the MQTT sink woken, open pages
told). A change that cannot be committed is rolled back everywhere: the journal, the alarm
book and whatever a step asked to have undone, so memory never holds what the journal lost."""

import logging
from collections.abc import Callable

from gateway.evidence.journal import Journal

log = logging.getLogger("perimeter.gateway")


class Transactions:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.on_commit: list[Callable[[], None]] = []  # after every commit, in order
        self.on_rollback: list[Callable[[], None]] = []  # after every rollback, in order
        self._undo: list[Callable[[], object]] = []  # this transaction's own undos, newest last
        self.last_error = ""  # why the last change could not be made durable (for the operator)

    def durably(self, what: str, change: Callable[[], object]) -> bool:
        """Run `change()` (it journals rows, counters, outbox messages and retained state)
        and commit. If anything fails, all of it is rolled back, logged as `what`, and False
        returned: the daemon goes on."""
        try:
            change()
            self.journal.commit()
        except Exception as exc:
            self.rollback()
            log.exception("could not journal %s", what)
            self.last_error = str(exc) or type(exc).__name__
            return False
        self._undo.clear()
        for hook in self.on_commit:
            hook()
        return True

    def undo_on_rollback(self, undo: Callable[[], object]) -> None:
        """Run `undo` if the open transaction is rolled back: a change to memory that must not
        outlive a failed commit."""
        self._undo.append(undo)

    def rollback(self) -> None:
        self.journal.rollback()
        while self._undo:
            self._undo.pop()()
        for hook in self.on_rollback:
            hook()
