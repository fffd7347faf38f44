"""The node's frame counter and boot counter, persisted so they never go backwards.

The gateway accepts a frame only if its `ctr` is above the last one it accepted from the
node, so a counter that restarted after a reboot would make every frame look like a replay.
Writing flash on every frame would wear it out, so counters are reserved a block at a time:
the stored value is always above every counter used so far. At boot the node starts from
the stored value (skipping whatever was left of the block in use when it went down) and
reserves the next block before sending anything; after that it writes once every `BLOCK`
frames.
"""

BLOCK = 256
MAX_CTR = 0xFFFFFF


class CounterExhausted(Exception):
    """All 2^24 counters are used: the node needs a new key (a new node id) before it sends."""


class FrameCounter:
    """Fresh `ctr` values for one direction, persisted in blocks through a store."""

    def __init__(self, store, name: str = "ctr", block: int = BLOCK) -> None:
        self._store = store
        self._name = name
        self._block = block
        self._next = store.get(name, 0)
        self._limit = self._next
        self._reserve()

    def _reserve(self) -> None:
        limit = min(self._next + self._block, MAX_CTR + 1)
        if limit <= self._next:
            raise CounterExhausted("frame counter used up")
        self._store.set(self._name, limit)  # persisted before any counter below it is used
        self._limit = limit

    def next(self) -> int:
        """The next counter; only every `block`-th call touches the store."""
        if self._next >= self._limit:
            self._reserve()
        value = self._next
        self._next = value + 1
        return value

    @property
    def peek(self) -> int:
        """The counter `next()` will return (for diagnostics)."""
        return self._next


def count_boot(store, name: str = "boots") -> int:
    """This boot's number (1 on the first boot), persisted."""
    boots = store.get(name, 0) + 1
    store.set(name, boots)
    return boots
