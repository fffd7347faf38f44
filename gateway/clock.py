"""The gateway's notion of time: the wall clock, or a simulation's scaled clock.

Every decision the gateway takes on time (supervision, fence windows, jamming, de-duplication,
when a reception happened) asks `now()`, and the loops that wait for those decisions sleep
with `sleep()`. In service both are the wall clock. The scenario runner, which hosts the
gateway in its own process, installs a clock that runs `speed` times faster, so a 1 s fence
window or a 3-heartbeat supervision timeout keeps its meaning when a night is simulated in
minutes. Retry back-offs towards brokers and peers stay on the wall clock: they are about
real sockets.
"""

import asyncio
import time


class Clock:
    """The wall clock."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


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


_clock: Clock = Clock()


def now() -> float:
    return _clock.now()


async def sleep(seconds: float) -> None:
    await _clock.sleep(seconds)


def install(clock: Clock) -> None:
    """Use `clock` from now on (the scenario runner; `install(Clock())` restores the wall)."""
    global _clock
    _clock = clock
