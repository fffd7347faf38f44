"""The live feed: what changed in the gateway, pushed to every open dashboard.

The gateway stages a message as it journals a change and flushes the staged messages only
once the transaction has committed, so a page never shows what a rollback undid. Each page
has a bounded queue; a page that cannot keep up (a stalled browser, a slow link) loses its
backlog and is told to resynchronise from a fresh snapshot, instead of the gateway holding
an ever-growing queue for it.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

Message = tuple[str, dict[str, Any]]
RESYNC: Message = ("resync", {})
CLOSE: Message = ("close", {})


class Subscriber:
    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=size)
        self.resyncs = 0

    def put(self, message: Message) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)
            self.resyncs += 1


class LiveFeed:
    def __init__(self, queue_size: int = 5000) -> None:
        self.queue_size = queue_size
        self.subscribers: set[Subscriber] = set()
        self._staged: list[Message] = []
        # Told True when the first page opens and False when the last one closes, so that
        # what only a page needs is not even computed while nobody is watching.
        self.on_watching: Callable[[bool], None] | None = None

    def stage(self, kind: str, data: dict[str, Any]) -> None:
        if self.subscribers:  # nobody watching: nothing to keep
            self._staged.append((kind, data))

    def flush(self) -> None:
        staged, self._staged = self._staged, []
        for message in staged:
            for subscriber in self.subscribers:
                subscriber.put(message)

    def discard(self) -> None:
        self._staged.clear()

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber(self.queue_size)
        self.subscribers.add(subscriber)
        if len(self.subscribers) == 1 and self.on_watching is not None:
            self.on_watching(True)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self.subscribers:
            self.subscribers.discard(subscriber)
            if not self.subscribers and self.on_watching is not None:
                self.on_watching(False)

    def close(self) -> None:
        """End every stream (the gateway is stopping); a page reconnects once it is back."""
        for subscriber in self.subscribers:
            while not subscriber.queue.empty():
                subscriber.queue.get_nowait()
            subscriber.queue.put_nowait(CLOSE)


TICK_S = 1.0  # the gateway's time goes to the page this often (ages count on the gateway's clock)
SESSION_CHECK_TICKS = 15


def sse(kind: str, data: Any) -> str:
    return "event: %s\ndata: %s\n\n" % (kind, json.dumps(data, separators=(",", ":")))


async def live_stream(
    feed: LiveFeed,
    snapshot: Callable[[], dict[str, Any]],
    account_holds: Callable[[], bool],
    logged_in: Callable[[], bool],
    now: Callable[[], float],
) -> AsyncIterator[str]:
    """One page's stream of server-sent events: a snapshot, then each change, and the
    gateway's time every TICK_S; a logout, and the end, as soon as the page's account is
    removed or demoted, or (checked every SESSION_CHECK_TICKS) its session has ended."""
    subscriber = feed.subscribe()  # before the snapshot: nothing falls between the two
    ticks = 0
    try:
        yield sse("snapshot", snapshot())
        while True:
            try:
                kind, data = await asyncio.wait_for(subscriber.queue.get(), TICK_S)
            except TimeoutError:
                ticks += 1
                kind, data = "time", {}
            # A removed or demoted account's page hears nothing more: checked before every
            # message (a stat of the accounts file), not only every SESSION_CHECK_TICKS.
            if not account_holds() or (ticks % SESSION_CHECK_TICKS == 0 and kind == "time" and not logged_in()):
                yield sse("logout", {})
                return
            if kind == "time":
                # Also a keepalive: a proxy or NAT between never sees a silent stream.
                yield sse("time", {"server_time": now()})
                continue
            if kind == "close":
                return
            if kind == "resync":
                kind, data = "snapshot", snapshot()
            yield sse(kind, data)
    finally:
        feed.unsubscribe(subscriber)
