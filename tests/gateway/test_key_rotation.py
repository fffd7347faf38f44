"""A site-key rotation: the gateway, started with the next epoch's key, sends every node it
hears its new key in a REKEY sealed under the current one, accepts both keys until the node
moves, journals the move, and from then on refuses the node's old key. `perimeter site
rotate-key` starts it and `perimeter site key-status` says who has moved. A real gateway on
a pseudo-terminal and a real broker; the node is a frame-level one that does what the
firmware does with a REKEY (`device/node.py`; the firmware's own run is the key-rotation
scenario)."""

import subprocess
import sys
from pathlib import Path

from gateway.config import load
from gateway.daemon import Gateway
from gateway.evidence.journal import Journal
from protocol.errors import FrameRejected
from protocol.framing import Deframer
from protocol.keys import NodeKey, derive_node_key, key_from_fields
from protocol.messages import BY_ID, DOWN
from protocol.packet import open_packet
from tests.gateway.harness import Broker, Pty, SimNode, serial, wait_until, write_site

PERIMETER = [sys.executable, "-m", "gateway.cli"]


class RekeyingNode(SimNode):
    """Opens its downlinks as the firmware does, and takes a REKEY's key for everything."""

    def __init__(self, node_id: int) -> None:
        super().__init__(node_id)
        self.downs = Deframer()
        self.last_down: int | None = None
        self.epoch = 0

    def hear(self, data: bytes) -> list[str]:
        names = []
        self.downs.feed(data)
        while (packet := self.downs.next_packet()) is not None:
            try:
                opened = open_packet(self.key, self.site_id, packet, DOWN, self.last_down)
            except FrameRejected:
                names.append("refused")
                continue
            self.last_down = opened.ctr
            names.append(BY_ID[opened.type_id].name)
            if BY_ID[opened.type_id].name == "REKEY":
                self.key, self.epoch = NodeKey(key_from_fields(opened.fields)), opened.fields["epoch"]
        return names


def _start_rotation(tmp_path: Path, config_path: Path) -> Path:
    out = subprocess.run(
        [*PERIMETER, "site", "rotate-key", "--config", str(config_path)], capture_output=True, text=True, check=True
    ).stdout
    key_file = tmp_path / "site-epoch1.key"
    assert key_file.exists() and (key_file.stat().st_mode & 0o077) == 0 and 'next_key_file = "site-epoch1.key"' in out
    text = config_path.read_text()
    config_path.write_text(text.replace("[site]\n", '[site]\nnext_key_file = "site-epoch1.key"\n', 1))
    return key_file


async def test_every_node_heard_is_rekeyed_and_its_old_key_then_refused(tmp_path: Path, broker: Broker) -> None:
    pty = Pty(tmp_path / "ttyFENCE")
    config_path = write_site(tmp_path, broker.port, transports=serial(("fence", pty.link)), nodes=[1, 2])
    key_file = _start_rotation(tmp_path, config_path)
    status = subprocess.run([*PERIMETER, "site", "key-status", "--config", str(config_path)], capture_output=True)
    assert status.returncode == 2  # no journal yet: the gateway has not run with the rotation
    config = load(config_path)
    node, laggard = RekeyingNode(1), RekeyingNode(2)
    async with Gateway(config) as gateway:
        await wait_until(lambda: gateway.transports["fence"].state == "up")
        pty.write(node.fence())  # a climb under the old key: accepted and acked
        heard: list[str] = []
        await wait_until(lambda: heard.extend(node.hear(pty.read())) or "ACK" in heard)
        pty.write(node.heartbeat())  # a heartbeat wants no ACK: its downlink slot carries the REKEY
        await wait_until(lambda: heard.extend(node.hear(pty.read())) or "REKEY" in heard)
        assert heard == ["ACK", "REKEY"] and node.epoch == 1
        assert node.key.k_mac == NodeKey.for_node(bytes.fromhex(key_file.read_text().strip()), 1).k_mac
        pty.write(node.fence())  # the same node on its new key
        await wait_until(lambda: heard.extend(node.hear(pty.read())) or heard.count("ACK") == 2)
        pty.write(laggard.heartbeat())  # still on the old key: accepted too, and sent its key
        await wait_until(lambda: laggard.hear(pty.read()) == ["REKEY"])
        stolen = SimNode(1, ctr=node.ctr + 5)  # someone holding the old site key, as node 1
        pty.write(stolen.heartbeat())
        await wait_until(lambda: gateway.pipeline.counters["fence"]["bad_tag"] == 1)
    rows = list(Journal(config.journal).entries())
    assert [(r.node_id, r.data["epoch"]) for r in rows if r.kind == "rekey"] == [(1, 1)]
    assert len([r for r in rows if r.kind == "event"]) == 2  # both climbs, one per epoch, none lost
    status = subprocess.run(
        [*PERIMETER, "site", "key-status", "--config", str(config_path)], capture_output=True, text=True
    )
    assert status.returncode == 1 and "1 of 2 nodes moved" in status.stdout, status.stdout
    assert derive_node_key(bytes.fromhex(key_file.read_text().strip()), 2) == laggard.key.k_enc + laggard.key.k_mac
