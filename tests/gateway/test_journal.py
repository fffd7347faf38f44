"""The journal: a hash chain that shows any edit, insertion or deletion, and durable state."""

import csv
import io
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.clock import utc_iso
from gateway.evidence.export import export, export_text
from gateway.evidence.hashchain import GENESIS, _canonical_stored, canonical, canonical_data, row_hash
from gateway.evidence.journal import Journal

PERIMETER = str(Path(sys.executable).with_name("perimeter"))


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "journal.sqlite")
    for i in range(1, 6):
        j.append("event", {"n": i}, node_id=7, event_id="site:7:0:%d" % i, ts="2026-11-22T10:00:0%d.000Z" % i)
    j.append("operator", {"action": "ack", "who": "officer 12", "note": "wind"}, ts="2026-11-22T10:00:09.000Z")
    j.commit()
    return j


def tamper(path: Path, sql: str) -> None:
    db = sqlite3.connect(path)
    db.execute(sql)
    db.commit()
    db.close()


def test_file_is_sqlite_in_wal_mode(journal: Journal) -> None:
    db = sqlite3.connect(journal.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_each_row_hashes_the_one_before(journal: Journal) -> None:
    entries = list(journal.entries())
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    first = entries[0]
    row = {"seq": 1, "ts": first.ts, "kind": "event", "node_id": 7, "event_id": "site:7:0:1", "data": {"n": 1}}
    assert first.hash == row_hash(GENESIS, row)
    assert journal.verify().ok and journal.verify().rows == 6 and journal.verify().head == entries[-1].hash


@pytest.mark.parametrize(
    "sql, problem",
    [
        ("UPDATE journal SET data = '{\"n\": 99}' WHERE seq = 3", "row 3 was altered"),
        ("UPDATE journal SET ts = '2026-11-22T11:00:00.000Z' WHERE seq = 6", "row 6 was altered"),
        ("DELETE FROM journal WHERE seq = 2", "row 2 missing"),
        ("DELETE FROM journal WHERE seq = 6", None),  # the tail: caught against the published head
    ],
)
def test_verify_detects_edits_and_deletions(journal: Journal, sql: str, problem: str | None) -> None:
    head_before = journal.head
    journal.close()
    tamper(journal.path, sql)
    reopened = Journal(journal.path)
    result = reopened.verify()
    if problem is None:
        assert result.ok and result.head != head_before  # the head a police export carried no longer matches
    else:
        assert not result.ok and problem in result.problem


def test_a_rewritten_row_with_a_recomputed_hash_breaks_the_next_link(journal: Journal) -> None:
    journal.close()
    db = sqlite3.connect(journal.path)
    prev = db.execute("SELECT hash FROM journal WHERE seq = 2").fetchone()[0]
    row = {
        "seq": 3,
        "ts": "2026-11-22T10:00:03.000Z",
        "kind": "event",
        "node_id": 7,
        "event_id": "site:7:0:3",
        "data": {"n": 0},
    }
    db.execute("UPDATE journal SET data = ?, hash = ? WHERE seq = 3", (json.dumps({"n": 0}), row_hash(prev, row)))
    db.commit()
    result = Journal(journal.path).verify()
    assert not result.ok and result.problem == "row 4 does not follow row 3"


def test_an_event_id_is_journalled_once(journal: Journal) -> None:
    assert journal.append("event", {"n": 1}, event_id="site:7:0:1") is False
    journal.commit()
    assert journal.verify().rows == 6


def test_counters_and_outbox_survive_reopening(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    j.set_last_up(7, 41)
    j.set_last_up(7, 40)  # never goes back
    assert [j.take_down_ctr(7), j.take_down_ctr(7)] == [1, 2]
    j.enqueue("a", b"1")
    j.enqueue("b", b"2")
    j.commit()
    j.close()
    j = Journal(tmp_path / "j.sqlite")
    assert j.last_counters() == {7: 41} and j.take_down_ctr(7) == 3
    assert [(m.topic, m.payload) for m in j.outbox()] == [("a", b"1"), ("b", b"2")]


def test_a_rolled_back_transaction_stores_no_counter_and_never_reuses_a_downlink_one(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    j.set_last_up(7, 10)
    assert j.take_down_ctr(7) == 1
    j.commit()
    j.set_last_up(7, 11)
    assert j.take_down_ctr(7) == 2  # sealed into an ACK that is never sent
    j.rollback()
    j.commit()
    assert j.take_down_ctr(7) == 3  # a gap, never the 2 again
    j.commit()
    j.close()
    j = Journal(tmp_path / "j.sqlite")
    assert j.last_counters() == {7: 10} and j.take_down_ctr(7) == 4


def test_rolled_back_rows_leave_no_trace(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    j.append("event", {"n": 1})
    j.commit()
    head = j.head
    j.append("event", {"n": 2})
    j.rollback()
    assert j.head == head and j.verify().ok and j.verify().rows == 1


def test_export_jsonl_and_csv_since_a_time_carry_the_chain_head(journal: Journal) -> None:
    lines = export_text(journal, since="2026-11-22T10:00:04", fmt="jsonl").splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["seq"] for r in rows[:-1]] == [4, 5, 6]
    assert rows[-1] == {"chain_head": journal.head, "rows": 3}
    out = io.StringIO()
    assert export(journal, out, fmt="csv") == 6
    table = list(csv.reader(io.StringIO(out.getvalue())))
    assert table[0] == ["seq", "ts", "kind", "node_id", "event_id", "data", "hash"]
    assert table[6][2] == "operator" and json.loads(table[6][5])["who"] == "officer 12"
    assert table[-1] == ["# chain_head", journal.head, "rows", "6"]


def test_cli_verify_and_export(journal: Journal) -> None:
    journal.close()
    ok = subprocess.run(
        [PERIMETER, "journal", "verify", "--journal", str(journal.path)], capture_output=True, text=True
    )
    assert ok.returncode == 0 and "6 rows, chain intact" in ok.stdout
    exported = subprocess.run(
        [
            PERIMETER,
            "journal",
            "export",
            "--journal",
            str(journal.path),
            "--format",
            "csv",
            "--since",
            "2026-11-22T10:00:05",
        ],
        capture_output=True,
        text=True,
    )
    assert exported.returncode == 0 and len(exported.stdout.splitlines()) == 1 + 2 + 1
    tamper(journal.path, "DELETE FROM journal WHERE seq = 3")
    broken = subprocess.run(
        [PERIMETER, "journal", "verify", "--journal", str(journal.path)], capture_output=True, text=True
    )
    assert broken.returncode == 1 and "BROKEN" in broken.stdout and "row 3 missing" in broken.stdout


def test_a_file_that_is_not_a_journal_is_named(tmp_path: Path) -> None:
    bogus = tmp_path / "not.sqlite"
    bogus.write_text("hello, not a database at all" * 100)
    result = subprocess.run([PERIMETER, "journal", "verify", "--journal", str(bogus)], capture_output=True, text=True)
    assert result.returncode == 2 and "cannot be used" in result.stderr and "Traceback" not in result.stderr


@given(
    st.text(),
    st.text(),
    st.one_of(st.none(), st.integers(0, 65535)),
    st.one_of(st.none(), st.text()),
    st.dictionaries(st.text(), st.one_of(st.integers(), st.text(), st.none())),
)
def test_the_fast_row_serialization_is_exactly_the_canonical_json(
    ts: str, kind: str, node_id: int | None, event_id: str | None, data: dict[str, Any]
) -> None:
    row = {"seq": 9, "ts": ts, "kind": kind, "node_id": node_id, "event_id": event_id, "data": data}
    assert _canonical_stored(9, ts, kind, node_id, event_id, canonical_data(data)) == canonical(row)


@settings(max_examples=2000)
@given(st.floats(min_value=-2e9, max_value=4e9, allow_nan=False))
def test_timestamps_are_written_exactly_as_datetime_writes_them(timestamp: float) -> None:
    expected = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert utc_iso(timestamp) == expected
