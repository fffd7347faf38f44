"""MQTT sink: drains the journal's outbox to the broker, in order, deleting only after PUBACK.

- Connects with a last will (`P/bridge/state` = `offline`, retained) and announces `online`.
- Publishes outbox rows oldest first, at most `inflight` awaiting PUBACK at once (an unbounded
  in-flight list is how peers lost messages and were disconnected); a row is deleted only
  when its PUBACK has arrived, so a broker outage or a `kill -9` loses nothing — at worst a
  message is published twice, with the same `event_id`.
- After every (re)connect, republishes every retained topic (node state, availability), so
  nothing stays "offline" after a broker restart.
- Reconnects with jittered backoff; never raises out of `run()`.
"""

import asyncio
import contextlib
import json
import logging
import math
import ssl
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt

from gateway.backoff import backoff_delay
from gateway.config import MqttConfig
from gateway.evidence.journal import Journal, OutboxMessage
from gateway.outputs import topics

log = logging.getLogger("perimeter.mqtt")


client_log = logging.getLogger("perimeter.mqtt.client")
PUBACK_TIMEOUT_S = 10.0  # nothing in the window acknowledged for this long: the session is dead
HA_STATUS = "homeassistant/status"
ANSWERS_KEPT = 64  # an account's answers waiting for the broker (reads, refusals); older ones dropped


