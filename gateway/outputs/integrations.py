"""Alarm integrations beyond MQTT: Milestone XProtect generic events over TCP, and an
HTTPS webhook. Both are fed from the journal's `deliveries` queue, written in the same
transaction as the alarm change, so an integration that is down (a VMS being restarted, a
network outage) gets every alarm, in order, once it is back; nothing is held only in RAM.

Milestone's generic event listener takes one event per connection, as text: "compatible"
(port 1234, nothing after the text) or "international" (port 1235, UTF-8 ending in CRLF).
The text comes from a template the VMS administrator matches rules against, e.g.
`Perimeter {category} {zone}`.
"""

import asyncio
import json
import logging
import ssl
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.alarming.alarms import Change
from gateway.backoff import backoff_delay
from gateway.evidence.journal import Journal

log = logging.getLogger("perimeter.integrations")

DEFAULT_ACTIONS = ("raised", "escalated")


@dataclass(frozen=True)
class MilestoneConfig:
    name: str
    host: str
    port: int = 1234
    template: str = "Perimeter {category} {zone} {alarm_id}"
    international: bool = False
    actions: tuple[str, ...] = DEFAULT_ACTIONS


@dataclass(frozen=True)
class WebhookConfig:
    name: str
    url: str
    ca_file: str | None = None
    token_file: str | None = None
    timeout_s: float = 10.0
    actions: tuple[str, ...] = ("raised", "updated", "escalated", "acknowledged", "cleared")
    witness: bool = False  # also POST each signed journal checkpoint (gateway/evidence/witness.py)


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def milestone_text(config: MilestoneConfig, change: Change) -> bytes:
    fields = _Blank(change.alarm.as_json(), action=change.action, operator=change.operator or "")
    fields["zone"] = fields.get("zone") or ""
    text = config.template.format_map(fields)
    return (text + "\r\n").encode("utf-8") if config.international else text.encode("utf-8")


def webhook_body(change: Change) -> bytes:
    return json.dumps(
        {
            "schema": "perimeter.alarm-change/1",
            "action": change.action,
            "operator": change.operator,
            "alarm": change.alarm.as_json(),
        },
        sort_keys=True,
    ).encode()


class DeliverySink(ABC):
    """Delivers one integration's queue in order, retrying with jittered backoff; a
    subclass says how one message is delivered."""

    def __init__(self, name: str, journal: Journal) -> None:
        self.name = name
        self.journal = journal
        self.delivered = 0
        self.failures = 0
        self.up = False

    @abstractmethod
    async def deliver(self, payload: bytes) -> None:
        """Deliver one queued message, or raise: it stays queued and is tried again."""

    async def run(self) -> None:
        attempt = 0
        while True:
            item = self.journal.next_delivery(self.name)
            if item is None:
                await asyncio.sleep(0.25)
                continue
            delivery_id, payload = item
            try:
                await self.deliver(payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the far end is down or refused: keep it, try again
                self.failures += 1
                if self.up or attempt == 0:
                    log.warning(
                        "integration=%s down: %s (%d queued)",
                        self.name,
                        exc,
                        self.journal.deliveries_pending(self.name),
                    )
                self.up = False
                attempt += 1
                await asyncio.sleep(backoff_delay(attempt, 0.2, 10.0))
                continue
            if not self.up:
                log.info("integration=%s up", self.name)
            self.up = True
            attempt = 0
            self.journal.delivered(delivery_id)
            self.delivered += 1


class MilestoneSink(DeliverySink):
    def __init__(self, config: MilestoneConfig, journal: Journal) -> None:
        super().__init__(config.name, journal)
        self.config = config

    async def deliver(self, payload: bytes) -> None:
        async with asyncio.timeout(10):
            _reader, writer = await asyncio.open_connection(self.config.host, self.config.port)
            try:
                writer.write(payload)
                await writer.drain()
            finally:
                writer.close()
                await writer.wait_closed()


class WebhookSink(DeliverySink):
    def __init__(self, config: WebhookConfig, journal: Journal, token: str | None = None) -> None:
        super().__init__(config.name, journal)
        self.config = config
        self.token = token
        self._context = ssl.create_default_context(cafile=config.ca_file) if config.url.startswith("https:") else None

    def _post(self, payload: bytes) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "perimeter-gateway"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        request = urllib.request.Request(self.config.url, data=payload, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.config.timeout_s, context=self._context) as response:
            if not 200 <= response.status < 300:
                raise OSError("HTTP %d" % response.status)

    async def deliver(self, payload: bytes) -> None:
        await asyncio.to_thread(self._post, payload)


def integrations_for(
    milestone: Iterable[MilestoneConfig], webhooks: Iterable[WebhookConfig], journal: Journal
) -> list[DeliverySink]:
    """A delivery sink per configured integration, each draining its own queue in the journal."""
    sinks: list[DeliverySink] = [MilestoneSink(m, journal) for m in milestone]
    for w in webhooks:
        token = Path(w.token_file).read_text().strip() if w.token_file else None
        sinks.append(WebhookSink(w, journal, token))
    return sinks
