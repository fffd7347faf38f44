"""A node's key read off its flash (a USB cable and the REPL) makes a node of the thief's that
heartbeats forever and detects nothing. `perimeter node revoke` revokes that key: the running
gateway reads the revocations file at its next round, journals it, refuses every frame under
the revoked key with a `revoked_key` security alarm, and takes the node back once it is
re-provisioned with the next key generation."""

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import load
from gateway.daemon import Gateway
from gateway.evidence.journal import Journal
from gateway.identity.revocations import RevocationError, read_revocations
from gateway.ingest.pipeline import Reception
from gateway.tools.node_tool import identity_json
from protocol.keys import NodeKey, derive_node_key
from tests.gateway.harness import SITE_KEY, SimNode, write_site

PERIMETER = [sys.executable, "-m", "gateway.cli"]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, Gateway]]:
    config_path = write_site(tmp_path, 1883)
    gateway = Gateway(load(config_path)).open()
    yield config_path, gateway
    gateway.journal.close()


def _revoke(config_path: Path, node: int) -> str:
    return subprocess.run(
        [
            *PERIMETER,
            "node",
            "revoke",
            "--node-id",
            str(node),
            "--config",
            str(config_path),
            "--reason",
            "enclosure open",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_a_revoked_key_is_refused_and_alarmed_until_the_node_is_reprovisioned(site: tuple[Path, Gateway]) -> None:
    config_path, gateway = site
    now = time.time()
    stolen = SimNode(2)  # generation 0: the key on the board's flash, and now in the thief's hands
    gateway.on_stream(stolen.heartbeat(), Reception("fence", now))
    assert gateway.registry.nodes[2].last_seen == now
    out = _revoke(config_path, 2)
    assert "generation 0 is revoked" in out and "--generation 1" in out
    revocations = config_path.parent / "revocations.json"
    assert revocations.stat().st_mode & 0o077 == 0 and read_revocations(revocations)[2].generation == 1
    gateway.check_supervision(now + 1)  # the next round reads the file
    for k in range(3):
        gateway.on_stream(stolen.heartbeat(), Reception("fence", now + 2 + k))
    assert gateway.registry.nodes[2].last_seen == now  # nothing from the thief is believed
    assert gateway.pipeline.counters["fence"]["revoked"] == 3
    (alarm,) = [a for a in gateway.alarms.book.open_alarms() if a.category == "security"]
    assert (alarm.detail["kind"], alarm.detail["node_id"]) == ("revoked_key", 2)
    rows = list(Journal(gateway.config.journal).entries())
    (revocation,) = [r.data for r in rows if r.kind == "revocation"]
    assert (revocation["node_id"], revocation["generation"], revocation["reason"]) == (2, 1, "enclosure open")
    # Re-provisioned with generation 1, the board is the node again.
    identity = json.loads(identity_json(derive_node_key(SITE_KEY, 2, 1), 1, 2))
    assert bytes.fromhex(identity["node_key"]) == derive_node_key(SITE_KEY, 2, 1) != derive_node_key(SITE_KEY, 2)
    board = SimNode(2, ctr=stolen.ctr)
    board.key = NodeKey(bytes.fromhex(identity["node_key"]))
    gateway.on_stream(board.heartbeat(), Reception("fence", now + 10))
    assert gateway.registry.nodes[2].last_seen == now + 10
    gateway.check_supervision(now + 11)  # the file has not changed: nothing journalled again
    assert len([r for r in Journal(gateway.config.journal).entries() if r.kind == "revocation"]) == 1


def test_a_replacement_board_under_the_next_generation_counts_from_zero(site: tuple[Path, Gateway]) -> None:
    """A board found opened is replaced: the new one's frame counter starts again. Under the
    revoked key nothing is believed; under the next generation's, which nobody had before the
    revocation, its first frames are taken, and still after a gateway restart."""
    config_path, gateway = site
    now = time.time()
    old = SimNode(2, ctr=5000)
    gateway.on_stream(old.fence(peak=3000), Reception("fence", now))
    assert gateway.pipeline.last_ctr[2] == 5000
    _revoke(config_path, 2)
    gateway.check_supervision(now + 1)
    replacement = SimNode(2, ctr=1)
    replacement.key = NodeKey.for_node(SITE_KEY, 2, 1)
    gateway.on_stream(replacement.heartbeat(), Reception("fence", now + 2))
    assert gateway.registry.nodes[2].last_seen == now + 2 and gateway.pipeline.counters["fence"]["replay"] == 0
    gateway.journal.close()
    restarted = Gateway(load(config_path)).open()  # the file is read again: nothing journalled again
    try:
        restarted.on_stream(replacement.fence(peak=3000), Reception("fence", now + 3))
        assert restarted.pipeline.counters["fence"]["replay"] == 0 and restarted.pipeline.last_ctr[2] == 2
        restarted.on_stream(old.fence(peak=3000), Reception("fence", now + 4))  # the old key: refused
        assert restarted.pipeline.counters["fence"]["revoked"] == 1
        rows = [r.kind for r in restarted.journal.entries()]
        assert rows.count("revocation") == 1
    finally:
        restarted.journal.close()
        gateway.journal = Journal(gateway.config.journal)  # for the fixture's close


def test_a_broken_revocations_file_is_refused_and_the_last_good_one_kept(site: tuple[Path, Gateway]) -> None:
    config_path, gateway = site
    _revoke(config_path, 3)
    gateway.check_supervision(time.time())
    assert gateway.pipeline.keyring.generation == {3: 1}
    (config_path.parent / "revocations.json").write_text("{not json")
    gateway.check_supervision(time.time())  # logged, not applied, the daemon goes on
    assert gateway.pipeline.keyring.generation == {3: 1}
    with pytest.raises(RevocationError):
        read_revocations(config_path.parent / "revocations.json")
    status = subprocess.run(
        [*PERIMETER, "node", "revoke", "--node-id", "9", "--config", str(config_path)], capture_output=True, text=True
    )
    assert status.returncode == 2 and "node 9 is not in" in status.stderr


def test_a_revocation_lives_in_the_chain_not_in_the_file_beside_it(site: tuple[Path, Gateway]) -> None:
    # Before, deleting revocations.json and restarting let the stolen key in again, and
    # nothing was logged (issue 31, point 3).
    config_path, gateway = site
    now = time.time()
    _revoke(config_path, 2)
    gateway.check_supervision(now)
    gateway.journal.close()
    (config_path.parent / "revocations.json").unlink()  # the insider's whole attack
    gateway = Gateway(load(config_path)).open()
    try:
        stolen = SimNode(2)
        gateway.on_stream(stolen.heartbeat(), Reception("fence", now + 5))
        assert gateway.pipeline.counters["fence"]["revoked"] == 1 and 2 not in {
            n for n, node in gateway.registry.nodes.items() if node.last_seen
        }
        found = [r.data for r in Journal(gateway.config.journal).entries() if r.kind == "security"]
        tampered = [f for f in found if f["kind"] == "revocations_tampered"]
        assert len(tampered) == 1 and "lists node 2 at key generation 0, the journal at 1" in tampered[0]["detail"]
        kinds = {(a.detail["kind"], a.detail["node_id"]) for a in gateway.alarms.book.open_alarms()}
        assert ("revocations_tampered", 2) in kinds
        gateway.check_supervision(now + 6)  # reported once, not at every round
        again = [r for r in Journal(gateway.config.journal).entries() if r.kind == "security"]
        assert sum(r.data["kind"] == "revocations_tampered" for r in again) == 1
    finally:
        gateway.journal.close()
        gateway.journal = Journal(gateway.config.journal)  # for the fixture's close
