"""A site as `perimeter site init` writes it, for the security specs: a real Mosquitto with the
site's password file and ACL, staff added with `perimeter operator add`, and the real gateway
on that config with one serial link (a pty) the simulated nodes write into."""

import asyncio
import getpass
import io
import os
import shutil
import socket
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main as cli
from gateway.config import load
from gateway.config_dump import dump
from gateway.daemon import Gateway
from gateway.identity.site_key import write_site_key
from simulators.broker import wait_for_port
from tests.gateway.harness import (
    NODES,
    PERIMETER,
    SITE_ID,
    SITE_KEY,
    Console,
    Pty,
    SimNode,
    free_port,
    serial,
    start,
    stop,
    wait_until,
)

PASSWORD = "a long insider password"
PREFIX = "perimeter/test/gw1"  # what site init calls the gateway of site "test"
STAFF = {"j.smith": "operator", "m.chief": "supervisor", "e.wright": "engineer", "v.brown": "viewer"}


@dataclass
class SecuredSite:
    folder: Path
    config: Path
    port: int
    pty: Pty
    gateway: Gateway | None = None
    task: asyncio.Task[None] | None = None

    @property
    def journal_path(self) -> Path:
        return load(self.config).journal  # in the state directory site init named

    def console(self, account: str) -> Console:
        return Console(self.port, account, PASSWORD, PREFIX)

    def operator_rows(self) -> list[dict[str, Any]]:
        assert self.gateway is not None
        return [e.data for e in self.gateway.journal.entries() if e.kind == "operator"]

    def alarms(self) -> list[tuple[str, str | None]]:
        assert self.gateway is not None
        return sorted((a.category, a.zone) for a in self.gateway.alarms.book.open_alarms())


def add_staff(accounts: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As an installer would: `perimeter operator add`, which keeps the broker's files in step."""
    for name, role in STAFF.items():
        monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
        assert cli(["operator", "add", name, "--accounts", str(accounts), "--role", role, "--password-stdin"]) == 0


@pytest.fixture
def collector() -> Iterator[socket.socket]:
    """The syslog collector off the gateway's host that takes the journal's checkpoints (UDP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(10)
        yield udp


@pytest.fixture
def broker_of(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, collector: socket.socket) -> Iterator[tuple[Path, int]]:
    """The site folder `perimeter site init` wrote, and its Mosquitto running on the site's files."""
    port = free_port()
    folder = tmp_path / "site"
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    init = ["site", "init", str(folder), "--name", "test", "--id", str(SITE_ID), "--supervisor", "s.jones"]
    init += ["--state-dir", str(tmp_path / "state")]
    init += ["--witness-syslog", "127.0.0.1:%d" % collector.getsockname()[1]]
    assert cli([*init, "--mqtt-port", str(port), "--password-stdin"]) == 0
    add_staff(folder / "operators.txt", monkeypatch)
    conf = folder / "broker" / "mosquitto.conf"
    if os.getuid() == 0:  # as root Mosquitto would drop to its own user and not read the 0600 files
        conf.write_text(conf.read_text() + "user %s\n" % getpass.getuser())
    proc = subprocess.Popen(
        [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    yield folder, port
    proc.terminate()
    proc.wait(10)


@pytest.fixture
async def site(broker_of: tuple[Path, int]) -> AsyncIterator[SecuredSite]:
    folder, port = broker_of
    write_site_key(folder / "site.key", SITE_KEY)  # the simulated nodes' site
    doc = tomllib.loads((folder / "gateway.toml").read_text())
    pty = Pty(folder / "ttyFENCE")
    doc.update(PERIMETER, node=NODES, transport=serial(("fence", pty.link)))
    doc["supervision"] = {"default_heartbeat_s": 3600}
    doc["metrics"] = {"listen": ""}
    doc["dashboard"]["listen"] = ""
    config = folder / "gateway.toml"
    config.write_text(dump(doc))
    secured = SecuredSite(folder, config, port, pty)
    secured.gateway, secured.task = await start(config)
    await wait_until(lambda: secured.gateway is not None and secured.gateway.sink.listening, 10)
    yield secured
    if secured.gateway is not None and secured.task is not None:
        await stop(secured.gateway, secured.task)
    pty.unplug()


def tamper(node: SimNode) -> bytes:
    """The node's enclosure opened."""
    node.event_no += 1
    return node.frame("TAMPER", {"event_no": node.event_no, "age_ds": 1, "kind": 1, "state": 1}, True)


async def heard(site: SecuredSite, *frames: bytes) -> None:
    assert site.gateway is not None
    counters = site.gateway.pipeline.counters["fence"]
    before = counters["frames_ok"]
    for frame in frames:
        site.pty.write(frame)
    await wait_until(lambda: counters["frames_ok"] >= before + len(frames), 10)
    await asyncio.sleep(0.3)  # past the fence window
    site.gateway.check_supervision()
