"""A key change: the gateway, started with `[site] key_change = true`, offers every node it
hears an X25519 agreement under its current key (KEYOFFER), keeps the key agreed from the
node's answer (KEYX) in its key store before acknowledging it, accepts both keys until the
node is heard on the new one, journals the move (public halves only, never the key), and
from then on refuses the node's old key, across restarts too. `perimeter site rotate-key`
starts it and `perimeter site key-status` says who has moved; `perimeter node deploy
--config` gives a node a random key of its own. A real gateway on a pseudo-terminal and a
real broker; the node is a frame-level one that does what the firmware does
(`tests/gateway/agreeing_node.py`; the firmware's own run is the key-rotation scenario)."""

import json
import subprocess
import sys
from pathlib import Path

from gateway.config import load
from gateway.evidence.journal import Journal
from protocol.keys import NodeKey
from simulators.frame_node import SimNode
from tests.gateway.agreeing_node import AgreeingNode
from tests.gateway.harness import Broker, Pty, serial, start, stop, wait_until, write_site

PERIMETER = [sys.executable, "-m", "gateway.cli"]


def _start_key_change(config_path: Path) -> None:
    out = subprocess.run(
        [*PERIMETER, "site", "rotate-key", "--config", str(config_path)], capture_output=True, text=True, check=True
    ).stdout
    assert "key_change = true" in out, out
    text = config_path.read_text()
    config_path.write_text(text.replace("[site]\n", "[site]\nkey_change = true\n", 1))


def _status(config_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PERIMETER, "site", "key-status", "--config", str(config_path)], capture_output=True, text=True
    )


async def test_every_node_heard_agrees_a_new_key_and_its_old_key_is_then_refused(
    tmp_path: Path, broker: Broker
) -> None:
    pty = Pty(tmp_path / "ttyFENCE")
    config_path = write_site(tmp_path, broker.port, transports=serial(("fence", pty.link)), nodes=[1, 2])
    _start_key_change(config_path)
    assert _status(config_path).returncode == 2  # no journal yet: the gateway has not run with it
    config = load(config_path)
    node, laggard = AgreeingNode(1), AgreeingNode(2)
    old_key = node.key
    gateway, task = await start(config_path)
    heard: list[str] = []
    pty.write(node.fence())  # a climb under the current key: accepted and acked
    await wait_until(lambda: heard.extend(node.hear(pty.read())) or "ACK" in heard)
    pty.write(node.heartbeat())  # a heartbeat wants no ACK: its downlink slot carries the offer
    await wait_until(lambda: heard.extend(node.hear(pty.read())) or "KEYOFFER" in heard)
    pty.write(node.answers[0])  # the node's half, sealed under its current key
    await wait_until(lambda: heard.extend(node.hear(pty.read())) or heard.count("ACK") == 2)
    assert node.epoch == 1 and node.key is not old_key  # the ACK made the node take the agreed key
    pty.write(node.fence())  # the same node on its agreed key
    await wait_until(lambda: heard.extend(node.hear(pty.read())) or heard.count("ACK") == 3)
    assert heard == ["ACK", "KEYOFFER", "ACK", "ACK"]
    pty.write(laggard.heartbeat())  # still on its old key: accepted too, and offered the agreement
    await wait_until(lambda: laggard.hear(pty.read()) == ["KEYOFFER"])
    stolen = SimNode(1, ctr=node.ctr + 5)  # someone holding node 1's old key
    pty.write(stolen.heartbeat())
    await wait_until(lambda: gateway.pipeline.counters["fence"]["bad_tag"] == 1)
    await stop(gateway, task)

    gateway, task = await start(config_path)  # a restart: the store, not memory, says which key
    pty.write(SimNode(1, ctr=node.ctr + 10).heartbeat())
    await wait_until(lambda: gateway.pipeline.counters["fence"]["bad_tag"] == 1)
    pty.write(node.heartbeat())
    await wait_until(lambda: gateway.pipeline.counters["fence"]["frames_ok"] == 1)
    await stop(gateway, task)

    journal_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("journal.sqlite*"))
    rows = list(Journal(config.journal).entries())
    agreed = [r.data for r in rows if r.kind == "key_agreed"]
    assert [(a["node_id"], a["epoch"]) for a in agreed] == [(1, 1)]
    assert [(r.node_id, r.data["epoch"]) for r in rows if r.kind == "rekey"] == [(1, 1)]
    assert node.key.k_enc.hex().encode() not in journal_bytes and node.key.k_enc not in journal_bytes
    assert len([r for r in rows if r.kind == "event"]) == 2  # both climbs, one per key, none lost
    store_path = tmp_path / "node-keys.json"
    assert store_path.stat().st_mode & 0o077 == 0
    store = json.loads(store_path.read_text())
    assert store["nodes"]["1"]["epoch"] == 1 and bytes.fromhex(store["nodes"]["1"]["key"])[:16] == node.key.k_enc
    assert "2" in store["offers"] and "2" not in store["nodes"]  # offered, not yet answered
    status = _status(config_path)
    assert status.returncode == 1 and "1 of 2 nodes moved" in status.stdout, status.stdout


async def test_a_node_deployed_with_the_config_gets_a_key_no_site_key_derives(tmp_path: Path, broker: Broker) -> None:
    pty = Pty(tmp_path / "ttyFENCE")
    config_path = write_site(tmp_path, broker.port, transports=serial(("fence", pty.link)), nodes=[1, 2])
    gateway, task = await start(config_path)
    deploy = [*PERIMETER, "node", "deploy", "--board", "esp32", "--config", str(config_path), "--node-id", "2"]
    deploy += ["--port", "/dev/ttyUSB9", "--out", str(tmp_path / "build" / "node"), "--dry-run"]
    out = subprocess.run(deploy, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    identity = json.loads((tmp_path / "build" / "identity-2.json").read_text())
    assert identity["site_id"] == load(config_path).site_id  # from the config: no --site-id to forget
    node = SimNode(2)
    derived = node.key
    node.key = NodeKey(bytes.fromhex(identity["node_key"]))
    assert node.key.k_mac != derived.k_mac
    await wait_until(
        lambda: (gateway.check_supervision() or True) and gateway.pipeline.keyring.store.key(2) is not None
    )
    pty.write(node.heartbeat())
    await wait_until(lambda: gateway.pipeline.counters["fence"]["frames_ok"] == 1)
    node.key = derived  # whoever holds the site key: nothing of node 2 any more
    pty.write(node.heartbeat())
    await wait_until(lambda: gateway.pipeline.counters["fence"]["bad_tag"] == 1)
    await stop(gateway, task)
