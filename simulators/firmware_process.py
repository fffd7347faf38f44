"""The real node firmware in a simulation: `firmware_host.py` on the 32-bit MicroPython node
interpreter, one process per core, each playing its share of the firmware nodes'
recordings at the scenario's pace and speaking to the radio medium over a local socket;
their reports (events, duty-cycle hold-backs, lag) merged at the end.

MicroPython has one interpreter lock and no threads worth the name, so a whole fence of
firmware nodes (50 at 30 m spacing on 1.5 km) runs in as many processes as there are cores.
"""

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.tools import node_image
from simulators.medium import Medium

ROOT = Path(__file__).resolve().parents[1]
LAG_WARNING_S = 1.0


def micropython() -> str:
    """The 32-bit node interpreter with the node frozen in: built on first use (about two
    minutes), then taken from the cache."""
    return str(node_image.build("unix32", say=lambda line: print("firmware: " + line, file=sys.stderr)))


def host_count(nodes: int) -> int:
    """One host per core, never more than there are nodes."""
    return max(1, min(nodes, os.cpu_count() or 1))


class FirmwareProcess:
    """One host process and its connection."""

    def __init__(self, plan: Path, port: int, medium: Medium) -> None:
        self.plan = plan
        self.port = port
        self.medium = medium
        self.process: subprocess.Popen[str] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._number = 0

    async def start(self) -> None:
        """Start the host and wait until its nodes are built."""
        self.process = subprocess.Popen(
            [micropython(), "-X", "heapsize=2M", str(ROOT / "simulators" / "firmware_host.py"), str(self.plan)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        await asyncio.to_thread(self.process.stdout.readline)  # "listening"
        self._reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self._number = self.medium.attach_host(writer)
        line = await asyncio.to_thread(self.process.stdout.readline)  # "ready": its nodes are built
        if line.strip() != "ready":
            raise RuntimeError("the firmware host failed to start: %s" % (self._failure() or line.strip()))

    def go(self) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def _failure(self) -> str:
        assert self.process is not None and self.process.stderr is not None
        self.process.wait(5)
        return (self.process.stderr.read().strip().splitlines() or ["?"])[-1]

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def relay(self, now: Callable[[], float]) -> None:
        """What the firmware transmits, handed to the medium at scenario time."""
        assert self._reader is not None
        while data := await self._reader.read(4096):
            self.medium.from_host(data, now(), self._number)

    def finish(self) -> dict[str, Any]:
        """The host's own report, once it has run the whole scenario."""
        assert self.process is not None
        out, err = self.process.communicate()
        if self.process.returncode != 0:
            raise RuntimeError("the firmware host failed: %s" % (err.strip().splitlines() or ["?"])[-1])
        report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return report


class FirmwareHosts:
    """The firmware nodes in several host processes, started together."""

    def __init__(self, hosts: list[FirmwareProcess]) -> None:
        self.hosts = hosts

    async def start(self) -> None:
        await asyncio.gather(*(host.start() for host in self.hosts))
        for host in self.hosts:
            host.go()

    def running(self) -> bool:
        return any(host.running() for host in self.hosts)

    async def relay(self, now: Callable[[], float]) -> None:
        await asyncio.gather(*(host.relay(now) for host in self.hosts))

    def finish(self, show: Callable[[str], None]) -> dict[str, Any]:
        reports = [host.finish() for host in self.hosts]
        report = {
            "simulated_s": reports[0]["simulated_s"],
            "events_reported": sum(r["events_reported"] for r in reports),
            "nodes": sorted(n for r in reports for n in r["nodes"]),
            "held_back": sum(r["held_back"] for r in reports),
            "wall_s": max(r["wall_s"] for r in reports),
            "max_lag_s": max(r["max_lag_s"] for r in reports),
            "processes": len(reports),
            "per_node": {k: v for r in reports for k, v in r.get("per_node", {}).items()},
        }
        if report["max_lag_s"] > LAG_WARNING_S:
            show(
                "warning: the firmware hosts fell %.1f s behind the simulated clock; their timings are"
                " late by as much. Lower --speed." % report["max_lag_s"]
            )
        return report
