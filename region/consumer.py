"""`perimeter region consume`: the region's incidents from the cluster's quorum queue into
the store. Run two or more, anywhere: they share the queue, and each message is acknowledged
only after its row is committed, so a consumer killed mid-message leaves it to another (the
store's upsert makes the second delivery a no-op). A broker node lost: the consumer moves on
to the next node in its list; the queue is on all of them.
"""

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import asyncpg

from region import rabbit
from region.store import PLAN_SCHEMA, PLAN_SQL, SCHEMA_SQL, SESSION, UPSERT_SQL, BadIncident, plan_args, row_args

log = logging.getLogger("perimeter.region")
# Messages stored at once, each on its own connection and acknowledged when its row is
# committed: one at a time, a consumer waits on the store's round trip for every message.
# Two revisions of one incident stored at once are safe: the newer one wins.
IN_FLIGHT = 8


@dataclass
class ConsumerStats:
    stored: int = 0  # new incidents
    updated: int = 0  # newer revisions of known ones
    unchanged: int = 0  # a revision already held (a redelivery, or an older one late)
    rejected: int = 0
    plans: int = 0  # sites' plans kept
    lags_s: list[float] = field(default_factory=list)  # stored minus the site's updated_at
    broker: str = ""  # the node consumed from now


async def prepare(dsn: str, amqp_urls: list[str], replicas: int) -> None:
    """The store's tables and the cluster's quorum queue bound to every site's incidents
    (both idempotent: every consumer runs it at start)."""
    db = await asyncpg.connect(dsn, server_settings=SESSION)
    try:
        await db.execute("SELECT pg_advisory_lock(3434)")  # two consumers starting at once
        await db.execute(SCHEMA_SQL)
        await db.execute("SELECT pg_advisory_unlock(3434)")
    finally:
        await db.close()
    last: Exception | None = None
    for url in amqp_urls:
        try:
            connection = await aio_pika.connect(url, timeout=10)
        except Exception as exc:  # a node down: the next one
            last = exc
            continue
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(
                rabbit.QUEUE, durable=True,
                arguments={"x-queue-type": "quorum", "x-quorum-initial-group-size": replicas},
            )  # fmt: skip
            for binding in rabbit.BINDINGS:
                await queue.bind(rabbit.EXCHANGE, binding)
        return
    raise ConnectionError("no regional broker node answered: %s" % last)


class Consumer:
    def __init__(self, dsn: str, amqp_urls: list[str], prefetch: int = 200) -> None:
        self.dsn = dsn
        self.urls = amqp_urls
        self.prefetch = prefetch
        self.stats = ConsumerStats()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=IN_FLIGHT, server_settings=SESSION)
        try:
            turn = 0
            while not self._stop.is_set():
                url = self.urls[turn % len(self.urls)]
                turn += 1
                try:
                    await self._consume(url, pool)
                except asyncio.CancelledError:
                    raise
                except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:  # the store: the same node again
                    log.warning("the store: %s; the message stays in the queue", exc)
                    turn -= 1
                    await asyncio.sleep(1.0)
                except Exception as exc:  # a node lost, a channel closed: never the consumer's end
                    log.warning("regional broker %s: %r; trying the next node", _where(url), exc)
                    await asyncio.sleep(0.5)
        finally:
            await pool.close()

    async def _consume(self, url: str, pool: asyncpg.Pool) -> None:
        connection = await aio_pika.connect(url, timeout=10)
        async with connection:
            self.stats.broker = _where(url)
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=self.prefetch)
            queue = await channel.get_queue(rabbit.QUEUE, ensure=True)
            closed = asyncio.ensure_future(_closed(connection))
            stopped = asyncio.ensure_future(self._stop.wait())
            slots = asyncio.Semaphore(IN_FLIGHT)
            working: set[asyncio.Future[None]] = set()
            failed: list[BaseException] = []

            async def store(message: Any) -> None:
                try:
                    await self.handle(message.body, message.routing_key or "", pool)
                    await message.ack()  # only once the row is committed
                except Exception as exc:  # the store or the channel: this connection ends
                    failed.append(exc)
                finally:
                    slots.release()

            try:
                async with queue.iterator() as messages:
                    iterator = messages.__aiter__()
                    while True:
                        nxt = asyncio.ensure_future(iterator.__anext__())
                        done, _ = await asyncio.wait({nxt, closed, stopped}, return_when=asyncio.FIRST_COMPLETED)
                        if nxt not in done:
                            nxt.cancel()
                            if self._stop.is_set():  # a clean stop: what is being stored is finished
                                await asyncio.gather(*working, return_exceptions=True)
                                return
                            raise ConnectionError("connection closed")
                        message = nxt.result()
                        await slots.acquire()
                        if failed:
                            raise failed[0]
                        task = asyncio.ensure_future(store(message))
                        working.add(task)
                        task.add_done_callback(working.discard)
            finally:
                closed.cancel()
                stopped.cancel()
                for unfinished in working:
                    unfinished.cancel()  # not acknowledged: the queue gives it again

    async def handle(self, body: bytes, routing_key: str, pool: asyncpg.Pool) -> None:
        try:
            doc: Any = json.loads(body)
            if isinstance(doc, dict) and doc.get("schema") == PLAN_SCHEMA:
                plan = plan_args(doc)
                if routing_key.count(".") >= 3 and routing_key.split(".")[1] != doc["site"]:
                    raise BadIncident("site %r published on %r" % (doc["site"][:64], routing_key[:128]))
                async with pool.acquire() as db:
                    await db.execute(PLAN_SQL, *plan)
                self.stats.plans += 1
                return
            args = row_args(doc)
            site = routing_key.split(".")[1] if routing_key.count(".") >= 3 else None
            if site is not None and site != doc["site"]:  # the broker's ACL already forbids it
                raise BadIncident("site %r published on %r" % (doc["site"][:64], routing_key[:128]))
        except (ValueError, UnicodeDecodeError) as exc:
            await self._reject(pool, routing_key, str(exc), body)
            return
        try:
            async with pool.acquire() as db:
                result = await db.fetchrow(UPSERT_SQL, *args)
        except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError):
            raise  # the store is down: the message stays in the queue
        except asyncpg.PostgresError as exc:  # this message's data (a track PostGIS refuses): not the next one's
            await self._reject(pool, routing_key, "the store refused it: %s" % exc, body)
            return
        if result is None:
            self.stats.unchanged += 1
            return
        if result["inserted"]:
            self.stats.stored += 1
        else:
            self.stats.updated += 1
        if args[8] is not None:
            self.stats.lags_s.append(time.time() - args[8].timestamp())

    async def _reject(self, pool: asyncpg.Pool, routing_key: str, reason: str, body: bytes) -> None:
        """Kept, with why, in the store's rejected table; never retried (it would block the queue)."""
        self.stats.rejected += 1
        log.warning("incident refused (%s): kept in the rejected table", reason)
        async with pool.acquire() as db:
            await db.execute(
                "INSERT INTO rejected (routing_key, reason, body) VALUES ($1, $2, $3)",
                routing_key[:256], reason[:500], body[:65536].decode("utf-8", "replace"),
            )  # fmt: skip


async def _closed(connection: Any) -> None:
    while not connection.is_closed:
        await asyncio.sleep(0.2)


def _where(url: str) -> str:
    return url.rpartition("@")[2].rstrip("/")
