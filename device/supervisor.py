"""The watchdog is fed only when every task has shown it is alive.

Each task calls `check_in(bit)` once per loop. The supervisor looks every `period_ms`: if
all registered tasks checked in since its last look it feeds the watchdog, otherwise it
does not, and the hardware watchdog resets the node (a hung sensor task must not be masked
by a healthy link task feeding the dog).
"""


class Supervisor:
    def __init__(self, watchdog, period_ms=1000):
        self._watchdog = watchdog
        self.period_ms = period_ms
        self._expected = 0
        self._seen = 0
        self.names = []
        self.stalled = 0  # bitmask of tasks missing at the last look
        self.feeds = 0

    def register(self, name):
        bit = 1 << len(self.names)
        self.names.append(name)
        self._expected |= bit
        return bit

    def check_in(self, bit):
        self._seen |= bit

    def look(self):
        """One supervision round: feed the watchdog if everyone checked in. True if fed."""
        self.stalled = self._expected & ~self._seen
        self._seen = 0
        if self.stalled:
            return False
        self._watchdog.feed()
        self.feeds += 1
        return True

    def stalled_names(self):
        return [name for i, name in enumerate(self.names) if self.stalled & (1 << i)]
