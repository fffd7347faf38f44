"""Time and randomness for the node, from the board or from a simulation.

Every task sleeps through `clock.sleep_ms` and reads `clock.now_ms`, never `time` directly,
so a simulation can run a node on a virtual clock far faster than real time, and several
nodes can share one process, each with its own clock.
"""

import asyncio
import time


class Rng:
    """xorshift32: jitter for backoff, not cryptography (keys never come from here)."""

    def __init__(self, seed):
        self._state = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1

    def below(self, limit):
        s = self._state
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self._state = s
        return s % limit if limit > 0 else 0


class BoardClock:
    """Milliseconds since boot from `time.ticks_ms`, extended past its 2^30 ms wrap.

    The count is an int; on a 32-bit board it becomes a heap object after 12 days, so only
    the once-per-block callers (delivery, duty cycle, heartbeats) use it, never a sample
    loop."""

    def __init__(self, seed):
        self._last = time.ticks_ms()
        self._ms = 0
        self.rng = Rng(seed)

    def now_ms(self):
        t = time.ticks_ms()
        self._ms += time.ticks_diff(t, self._last)
        self._last = t
        return self._ms

    async def sleep_ms(self, ms):
        await asyncio.sleep_ms(ms)  # type: ignore[attr-defined]  # MicroPython's asyncio has it; the stubs do not

    def random_ms(self, limit):
        return self.rng.below(limit)


class VirtualClock:
    """Simulated time. A sleeping task wakes when the simulated time reaches its deadline;
    time jumps to the earliest deadline once every task is waiting (`run` drives it)."""

    def __init__(self, seed=1, start_ms=0):
        self._now = start_ms
        self._deadlines = []
        self.rng = Rng(seed)
        self.stopped = False

    def now_ms(self):
        return self._now

    async def sleep_ms(self, ms):
        deadline = self._now + ms
        self._deadlines.append(deadline)
        try:
            while self._now < deadline:
                await asyncio.sleep(0)
        finally:
            self._deadlines.remove(deadline)

    def random_ms(self, limit):
        return self.rng.below(limit)

    async def run(self, until_ms):
        """Advance time until `until_ms`; the tasks run between the jumps."""
        while self._now < until_ms and not self.stopped:
            await asyncio.sleep(0)  # every ready task runs before this one runs again
            if self._deadlines:
                earliest = min(self._deadlines)
                if earliest > self._now:
                    self._now = min(earliest, until_ms)
            else:
                self._now = until_ms
