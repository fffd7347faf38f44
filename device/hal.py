"""Time and randomness for the node, from the board or from a simulation.

Every task sleeps through `clock.sleep_ms` and reads `clock.now_ms`, never `time` directly,
so a simulation can run a node on a virtual clock far faster than real time, and several
nodes can share one process, each with its own clock.
"""

import asyncio
import heapq
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
    time jumps to the earliest deadline once every task is waiting (`run` drives it).

    Each sleeper waits on its own event, woken only when its deadline comes: with a few
    dozen tasks on a few nodes, waking every sleeper at every step (to let it look at the
    time) cost more than the detectors."""

    def __init__(self, seed=1, start_ms=0):
        self._now = start_ms
        self._deadlines = []  # a heap of [deadline, sequence, event] of the sleeping tasks
        self._seq = 0
        self.rng = Rng(seed)
        self.stopped = False

    def now_ms(self):
        return self._now

    async def sleep_ms(self, ms):
        self._seq += 1
        entry = [self._now + ms, self._seq, asyncio.Event()]
        heapq.heappush(self._deadlines, entry)
        try:
            await entry[2].wait()
        finally:
            entry[2] = None  # woken, or cancelled: either way no longer waiting

    def random_ms(self, limit):
        return self.rng.below(limit)

    def earliest(self):
        """The earliest deadline of a sleeping task, or None."""
        heap = self._deadlines
        while heap and heap[0][2] is None:  # cancelled sleepers
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def _wake_due(self):
        """Wake the tasks whose deadline has come; whether there were any."""
        heap = self._deadlines
        woke = False
        while heap and heap[0][0] <= self._now:
            event = heapq.heappop(heap)[2]
            if event is not None:
                event.set()
                woke = True
        return woke

    def _advance(self, target):
        """Move simulated time to `target` (a subclass may pace it against the wall)."""
        self._now = target

    async def run(self, until_ms):
        """Advance time until `until_ms`; the tasks run between the jumps."""
        while self._now < until_ms and not self.stopped:
            await asyncio.sleep(0)  # every ready task runs before this one runs again
            if self._wake_due():
                continue
            earliest = self.earliest()
            self._advance(until_ms if earliest is None or earliest > until_ms else earliest)
            self._wake_due()
