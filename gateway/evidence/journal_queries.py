"""What the console reads back from the journal, beside the chain: one alarm's rows, the events
its evidence names, the clearings of a period. Read-only queries over `Journal.select`, as
`chain_state.py` reads the chain."""

import json

from gateway.evidence.hashchain import Entry
from gateway.evidence.journal import Journal

_ROW = "SELECT seq, ts, kind, node_id, event_id, data, hash FROM journal"


def _entries(rows: list[tuple[object, ...]]) -> list[Entry]:
    return [Entry(q, ts, k, n, e, json.loads(str(d)), h) for q, ts, k, n, e, d, h in rows]  # type: ignore[arg-type]


def about_alarm(journal: Journal, alarm_id: str, limit: int = 2000) -> list[Entry]:
    """One alarm's rows, oldest first: each change of it, and each request that named it
    (acknowledgements refused, clearings waiting for approval)."""
    query = _ROW + (
        " WHERE (kind = 'alarm' AND json_extract(data, '$.alarm.alarm_id') = ?)"
        " OR (kind = 'operator' AND instr(data, ?) > 0) ORDER BY seq LIMIT ?"
    )
    return _entries(journal.select(query, alarm_id, json.dumps(alarm_id)[1:-1], limit))


def events(journal: Journal, event_ids: list[str]) -> list[Entry]:
    """The rows journalled under these event ids, oldest first."""
    found: list[Entry] = []
    for start in range(0, len(event_ids), 500):  # SQLite's limit on parameters
        chunk = event_ids[start : start + 500]
        found += _entries(journal.select(_ROW + " WHERE event_id IN (%s)" % ",".join("?" * len(chunk)), *chunk))
    return sorted(found, key=lambda e: e.seq)


def cleared_since(journal: Journal, since_ts: str) -> list[tuple[str, str | None, str | None]]:
    """(when, zone, reason code) of every alarm cleared since a UTC time."""
    query = (
        "SELECT ts, json_extract(data, '$.alarm.zone'), json_extract(data, '$.alarm.reason') FROM journal "
        "WHERE kind = 'alarm' AND ts >= ? AND json_extract(data, '$.action') = 'cleared'"
    )
    return [(str(ts), zone, reason) for ts, zone, reason in journal.select(query, since_ts)]
