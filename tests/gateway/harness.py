"""Real parts for gateway tests: a Mosquitto broker of their own, pseudo-terminals, a site
with its key file and config, and simulated nodes that build real frames."""

import asyncio
import getpass
import json
import os
import shutil
import socket
import subprocess
import time
import tty
from pathlib import Path
from typing import Any

import aiomqtt

from protocol.body import encode_body
from protocol.framing import Deframer, encode_frame
from protocol.keys import NodeKey
from protocol.messages import BY_NAME, DOWN
from protocol.packet import open_packet, seal_packet

SITE_KEY = bytes(range(100, 132))
SITE_ID = 90210


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Broker:
    """A Mosquitto broker on a port of its own, which a test can stop and start again."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        # Persistence on, so a subscriber's session and its queued QoS 1 messages survive a
        # broker restart: an outage test must not depend on who reconnects first. TCP_NODELAY,
        # or Nagle holds back small PUBACKs for tens of ms. As root, Mosquitto would drop to its
        # own user and could not read the test's private folder: stay who we are.
        user = "user %s\n" % getpass.getuser() if os.getuid() == 0 else ""
        self.conf.write_text(
            "%slistener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n"
            "max_queued_messages 100000\nset_tcp_nodelay true\n" % (user, self.port, workdir)
        )
        self.proc: subprocess.Popen[bytes] | None = None
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.binary = binary

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.time() + 10
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start on port %d" % self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class Pty:
    """A pseudo-terminal whose slave end the gateway opens by a stable path (a symlink), as
    udev gives a USB adapter a stable name. `unplug()` closes the master end; `plug()` makes
    a new pty and points the link at it."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.master: int | None = None
        self.plug()

    def plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing, before the gateway opens it
        name = os.ttyname(slave)
        os.close(slave)
        os.set_blocking(master, False)
        self.master = master
        tmp = self.link.with_suffix(".new")
        if tmp.exists() or tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(name)
        tmp.replace(self.link)

    def unplug(self) -> None:
        if self.master is not None:
            os.close(self.master)
            self.master = None
        if self.link.is_symlink():
            self.link.unlink()

    def write(self, data: bytes, *, drop_when_full: bool = False) -> bool:
        """Write all of `data`; with `drop_when_full`, give up (False) when nobody is reading,
        as a node's transmission is lost when the gateway is not listening."""
        assert self.master is not None
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.master, view)
            except BlockingIOError:
                if drop_when_full:
                    return False
                time.sleep(0.001)
                continue
            view = view[n:]
        return True

    def read(self) -> bytes:
        if self.master is None:
            return b""
        chunks = []
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


