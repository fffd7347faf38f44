"""The journal's disk fills up (a real tmpfs of 2 MB, filled to the last byte): the gateway
keeps running, acks nothing it could not record, and once space is back every event the
node kept retransmitting is journalled, acked and published. No acked event is lost."""

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.evidence.journal import Journal
from tests.gateway.harness import Broker, Collector, Pty, serial, start, stop, write_site
from tests.resilience.node import RetryingNode


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True)
    # Not a skip: this machine (root, a kernel with tmpfs) can mount one; a failure here is real.
    assert mounted.returncode == 0, "cannot mount a tmpfs: %s" % mounted.stderr.decode()
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of the disk (unbuffered, so nothing is left to flush later)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


async def test_a_full_disk_loses_no_acked_event_and_the_gateway_recovers_when_space_is_back(
    tmp_path: Path, small_disk: Path
) -> None:
    broker = Broker(tmp_path)
    broker.start()
    pty = Pty(tmp_path / "ttyNODE")
    config = write_site(
        tmp_path,
        broker.port,
        transports=serial(("fence", pty.link)),
        extra={"gateway": {"id": "gw", "journal": "disk/journal.sqlite"}},
    )
    node = RetryingNode(1, pty)
    try:
        async with Collector(broker.port, "perimeter/test/gw/node/+/event/fence") as mqtt:
            gateway, task = await start(config)
            for _ in range(5):  # room on the disk: acked at once
                node.detect()
            await asyncio.sleep(0.5)
            node.tick()
            assert node.acked == {1, 2, 3, 4, 5}

            filler = fill(small_disk)
            assert os.statvfs(small_disk).f_bavail == 0
            refused_since = time.time()
            while time.time() - refused_since < 3:  # the node keeps detecting and retrying
                node.detect()
                await asyncio.sleep(0.1)
                node.tick()
            acked_while_full = node.acked - {1, 2, 3, 4, 5}
            assert not task.done(), "the gateway died of a full disk"
            assert gateway.transports["fence"].state == "up"

            filler.unlink()  # the installer frees space
            freed = time.time()
            recovered_after = None
            while node.pending and time.time() - freed < 20:
                await asyncio.sleep(0.1)
                node.tick()
                if recovered_after is None and len(node.acked) > 5 + len(acked_while_full):
                    recovered_after = time.time() - freed
            assert not node.pending, "events never acked after space came back: %s" % sorted(node.pending)
            await mqtt.wait_for(lambda: {e["fields"]["event_no"] for e in mqtt.events()} >= node.acked, 20)
            await stop(gateway, task)
    finally:
        pty.unplug()
        broker.stop()
    published = [e["fields"]["event_no"] for e in mqtt.events()]
    print(
        "disk full: %d events detected, %d acked while full, recovered %.2f s after space came back"
        % (len(node.detected), len(acked_while_full), recovered_after or -1)
    )
    assert set(published) == node.acked == node.detected  # nothing acked was lost, nothing missed
    assert len(published) == len(set(published))  # and each told once
    journal = Journal(small_disk / "journal.sqlite", durable=False)
    assert journal.verify().ok  # the hash chain went on unbroken across the refused commits
    journal.close()
