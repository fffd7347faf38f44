"""A change is made in memory only if it is made durable: when the journal cannot take it,
the alarm book, the walk tests and the downlinks stay as they were, and the operator can try
again. (Issue: an alarm acknowledged and cleared in memory while its journal rows were lost.)

The gateway runs in the test's process on a real SQLite journal; the failure is real too:
another connection holding the journal's write lock, as a stuck backup or a second gateway
started by mistake would."""

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import load
from gateway.daemon import Gateway
from gateway.evidence.journal import Journal
from gateway.ingest.pipeline import Reception
from tests.gateway.harness import SimNode, write_site


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    gateway = Gateway(load(write_site(tmp_path, 1883))).open()
    yield gateway
    gateway.journal.close()


def climb(gateway: Gateway, node: SimNode) -> str:
    """A climb framed in, its fence window closed: the intrusion alarm's id."""
    now = time.time()
    gateway.on_stream(node.fence(peak=3000), Reception("fence", now))
    gateway.check_supervision(now + 1)
    (alarm,) = gateway.alarms.book.open_alarms()
    return alarm.alarm_id


def request(gateway: Gateway, command: str, **fields: object) -> dict[str, object] | None:
    return gateway.requests.handle("j.smith", command, json.dumps(fields).encode())


def rows(gateway: Gateway, kind: str) -> list[dict[str, object]]:
    return [r.data for r in Journal(gateway.config.journal).entries() if r.kind == kind]


class WriteLock:
    """Another connection holding the journal's write lock until released."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        self.db.execute("COMMIT")
        self.db.close()


def test_an_acknowledgement_that_cannot_be_journalled_leaves_the_alarm_active(gateway: Gateway) -> None:
    alarm_id = climb(gateway, SimNode(1))
    gateway.journal._db.execute("PRAGMA busy_timeout = 100")  # give up on the lock quickly
    lock = WriteLock(str(gateway.config.journal))
    assert request(gateway, "ack", alarm_id=alarm_id, note="camera 4 shows nobody") is None
    assert gateway.transactions.last_error == "database is locked"  # what the operator is told
    lock.release()
    alarm = gateway.alarms.book.alarms[alarm_id]
    assert alarm.state == "active" and alarm.acknowledged_by is None and alarm.note is None
    assert [r["action"] for r in rows(gateway, "alarm")] == ["raised"]
    # Once the journal takes writes again, the same request goes through, once.
    answer = request(gateway, "ack", alarm_id=alarm_id, note="camera 4 shows nobody")
    assert answer is not None and answer["status"] == "ok"
    assert [r["action"] for r in rows(gateway, "alarm")] == ["raised", "acknowledged"]
    assert gateway.alarms.book.alarms[alarm_id].acknowledged_by == "j.smith"


def test_a_walk_test_whose_transaction_fails_silences_nothing(gateway: Gateway) -> None:
    node = SimNode(1)
    gateway.on_stream(node.heartbeat(), Reception("fence", time.time()))  # heard: reachable
    payload = json.dumps({"operator": "j.smith", "node_id": 1, "minutes": 60}).encode()

    def walk_test_then_fail() -> None:
        # The desk has started the walk test and sealed its COMMAND; a later step of the same
        # transaction fails (as a full disk at COMMIT does).
        decision = gateway.desk.handle("walk_test", payload, time.time())
        assert decision.response["status"] == "ok"
        gateway._apply(decision)
        assert gateway.recorder.walk_tests and gateway.downlinks.pending
        raise OSError(28, "No space left on device")

    assert gateway.durably("a walk test", walk_test_then_fail) is False
    assert gateway.recorder.walk_tests == {}
    assert gateway.downlinks.pending == []  # the COMMAND sealed in the failed transaction is not sent
    assert [r["command"] for r in rows(gateway, "operator")] == []
    climb(gateway, node)  # and a climb is an alarm, not a test


def test_a_frame_that_cannot_be_journalled_leaves_the_nodes_state_as_it_was(gateway: Gateway) -> None:
    node = SimNode(2)
    gateway.on_stream(node.heartbeat(3600), Reception("fence", time.time()))
    before = gateway.registry.nodes[2].snapshot()
    gateway.journal._db.execute("PRAGMA busy_timeout = 100")  # give up on the lock quickly
    lock = WriteLock(str(gateway.config.journal))
    gateway.on_stream(node.heartbeat(3100), Reception("fence", time.time() + 5))  # nothing is acked
    lock.release()
    assert gateway.registry.nodes[2].snapshot() == before  # not heard, as far as anyone can tell
    gateway.on_stream(node.heartbeat(3100), Reception("fence", time.time() + 6))  # the node's retry
    assert gateway.registry.nodes[2].battery_mv == 3100


def test_a_note_that_is_valid_json_but_not_text_is_refused_and_changes_nothing(gateway: Gateway) -> None:
    alarm_id = climb(gateway, SimNode(1))
    payload = '{"alarm_id": "%s", "note": "\\ud800"}' % alarm_id
    answer = gateway.requests.handle("j.smith", "ack", payload.encode())
    assert answer is not None and answer["status"] == "error"
    assert answer["error"] == "request.note holds text that is not valid Unicode"
    assert gateway.alarms.book.alarms[alarm_id].state == "active"
    assert [(r["command"], r["status"]) for r in rows(gateway, "operator")] == [("ack", "error")]
    assert Journal(gateway.config.journal).verify().ok