class MqttSink:
    """Publishes what the journal has queued, for as long as the daemon runs."""

    def __init__(
        self,
        config: MqttConfig,
        journal: Journal,
        prefix: str,
        client_id: str,
        info: Callable[[], dict[str, Any]] | None = None,
        health: Callable[[], dict[str, Any]] | None = None,
        health_interval_s: float = 30.0,
        on_request: Callable[[str, str, bytes, bool, bool], object] | None = None,
    ) -> None:
        self.config = config
        self.journal = journal
        self.prefix = prefix
        self.client_id = client_id
        self.info = info or (lambda: {})
        self.health = health or (lambda: {})
        self.health_interval_s = health_interval_s
        self.on_request = on_request
        self.listening = False
        self.republished = 0  # times Home Assistant's birth message made us publish all again
        self.connected = False
        self.reconnects = 0
        self.failed_attempts = 0  # connections refused or lost, for the specs to wait on
        self.published = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._retained_version = 0
        self._answers: dict[str, deque[tuple[str, bytes]]] = {}  # account -> its answers waiting

    def wake(self) -> None:
        """Something new is in the outbox or retained table."""
        self._wake.set()

    def answer(self, account: str, topic: str, payload: bytes) -> None:
        """An answer that changed nothing (a read, a refusal), published without the journal:
        kept in memory, the newest `ANSWERS_KEPT` of each account only (one account's flood
        never pushes out another's answers), and lost if the broker is down (the asker asks
        again). A flood of reads costs the journal nothing."""
        waiting = self._answers.get(account)
        if waiting is None:
            waiting = self._answers[account] = deque(maxlen=ANSWERS_KEPT)
        waiting.append((topic, payload))
        self._wake.set()

    def stop(self) -> None:
        """Finish: the session loop ends at its next turn."""
        self._stopping = True
        self._wake.set()

    def _client(self) -> aiomqtt.Client:
        c = self.config
        password = None
        if c.password_file:
            password = Path(c.password_file).read_text().strip()
        tls_context = None
        if c.tls:
            tls_context = ssl.create_default_context(cafile=c.ca_file)
            if c.cert_file:
                tls_context.load_cert_chain(c.cert_file, c.key_file)
        will = aiomqtt.Will(topics.bridge_state(self.prefix), b"offline", qos=1, retain=True)
        client = aiomqtt.Client(
            c.host,
            c.port,
            username=c.username,
            password=password,
            identifier=self.client_id,
            will=will,
            keepalive=c.keepalive_s,
            logger=client_log,
            tls_context=tls_context,
            max_inflight_messages=c.inflight,
            clean_session=True,
            timeout=10,
        )
        # aiomqtt warns on every publish while more than 10 await their PUBACK; our window is
        # bounded on purpose (`inflight`, plus a retained message or a health report beside
        # it), so that warning is noise, and building its log record cost more CPU under
        # load than the publishing itself.
        client.pending_calls_threshold = c.inflight + 8
        return client

    async def run(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                async with self._client() as client:
                    attempt = 0
                    await self._session(client)
            except asyncio.CancelledError:
                raise
            except (aiomqtt.MqttError, OSError, ssl.SSLError, ValueError) as exc:
                self.failed_attempts += 1
                if self.connected:
                    self.reconnects += 1
                    log.warning("mqtt=down broker=%s:%d error=%s", self.config.host, self.config.port, exc)
                elif attempt == 0:
                    log.warning("mqtt=unreachable broker=%s:%d error=%s", self.config.host, self.config.port, exc)
                self.connected = False
            except Exception:  # e.g. the journal's disk: log it, reconnect, never stop publishing
                log.exception("mqtt sink failed; reconnecting")
                self.connected = False
            attempt += 1
            await asyncio.sleep(backoff_delay(attempt, 0.2, 5.0))

    async def _session(self, client: aiomqtt.Client) -> None:
        self.connected = True
        log.info("mqtt=up broker=%s:%d", self.config.host, self.config.port)
        await client.publish(topics.bridge_state(self.prefix), b"online", qos=1, retain=True)
        info = dict(self.info(), connected_at=self.journal.clock.utc_now())
        await client.publish(topics.bridge_info(self.prefix), json.dumps(info).encode(), qos=1, retain=True)
        self._retained_version = 0  # the broker may have lost everything: republish it all
        health = asyncio.create_task(self._health(client))
        listener = asyncio.create_task(self._listen(client))
        try:
            while not self._stopping:
                self._wake.clear()
                busy = await self._publish_retained(client)
                busy = await self._publish_outbox(client) or busy
                busy = await self._publish_answers(client) or busy
                if not busy:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                    # that races the event being set, and the daemon would never stop.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1.0):
                            await self._wake.wait()
                for task in (health, listener):
                    if task.done():
                        task.result()  # re-raise a broker error seen by the task
        finally:
            self.listening = False
            health.cancel()
            listener.cancel()

    async def _listen(self, client: aiomqtt.Client) -> None:
        """Operator requests on `P/bridge/request/<account>/<command>`, handed to `on_request`
        with the account (the broker's ACL lets only it publish there) and whether the broker
        delivered it as retained (never carried out); and
        Home Assistant's birth message, which makes everything retained go out again (it
        may have restarted and forgotten what it was told)."""
        if self.config.homeassistant_discovery:
            await client.subscribe(HA_STATUS, qos=1)
        if self.on_request is not None:
            await client.subscribe(topics.requests(self.prefix), qos=1)
        self.listening = True  # requests published before this moment were not heard
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            topic = message.topic.value
            if topic == HA_STATUS:
                if payload.strip() == b"online":
                    self._retained_version = 0
                    self.republished += 1
            elif self.on_request is not None:
                account, command = topic.split("/")[-2:]
                self.on_request(account, command, payload, True, bool(message.retain))
            self.wake()

    async def _publish_retained(self, client: aiomqtt.Client) -> bool:
        rows = self.journal.retained(self._retained_version)
        for version, topic, payload in rows:
            await client.publish(topic, payload, qos=1, retain=True)
            self._retained_version = version
        return bool(rows)

    async def _publish_answers(self, client: aiomqtt.Client) -> bool:
        sent = False
        for account in list(self._answers):
            waiting = self._answers.pop(account)
            while waiting:
                topic, payload = waiting.popleft()
                await client.publish(topic, payload, qos=1)
                sent = True
        return sent

    async def _publish_outbox(self, client: aiomqtt.Client) -> bool:
        """Publish outbox rows oldest first, keeping up to `inflight` awaiting their PUBACK (a
        sliding window, so one slow PUBACK does not hold back the rest); delete rows only once
        their PUBACK is in, a batch at a time. True if anything was published."""
        finished: asyncio.Queue[tuple[int, BaseException | None]] = asyncio.Queue()
        pending: set[asyncio.Task[None]] = set()
        queued: list[OutboxMessage] = []  # read ahead from the outbox, not yet published
        acked: list[int] = []
        sent_upto = 0
        published = False

        async def publish(message: OutboxMessage) -> None:
            try:
                # No timer per message (aiomqtt's default makes one, and a task, for each):
                # the window as a whole times out below.
                await client.publish(message.topic, message.payload, qos=message.qos, timeout=math.inf)
            except Exception as exc:  # reported through the queue, raised by the loop below
                finished.put_nowait((message.id, exc))
            else:
                finished.put_nowait((message.id, None))

        try:
            in_flight = 0
            while True:
                # Retained state (an alarm above all) goes ahead of an event backlog: in a gust
                # over hundreds of nodes the outbox never empties, and a climb's alarm must not
                # wait for the rattles queued before it.
                await self._publish_retained(client)
                room = self.config.inflight - in_flight
                if room > 0 and not queued:
                    queued = self.journal.outbox(sent_upto, 256)
                    if queued:
                        sent_upto = queued[-1].id
                # Tasks start in creation order, and each sends its PUBLISH before it first
                # waits, so the broker receives the rows in outbox order.
                for m in queued[:room]:
                    task = asyncio.ensure_future(publish(m))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                    in_flight += 1
                del queued[: max(room, 0)]
                if in_flight == 0:
                    self._forget(acked)
                    return published
                try:
                    async with asyncio.timeout(PUBACK_TIMEOUT_S):
                        results = [await finished.get()]
                except TimeoutError:
                    raise aiomqtt.MqttError("no PUBACK for %.0f s" % PUBACK_TIMEOUT_S) from None
                while not finished.empty():
                    results.append(finished.get_nowait())
                in_flight -= len(results)
                errors = [error for message_id, error in results if error is not None]
                acked += [message_id for message_id, error in results if error is None]
                published = published or bool(acked)
                if errors:
                    raise errors[0]
                if len(acked) >= self.config.inflight:
                    self._forget(acked)
        finally:
            for task in pending:
                task.cancel()
            self._forget(acked)

    def _forget(self, acked: list[int]) -> None:
        """Delete the rows whose PUBACK arrived (one transaction for the batch)."""
        if acked:
            self.journal.outbox_done(acked)
            self.published += len(acked)
            acked.clear()

    async def _health(self, client: aiomqtt.Client) -> None:
        while True:
            payload = dict(self.health(), ts=self.journal.clock.utc_now())
            await client.publish(topics.bridge_health(self.prefix), json.dumps(payload).encode(), qos=0)
            await asyncio.sleep(self.health_interval_s)
