"""A journal exported for whoever must keep or check it: JSON lines or CSV, ending with the
chain head to compare with `perimeter journal verify` on the gateway."""

import csv
import io
import json
from typing import TextIO

from gateway.evidence.journal import Journal


def export(journal: Journal, out: TextIO, *, since: str | None = None, fmt: str = "jsonl") -> int:
    """Write the journal (from `since`, an ISO timestamp prefix) as JSON lines or CSV; rows written.

    The last line (JSONL) or a trailing comment row (CSV) carries the chain head, so whoever
    receives the export can check it against `perimeter journal verify` on the gateway.
    """
    count = 0
    if fmt == "jsonl":
        for entry in journal.entries(since):
            out.write(json.dumps(entry.as_json(), sort_keys=True) + "\n")
            count += 1
        out.write(json.dumps({"chain_head": journal.head, "rows": count}) + "\n")
    elif fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(["seq", "ts", "kind", "node_id", "event_id", "data", "hash"])
        for entry in journal.entries(since):
            writer.writerow(
                [
                    entry.seq,
                    entry.ts,
                    entry.kind,
                    entry.node_id if entry.node_id is not None else "",
                    entry.event_id or "",
                    json.dumps(entry.data, sort_keys=True),
                    entry.hash,
                ]
            )
            count += 1
        writer.writerow(["# chain_head", journal.head, "rows", count])
    else:
        raise ValueError("format must be jsonl or csv, not %r" % fmt)
    return count


def export_text(journal: Journal, since: str | None = None, fmt: str = "jsonl") -> str:
    buffer = io.StringIO()
    export(journal, buffer, since=since, fmt=fmt)
    return buffer.getvalue()
