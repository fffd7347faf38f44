"""Real parts for gateway tests: a Mosquitto broker of their own, pseudo-terminals, a site
with its key file and config, and simulated nodes that build real frames."""

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import aiomqtt

from simulators.broker import Broker, free_port
from simulators.frame_node import SITE_ID, SITE_KEY, SimNode
from simulators.pty_link import Pty

__all__ = ["Broker", "Collector", "Pty", "SimNode", "free_port", "write_site", "SITE_ID", "SITE_KEY"]


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
    ids = nodes if nodes is not None else [1, 2, 3]
    node_blocks = "".join('[[node]]\nid = %d\nname = "n%d"\n\n' % (n, n) for n in ids)
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
