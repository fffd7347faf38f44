"""The gateway's notion of time: the wall clock, or a simulation's scaled clock.

One clock is passed to the gateway (`Gateway(config, clock)`) and by it to every part that
reads the time: every decision on time (supervision, fence windows, jamming, de-duplication,
when a reception happened) asks its `now()`, every journal row is stamped with it, and the
loops that wait for those decisions sleep with its `sleep()`. In service it is the wall
clock (`WALL`). The scenario runner, which hosts the gateway in its own process, passes a
clock that runs `speed` times faster, so a 1 s fence window or a 3-heartbeat supervision
timeout keeps its meaning when a night is simulated in minutes. Retry back-offs towards
brokers and peers stay on the wall clock: they are about real sockets.
"""

import asyncio
import math
import time
from datetime import UTC, datetime
from typing import Any


class Clock:
    """The wall clock."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def utc_now(self) -> str:
        """Now as an ISO 8601 UTC timestamp with milliseconds: a row's time and the times in
        its data agree, in a simulation too."""
        return utc_iso(self.now())


class ScaledClock(Clock):
    """Time that stands at `origin` until `start()`, then runs `speed` times faster than the
    wall clock. Standing still while the gateway starts up keeps its start-up (journal,
    retained state, discovery for hundreds of nodes) from eating simulated time."""

    def __init__(self, speed: float, origin: float | None = None) -> None:
        self.speed = speed
        self.origin = time.time() if origin is None else origin
        self._started: float | None = None

    def start(self) -> None:
        self._started = time.time()

    def now(self) -> float:
        if self._started is None:
            return self.origin
        return self.origin + (time.time() - self._started) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.speed)


WALL = Clock()


_second_text: list[Any] = [None, ""]  # the last whole second formatted, and its text


def utc_iso(timestamp: float) -> str:
    """A POSIX time as ISO 8601 UTC with milliseconds (`2026-11-29T09:30:50.123Z`), exactly
    as `datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")` writes it.

    Three of these per frame on the hot path: the date and time of day are formatted once a
    second, the milliseconds each time (rounded to the microsecond as datetime rounds, then
    cut, as isoformat cuts)."""
    fraction, whole = math.modf(timestamp)
    micro = round(fraction * 1e6)
    if micro >= 1_000_000:
        micro -= 1_000_000
        whole += 1.0
    elif micro < 0:
        micro += 1_000_000
        whole -= 1.0
    if whole != _second_text[0]:
        _second_text[1] = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second_text[0] = whole
    return "%s.%03dZ" % (_second_text[1], micro // 1000)


def parse_utc(text: str) -> float:
    """The POSIX time of an ISO 8601 UTC time as the journal writes it (`utc_iso`)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
