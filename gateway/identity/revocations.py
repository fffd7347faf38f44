"""Revoked node keys: the key generation each node must now use.

A node's key is on its flash: anyone with a USB cable and a REPL can read it and make a
node of their own that heartbeats forever and detects nothing. `perimeter node revoke N`
revokes node N's key generation here; the running gateway reads the file again when it
changes (`Gateway.check_supervision`), refuses frames under the revoked key, and raises a
`revoked_key` security alarm on each one (one report a minute). The file is only how the
command tells the gateway: each revocation the gateway applies is journalled, and the chain is
what it obeys. A restart applies every revocation the chain holds, whatever the file says, and
a file that lists less than the chain (deleted, or an older copy put back, to let a stolen key
in again) is a `revocations_tampered` security finding. The node is re-provisioned
with `perimeter node deploy --generation G`, whose key the revoked one says nothing about
(`protocol/keys.py`).

    {"7": {"generation": 1, "revoked_at": "2026-11-30T02:31:00Z", "reason": "enclosure found open"}}
"""

import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.evidence import chain_state

if TYPE_CHECKING:
    from gateway.evidence.journal import Journal
    from gateway.ingest.keyring import Keyring

log = logging.getLogger("perimeter.gateway")

MAX_GENERATION = 0xFF


class RevocationError(Exception):
    """The revocations file cannot be used; the message says why."""


@dataclass(frozen=True)
class Revocation:
    node_id: int
    generation: int  # the generation the node must use now; every one below is revoked
    revoked_at: str
    reason: str


def read_revocations(path: Path) -> dict[int, Revocation]:
    """Every node's revocation; none if the file does not exist."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RevocationError("%s: %s" % (path, exc)) from None
    if not isinstance(raw, dict):
        raise RevocationError("%s: expected an object of node ids" % path)
    out: dict[int, Revocation] = {}
    for key, entry in raw.items():
        try:
            node_id, generation = int(key), int(entry["generation"])
            revocation = Revocation(node_id, generation, str(entry.get("revoked_at", "")), str(entry.get("reason", "")))
        except (ValueError, TypeError, KeyError):
            raise RevocationError("%s: node %r: expected {generation, revoked_at, reason}" % (path, key)) from None
        if not 1 <= generation <= MAX_GENERATION:
            raise RevocationError("%s: node %d: generation %d outside 1..255" % (path, node_id, generation))
        out[node_id] = revocation
    return out


def revoke(path: Path, node_id: int, reason: str, now_iso: str) -> Revocation:
    """Revoke the node's current key generation; its new revocation (written before this
    returns, beside itself and renamed over the old file, readable by its owner alone)."""
    revocations = read_revocations(path)
    current = revocations.get(node_id)
    generation = (current.generation if current else 0) + 1
    if generation > MAX_GENERATION:
        raise RevocationError("node %d has used all 255 key generations: give the board a new node id" % node_id)
    revocations[node_id] = Revocation(node_id, generation, now_iso, reason)
    doc = {
        str(r.node_id): {"generation": r.generation, "revoked_at": r.revoked_at, "reason": r.reason}
        for r in sorted(revocations.values(), key=lambda r: r.node_id)
    }
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(doc, indent=1) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return revocations[node_id]


class RevocationWatch:
    """The revocations file as the running gateway sees it: read again whenever it changes,
    each new revocation applied to the keyring and journalled (who may forge what is
    evidence too). A file that cannot be read is logged and the last good one kept: the
    daemon never dies of it, and never forgets a revocation it already applied."""

    def __init__(
        self,
        path: Path | None,
        keyring: "Keyring",
        journal: "Journal",
        undo_on_rollback: Callable[[Callable[[], None]], None],
        last_ctr: dict[int, int] | None = None,
        on_tampered: Callable[[int, str], None] | None = None,
    ) -> None:
        self.path = path
        self.keyring = keyring
        self.journal = journal
        self.undo_on_rollback = undo_on_rollback
        self.last_ctr = last_ctr if last_ctr is not None else {}  # the pipeline's replay floor
        self.on_tampered = on_tampered  # node, detail: the file lists less than the chain
        self._seen: tuple[float, int] | None | str = "unread"  # the file's mtime and size when last read
        # What the chain already holds is obeyed from the start, whatever the file says now;
        # a restart journals none of it again.
        self._journalled = chain_state.journalled_revocations(journal)
        for node, generation in self._journalled.items():
            keyring.generation[node] = max(keyring.generation.get(node, 0), generation)
        self._told: dict[int, int] = {}  # node -> the file's generation already reported as short

    def poll(self) -> list[Revocation]:
        """Apply what changed since the last look (inside the caller's transaction)."""
        if self.path is None:
            return []
        try:
            stat = self.path.stat()
            seen: tuple[float, int] | None = (stat.st_mtime, stat.st_size)
        except FileNotFoundError:
            seen = None
        if seen == self._seen:
            return []
        try:
            revocations = read_revocations(self.path)
        except RevocationError as exc:
            log.error("revocations not applied: %s", exc)
            return []
        self._check_against_chain(revocations)
        before_seen, before = self._seen, dict(self.keyring.generation)
        before_journalled = dict(self._journalled)
        before_ctr: dict[int, int | None] = {}  # the counters this poll reset, as they were
        applied = []
        for revocation in revocations.values():
            node = revocation.node_id
            if revocation.generation > self.keyring.generation.get(node, 0):
                self.keyring.generation[node] = revocation.generation
                applied.append(revocation)
            if revocation.generation > self._journalled.get(node, 0):
                log.warning("node=%d key generations below %d revoked", node, revocation.generation)
                self.journal.append("revocation", asdict(revocation), node_id=node)
                self._journalled[node] = revocation.generation
                # Nobody had the new generation's key before now: no frame under it can be a
                # replay, and the board that gets it (a replacement, say) counts from zero.
                before_ctr.setdefault(node, self.last_ctr.get(node))
                self.last_ctr[node] = -1
                self.journal.reset_last_up(node)
        self._seen = seen

        def undo() -> None:
            self._seen = before_seen
            self.keyring.generation.clear()
            self.keyring.generation.update(before)
            self._journalled.clear()
            self._journalled.update(before_journalled)
            for node, ctr in before_ctr.items():
                if ctr is None:
                    self.last_ctr.pop(node, None)
                else:
                    self.last_ctr[node] = ctr

        self.undo_on_rollback(undo)
        return applied

    def _check_against_chain(self, revocations: dict[int, Revocation]) -> None:
        """Report each node the file lists below what the chain holds (once per state of it)."""
        for node, generation in sorted(self._journalled.items()):
            in_file = revocations[node].generation if node in revocations else 0
            if in_file >= generation or self._told.get(node) == in_file:
                continue
            self._told[node] = in_file
            detail = (
                "the revocations file %s lists node %d at key generation %d, the journal at %d: "
                "the file was deleted or an older copy put back; the journal's revocation stands"
                % (self.path, node, in_file, generation)
            )
            log.error("%s", detail)
            if self.on_tampered is not None:
                self.on_tampered(node, detail)