class SimNode:
    """A node that builds real frames with a fresh counter each, and reads its ACKs."""

    def __init__(self, node_id: int, site_key: bytes = SITE_KEY, site_id: int = SITE_ID, ctr: int = 1) -> None:
        self.node_id = node_id
        self.key = NodeKey.for_node(site_key, node_id)
        self.site_id = site_id
        self.ctr = ctr
        self.event_no = 0
        self.deframer = Deframer()
        self.acked: list[int] = []

    def packet(self, type_name: str, fields: dict[str, int], ack_req: bool = False) -> bytes:
        type_id = BY_NAME[type_name].type_id
        packet = seal_packet(
            self.key, self.site_id, type_id, self.node_id, self.ctr, encode_body(type_id, fields), ack_req
        )
        self.ctr += 1
        return packet

    def frame(self, type_name: str, fields: dict[str, int], ack_req: bool = False) -> bytes:
        return encode_frame(self.packet(type_name, fields, ack_req))

    def fence_packet(self, peak: int = 1500, event_no: int | None = None, ack_req: bool = True) -> bytes:
        if event_no is None:
            self.event_no += 1
            event_no = self.event_no
        fields = {
            "event_no": event_no,
            "age_ds": 1,
            "class": 1,
            "peak": peak,
            "noise_floor": 30,
            "pulses": 12,
            "duration_ds": 25,
        }
        return self.packet("FENCE", fields, ack_req)

    def fence(self, peak: int = 1500, event_no: int | None = None, ack_req: bool = True) -> bytes:
        return encode_frame(self.fence_packet(peak, event_no, ack_req))

    def heartbeat(self) -> bytes:
        return self.frame(
            "HEARTBEAT",
            {
                "battery_mv": 3700,
                "temperature_dc": 120,
                "status": 2,
                "downlink_rssi_dbm": -90,
                "fence_floor": 30,
                "acoustic_floor": 400,
                "impact_floor": 10,
                "queued": 0,
                "uptime_s": 100,
            },
        )

    def hello(self, boot_count: int = 1, heartbeat_s: int = 30) -> bytes:
        return self.frame(
            "HELLO",
            {
                "fw_major": 0,
                "fw_minor": 1,
                "fw_patch": 0,
                "boot_count": boot_count,
                "reset_cause": 1,
                "capabilities": 7,
                "heartbeat_s": heartbeat_s,
                "config_id": 0,
            },
        )

    def take_acks(self, data: bytes, last_down: int | None = None) -> list[int]:
        """ACKs in downlink bytes: the uplink counters they acknowledge."""
        self.deframer.feed(data)
        got = []
        while (packet := self.deframer.next_packet()) is not None:
            opened = open_packet(self.key, self.site_id, packet, DOWN, last_down)
            got.append(opened.fields["acked_ctr"])
        self.acked += got
        return got


def write_site(
    workdir: Path,
    broker_port: int,
    *,
    transports: str = "",
    nodes: list[int] | None = None,
    extra: str = "",
    heartbeat_s: int = 30,
    missed: int = 3,
) -> Path:
    """A site folder with its key file and a gateway config; the config's path."""
    key = workdir / "site.key"
    key.write_text(SITE_KEY.hex())
    key.chmod(0o600)
    node_blocks = "".join('[[node]]\nid = %d\nname = "n%d"\n\n' % (n, n) for n in (nodes or [1, 2, 3]))
    config = workdir / "gateway.toml"
    config.write_text(
        '[site]\nid = %d\nname = "test"\nkey_file = "site.key"\n\n'
        '[gateway]\nid = "gw"\njournal = "journal.sqlite"\n\n'
        "[supervision]\nmissed_heartbeats = %d\ndefault_heartbeat_s = %d\n\n"
        '[metrics]\nlisten = "127.0.0.1:0"\n\n'
        '[mqtt]\nhost = "127.0.0.1"\nport = %d\nkeepalive_s = 5\n\n%s\n%s\n%s'
        % (SITE_ID, missed, heartbeat_s, broker_port, transports, node_blocks, extra)
    )
    return config


class Collector:
    """An MQTT subscriber (aiomqtt) collecting messages under a topic filter."""

    def __init__(self, port: int, topic: str = "perimeter/#") -> None:
        self.port = port
        self.topic = topic
        self.messages: list[tuple[str, bytes, bool]] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def __aenter__(self) -> "Collector":
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1", self.port, identifier="collector-%d" % os.getpid(), clean_session=False
                ) as client:
                    await client.subscribe(self.topic, qos=1)
                    self._ready.set()
                    async for message in client.messages:
                        payload = (
                            message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
                        )
                        self.messages.append((str(message.topic), payload, bool(message.retain)))
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)

    def events(self, kind: str = "fence") -> list[dict[str, Any]]:
        return [json.loads(p) for t, p, _ in self.messages if t.endswith("/event/" + kind)]

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        deadline = time.time() + timeout
        while not predicate():
            if time.time() > deadline:
                raise AssertionError(
                    "timed out; got %d messages: %s" % (len(self.messages), [t for t, _, _ in self.messages[-10:]])
                )
            await asyncio.sleep(0.02)
