"""The journal's hash chain: how a row is serialized and hashed, so that any edit, insertion or
deletion shows (`hash = SHA-256(prev_hash || canonical row)`). Whoever checks an export
needs only this module."""

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


# One encoder for every row: json.dumps with options builds a new one per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_data(data: dict[str, Any]) -> str:
    """A row's data as stored and hashed: sorted, compact JSON."""
    return _CANONICAL.encode(data)


def canonical(row: dict[str, Any]) -> bytes:
    """The bytes a row's hash covers: all its fields as sorted, compact JSON."""
    return _CANONICAL.encode(row).encode()


_PLAIN = re.compile(r'[^"\\\x00-\x1f]*')


def _j(value: Any) -> str:
    # json.dumps for the row's scalars, without its cost for the common plain strings.
    if isinstance(value, str) and _PLAIN.fullmatch(value):
        return '"%s"' % value
    return json.dumps(value, ensure_ascii=False)


def _canonical_stored(seq: int, ts: str, kind: str, node_id: int | None, event_id: str | None, data_text: str) -> bytes:
    # Exactly canonical() of the row, built around the already serialized data so an event
    # is serialized once, not three times, on the hot path.
    j = _j

    return (
        '{"data":%s,"event_id":%s,"kind":%s,"node_id":%s,"seq":%d,"ts":%s}'
        % (data_text, j(event_id), j(kind), j(node_id), seq, j(ts))
    ).encode()


def row_hash(prev_hash: str, row: dict[str, Any]) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical(row)).hexdigest()


def _stored_hash(
    prev_hash: str, seq: int, ts: str, kind: str, node_id: int | None, event_id: str | None, data_text: str
) -> str:
    return hashlib.sha256(
        bytes.fromhex(prev_hash) + _canonical_stored(seq, ts, kind, node_id, event_id, data_text)
    ).hexdigest()


@dataclass(frozen=True)
class Entry:
    seq: int
    ts: str
    kind: str
    node_id: int | None
    event_id: str | None
    data: dict[str, Any]
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts,
            "kind": self.kind,
            "node_id": self.node_id,
            "event_id": self.event_id,
            "data": self.data,
            "hash": self.hash,
        }
