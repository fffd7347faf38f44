"""The journal: an append-only, hash-chained SQLite log, and the gateway's durable state.

One SQLite file in WAL mode holds, and commits together:
- `journal`: every accepted event, state change and security finding, each row chained to
  the one before (`hash = SHA-256(prev_hash || canonical row)`), so `verify` detects any
  edit, insertion or deletion;
- `counters`: the last uplink counter accepted per node and the next downlink counter, so
  replays are refused across restarts and ACKs never reuse a counter;
- `outbox`: MQTT messages not yet acknowledged by the broker (deleted only after PUBACK);
- `retained`: the latest retained message per topic (node state, availability), republished
  after every reconnect.

Because an event, its counter and its outbox message are one transaction, an ACK sent after
`commit()` means the event survives a `kill -9` and will reach the broker.
"""

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.clock import WALL, Clock
from gateway.evidence.hashchain import GENESIS, Entry, _stored_hash, canonical_data, row_hash
from gateway.process_limits import private_to_group

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq       INTEGER PRIMARY KEY,
    ts        TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    node_id   INTEGER,
    event_id  TEXT    UNIQUE,
    data      TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_ts ON journal (ts);
CREATE TABLE IF NOT EXISTS counters (
    node_id   INTEGER PRIMARY KEY,
    last_up   INTEGER,
    next_down INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS nodes (
    node_id   INTEGER PRIMARY KEY,
    state     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id        INTEGER PRIMARY KEY,
    topic     TEXT    NOT NULL,
    payload   BLOB    NOT NULL,
    qos       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS retained (
    topic     TEXT PRIMARY KEY,
    payload   BLOB NOT NULL,
    version   INTEGER NOT NULL
);
-- MAX(version) on every write, and "what changed since" on every publish round: without
-- this index each is a scan of every retained topic (thousands with 500 nodes).
CREATE INDEX IF NOT EXISTS retained_version ON retained (version);
CREATE TABLE IF NOT EXISTS deliveries (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    sink      TEXT    NOT NULL,
    payload   BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_sink ON deliveries (sink, id);
"""


class JournalError(Exception):
    """The journal file cannot be used (named in the message)."""


_UPSERT_LAST_UP = (
    "INSERT INTO counters (node_id, last_up) VALUES (?, ?) "
    "ON CONFLICT(node_id) DO UPDATE SET last_up = MAX(COALESCE(last_up, -1), excluded.last_up)"
)
_UPSERT_NEXT_DOWN = (
    "INSERT INTO counters (node_id, next_down) VALUES (?, ?) "
    "ON CONFLICT(node_id) DO UPDATE SET next_down = excluded.next_down"
)


@dataclass(frozen=True)
class Verification:
    ok: bool
    rows: int
    head: str
    problem: str = ""


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    topic: str
    payload: bytes
    qos: int


class Journal:
    """The gateway's SQLite file. Writes happen between `begin()` and `commit()`."""

    def __init__(self, path: str | Path, *, durable: bool = True, clock: Clock = WALL) -> None:
        self.path = Path(path)
        self.clock = clock  # what stamps each row
        self.durable = durable
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed row is on disk before the node is acked, power cut or not.
            self._db.execute("PRAGMA synchronous=%s" % ("FULL" if durable else "NORMAL"))
            self._db.executescript(SCHEMA)
            head = self._db.execute("SELECT hash, seq FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
            private_to_group(self.path)  # evidence, not for every local account
        except sqlite3.DatabaseError as exc:
            raise JournalError("journal %s cannot be used: %s" % (self.path, exc)) from None
        self.observer: Callable[[Entry], None] | None = None  # told of each row appended
        self._head: str = head[0] if head else GENESIS
        self._seq: int = head[1] if head else 0
        self._next_down: dict[int, int] = {}
        # Counter changes of the open transaction, written once per node at its commit (a
        # burst of frames from one node is one row update, not two per frame).
        self._last_up_dirty: dict[int, int] = {}
        self._next_down_dirty: dict[int, int] = {}
        self._in_tx = False
        self._head_at_begin = self._head
        self._seq_at_begin = self._seq

    def close(self) -> None:
        self._db.close()

    # -- transactions ----------------------------------------------------------------------

    def begin(self) -> None:
        if not self._in_tx:
            self._db.execute("BEGIN IMMEDIATE")
            self._in_tx = True
            self._head_at_begin = self._head
            self._seq_at_begin = self._seq

    def commit(self) -> None:
        if self._in_tx:
            self._write_counters()
            self._db.execute("COMMIT")
            self._in_tx = False

    def rollback(self) -> None:
        """Undo the open transaction. Never raises: it runs in the handlers of failures, and
        after some (a full disk at COMMIT) SQLite has already rolled back on its own."""
        self._last_up_dirty.clear()
        self._next_down_dirty.clear()
        if self._in_tx:
            self._in_tx = False
            self._head = self._head_at_begin
            self._seq = self._seq_at_begin
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")

    # -- the chain ---------------------------------------------------------------------------

    def append(
        self,
        kind: str,
        data: dict[str, Any] | None = None,
        *,
        data_text: str | None = None,
        node_id: int | None = None,
        event_id: str | None = None,
        ts: str | None = None,
    ) -> bool:
        """Append a row (its data as a dict, or already `canonical_data`); False, and nothing
        written, if `event_id` is already journalled."""
        self.begin()
        if data_text is None:
            data_text = canonical_data(data or {})
        seq = self._seq + 1
        ts = ts or self.clock.utc_now()
        digest = _stored_hash(self._head, seq, ts, kind, node_id, event_id, data_text)
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO journal (seq, ts, kind, node_id, event_id, data, prev_hash, hash) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (seq, ts, kind, node_id, event_id, data_text, self._head, digest),
        )
        if cursor.rowcount == 0:  # the event_id is already there: a retransmission
            return False
        self._head = digest
        self._seq = seq
        if self.observer is not None:
            self.observer(Entry(seq, ts, kind, node_id, event_id, data or json.loads(data_text), digest))
        return True

    def recent(
        self, kinds: list[str] | None = None, node_id: int | None = None, before: int | None = None, limit: int = 200
    ) -> list[Entry]:
        """The newest rows first, optionally of some kinds, one node, before a row number."""
        query = "SELECT seq, ts, kind, node_id, event_id, data, hash FROM journal WHERE 1=1"
        args: list[Any] = []
        if kinds:
            query += " AND kind IN (%s)" % ",".join("?" * len(kinds))
            args += kinds
        if node_id is not None:
            query += " AND node_id = ?"
            args.append(node_id)
        if before is not None:
            query += " AND seq < ?"
            args.append(before)
        query += " ORDER BY seq DESC LIMIT ?"
        args.append(limit)
        return [
            Entry(seq, ts, kind, nid, eid, json.loads(data), digest)
            for seq, ts, kind, nid, eid, data, digest in self._db.execute(query, args)
        ]

    def has_event(self, event_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM journal WHERE event_id = ?", (event_id,)).fetchone() is not None

    def event(self, event_id: str) -> dict[str, Any] | None:
        """The data journalled under `event_id`, if any."""
        row = self._db.execute("SELECT data FROM journal WHERE event_id = ?", (event_id,)).fetchone()
        return json.loads(row[0]) if row else None

    @property
    def head(self) -> str:
        return self._head

    @property
    def head_seq(self) -> int:
        return self._seq

    def select(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows of a read-only query (`gateway/evidence/chain_state.py` reads the chain with it)."""
        return self._db.execute(sql, args).fetchall()

    def hash_at(self, seq: int) -> str | None:
        """The hash of row `seq` as stored now (what a witness's checkpoint is held against)."""
        row = self._db.execute("SELECT hash FROM journal WHERE seq = ?", (seq,)).fetchone()
        return str(row[0]) if row else None

    def entries(self, since: str | None = None, kinds: tuple[str, ...] = ()) -> Iterator[Entry]:
        # `kinds`: e.g. a handover reads alarms and silences, not a month of node events.
        where = ["ts >= ?"] * bool(since) + ["kind IN (%s)" % ",".join("?" * len(kinds))] * bool(kinds)
        query = "SELECT seq, ts, kind, node_id, event_id, data, hash FROM journal" + " WHERE " * bool(where)
        args: tuple[Any, ...] = ((since,) if since else ()) + kinds
        rows = self._db.execute(query + " AND ".join(where) + " ORDER BY seq", args)
        for seq, ts, kind, node_id, event_id, data, digest in rows:
            yield Entry(seq, ts, kind, node_id, event_id, json.loads(data), digest)

    def verify(self) -> Verification:
        """Recompute the chain from the first row; the first row that does not hold, if any."""
        prev = GENESIS
        expected_seq = 1
        rows = 0
        cursor = self._db.execute(
            "SELECT seq, ts, kind, node_id, event_id, data, prev_hash, hash FROM journal ORDER BY seq"
        )
        for seq, ts, kind, node_id, event_id, data, prev_hash, digest in cursor:
            rows += 1
            if seq != expected_seq:
                return Verification(
                    False, rows, prev, "row %d missing (next is %d): rows were deleted" % (expected_seq, seq)
                )
            if prev_hash != prev:
                return Verification(False, rows, prev, "row %d does not follow row %d" % (seq, seq - 1))
            try:
                row = {
                    "seq": seq,
                    "ts": ts,
                    "kind": kind,
                    "node_id": node_id,
                    "event_id": event_id,
                    "data": json.loads(data),
                }
            except ValueError:
                return Verification(False, rows, prev, "row %d holds data that is not JSON" % seq)
            if row_hash(prev, row) != digest:
                return Verification(False, rows, prev, "row %d was altered (its hash does not match)" % seq)
            prev = digest
            expected_seq += 1
        return Verification(True, rows, prev)

    # -- counters --------------------------------------------------------------------------

    def last_counters(self) -> dict[int, int]:
        rows = self._db.execute("SELECT node_id, last_up FROM counters WHERE last_up IS NOT NULL")
        return {node: ctr for node, ctr in rows}

    def set_last_up(self, node_id: int, ctr: int) -> None:
        """The node's last accepted uplink counter (committed with the transaction)."""
        self.begin()
        self._last_up_dirty[node_id] = max(ctr, self._last_up_dirty.get(node_id, ctr))

    def reset_last_up(self, node_id: int) -> None:
        """A node's uplink counter starts afresh (its key revoked: the next generation's board)."""
        self.begin()
        self._last_up_dirty.pop(node_id, None)
        self._db.execute("UPDATE counters SET last_up = -1 WHERE node_id = ?", (node_id,))

    def take_down_ctr(self, node_id: int) -> int:
        """The next downlink counter for a node, used up (committed with the transaction)."""
        self.begin()
        ctr = self._next_down.get(node_id)
        if ctr is None:
            row = self._db.execute("SELECT next_down FROM counters WHERE node_id = ?", (node_id,)).fetchone()
            ctr = int(row[0]) if row else 1
        # Cached ahead of the commit: a rollback can only leave a gap, never a reused counter.
        self._next_down[node_id] = ctr + 1
        self._next_down_dirty[node_id] = ctr + 1
        return ctr

    def _write_counters(self) -> None:
        for statement, dirty in ((_UPSERT_LAST_UP, self._last_up_dirty), (_UPSERT_NEXT_DOWN, self._next_down_dirty)):
            if dirty:
                self._db.executemany(statement, list(dirty.items()))
                dirty.clear()

    # -- node registry snapshot ------------------------------------------------------------------

    def save_node(self, node_id: int, state: dict[str, Any]) -> None:
        self.begin()
        self._db.execute("INSERT OR REPLACE INTO nodes (node_id, state) VALUES (?, ?)", (node_id, json.dumps(state)))

    def load_nodes(self) -> dict[int, dict[str, Any]]:
        return {node: json.loads(state) for node, state in self._db.execute("SELECT node_id, state FROM nodes")}

    # -- outbox and retained -------------------------------------------------------------------

    def enqueue(self, topic: str, payload: bytes, qos: int = 1) -> None:
        self.begin()
        self._db.execute("INSERT INTO outbox (topic, payload, qos) VALUES (?, ?, ?)", (topic, payload, qos))

    def outbox(self, after_id: int = 0, limit: int = 100) -> list[OutboxMessage]:
        rows = self._db.execute(
            "SELECT id, topic, payload, qos FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        )
        return [OutboxMessage(i, t, bytes(p), q) for i, t, p, q in rows]

    def outbox_done(self, message_ids: list[int]) -> None:
        """The broker acknowledged these: forget them, in one transaction.

        Without waiting for the disk (synchronous=NORMAL for this commit): should power fail
        before the WAL reaches the disk, the rows come back and the messages are published
        again, with the same event_id, which at-least-once allows. Waiting here would cost a
        disk flush per PUBACK."""
        if not message_ids:
            return
        durable = self.durable
        if durable:
            self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            self.begin()
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in message_ids])
            self.commit()
        finally:
            if durable:
                self._db.execute("PRAGMA synchronous=FULL")

    def outbox_depth(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def deliver(self, sink: str, payload: bytes) -> None:
        """Queue a message for an integration (Milestone, webhook), in the caller's
        transaction: it is delivered if and only if what caused it is committed."""
        self.begin()
        self._db.execute("INSERT INTO deliveries (sink, payload) VALUES (?, ?)", (sink, payload))

    def next_delivery(self, sink: str) -> tuple[int, bytes] | None:
        row = self._db.execute(
            "SELECT id, payload FROM deliveries WHERE sink = ? ORDER BY id LIMIT 1", (sink,)
        ).fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def delivered(self, delivery_id: int) -> None:
        self.begin()
        self._db.execute("DELETE FROM deliveries WHERE id = ?", (delivery_id,))
        self.commit()

    def deliveries_pending(self, sink: str) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM deliveries WHERE sink = ?", (sink,)).fetchone()[0])

    def set_retained(self, topic: str, payload: bytes) -> None:
        self.begin()
        self._db.execute(
            "INSERT INTO retained (topic, payload, version) VALUES (?, ?, "
            "(SELECT COALESCE(MAX(version), 0) + 1 FROM retained)) "
            # Unchanged state is not written again, so it is not republished either.
            "ON CONFLICT(topic) DO UPDATE SET payload = excluded.payload, version = excluded.version "
            "WHERE payload IS NOT excluded.payload",
            (topic, payload),
        )

    def retained(self, after_version: int = 0) -> list[tuple[int, str, bytes]]:
        rows = self._db.execute(
            "SELECT version, topic, payload FROM retained WHERE version > ? ORDER BY version", (after_version,)
        )
        return [(v, t, bytes(p)) for v, t, p in rows]
