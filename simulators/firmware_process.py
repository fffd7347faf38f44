"""The real node firmware in a simulation: `firmware_host.py` on the MicroPython unix port,
playing each firmware node's recordings at the scenario's pace and speaking to the radio
medium over a local socket; its report (events, duty-cycle hold-backs, lag) at the end.
"""

import asyncio
import json
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


class FirmwareProcess:
    def __init__(self, plan: Path, port: int, medium: Medium) -> None:
        self.plan = plan
        self.port = port
        self.medium = medium
        self.process: subprocess.Popen[str] | None = None
        self._reader: asyncio.StreamReader | None = None

    async def start(self) -> None:
        """Start the host and wait until its nodes are built."""
        self.process = subprocess.Popen(
            [micropython(), "-X", "heapsize=2M", str(ROOT / "simulators" / "firmware_host.py"), str(self.plan)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        await asyncio.to_thread(self.process.stdout.readline)  # "listening"
        self._reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.medium.attach_host(writer)
        await asyncio.to_thread(self.process.stdout.readline)  # "running": its nodes are built

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def relay(self, now: Callable[[], float]) -> None:
        """What the firmware transmits, handed to the medium at scenario time."""
        assert self._reader is not None
        while data := await self._reader.read(4096):
            self.medium.from_host(data, now())

    def finish(self, show: Callable[[str], None]) -> dict[str, Any]:
        """The host's own report, once it has run the whole scenario."""
        assert self.process is not None
        out, err = self.process.communicate()
        if self.process.returncode != 0:
            raise RuntimeError("the firmware host failed: %s" % (err.strip().splitlines() or ["?"])[-1])
        report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        if report["max_lag_s"] > LAG_WARNING_S:
            show(
                "warning: the firmware host fell %.1f s behind the simulated clock; its timings are"
                " late by as much. Lower --speed." % report["max_lag_s"]
            )
        return report
