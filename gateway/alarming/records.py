"""Alarm changes made durable: each journalled, its alarm retained on MQTT (empty once
cleared), handed to the integrations that want it, and the zones it touched republished.
Runs inside the caller's transaction; who watches (the dashboard) is told through listeners."""

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from gateway.alarming.alarms import ACKNOWLEDGED, ACTIVE, CLEARED, AlarmBook, Change
from gateway.alarming.perimeter import Zone
from gateway.clock import utc_iso
from gateway.evidence.journal import Journal
from gateway.outputs import topics
from gateway.outputs.integrations import MilestoneConfig, WebhookConfig, milestone_text, webhook_body

log = logging.getLogger("perimeter.gateway")


class AlarmRecords:
    def __init__(
        self,
        journal: Journal,
        prefix: str,
        book: AlarmBook,
        zones: Iterable[Zone],
        milestone: Iterable[MilestoneConfig] = (),
        webhooks: Iterable[WebhookConfig] = (),
    ) -> None:
        self.now = journal.clock.now  # the gateway's one clock, which stamps the rows too
        self.journal = journal
        self.prefix = prefix
        self.book = book
        self.zones = tuple(zones)
        self.milestone = tuple(milestone)
        self.webhooks = tuple(webhooks)
        self.on_change: list[Callable[[Change], None]] = []  # each change, once journalled
        self.on_zone: list[Callable[[str, str], None]] = []  # a zone's state, when it changed

    def write(self, changes: list[Change]) -> None:
        for change in changes:
            alarm = change.alarm.as_json()
            row: dict[str, Any] = {"action": change.action, "operator": change.operator, "alarm": alarm}
            if change.evidence_added:
                row["evidence_added"] = change.evidence_added  # the message shows only the first and newest
            self.journal.append("alarm", row, event_id=None)
            topic = topics.alarm(self.prefix, change.alarm.alarm_id)
            self.journal.set_retained(topic, b"" if change.alarm.state == CLEARED else json.dumps(alarm).encode())
            for m in self.milestone:
                if change.action in m.actions:
                    self.journal.deliver(m.name, milestone_text(m, change))
            for w in self.webhooks:
                if change.action in w.actions:
                    self.journal.deliver(w.name, webhook_body(change))
            for listener in self.on_change:
                listener(change)
            log.warning(
                "alarm %s %s category=%s zone=%s location_m=%s severity=%d",
                change.action,
                change.alarm.alarm_id,
                change.alarm.category,
                change.alarm.zone,
                alarm["location_m"],
                change.alarm.severity,
            )
        if changes:
            self.publish_zones(self.now(), {c.alarm.zone for c in changes} | {c.zone_before for c in changes})

    def publish_all(self, now: float) -> None:
        """At start: every open alarm's retained message as the chain rebuilt it (a message
        deleted from the retained table by hand comes back), then every zone's state."""
        for alarm in self.book.open_alarms():
            self.journal.set_retained(topics.alarm(self.prefix, alarm.alarm_id), json.dumps(alarm.as_json()).encode())
        self.publish_zones(now)

    def zone_state(self, zone: str, now: float) -> str:
        open_here = self.book.open_in_zone(zone)
        if any(a.state == ACTIVE for a in open_here):
            return "alarm"  # a mask never hides a tamper, a jammer or a node gone quiet
        if self.book.masked(zone, now):
            return "masked"
        if any(a.state == ACKNOWLEDGED for a in open_here):
            return "acknowledged"
        return "clear"

    def publish_zones(self, now: float, zones: set[str | None] | None = None) -> None:
        """Each zone's alarm state (or only these zones'), retained on `P/zone/<name>/state`
        (Home Assistant's zone sensors read it). The journal writes only a change."""
        for zone in self.zones:
            if zones is not None and zone.name not in zones:
                continue
            state = self.zone_state(zone.name, now)
            for listener in self.on_zone:
                listener(zone.name, state)
            mask = self.book.masks.get(zone.name) if self.book.masked(zone.name, now) else None
            data = {
                "zone": zone.name,
                "state": state,
                "open_alarms": len(self.book.open_in_zone(zone.name)),
                "masked_until": utc_iso(mask.until) if mask else None,
                "masked_by": mask.operator if mask else None,
            }
            self.journal.set_retained(topics.zone_state(self.prefix, zone.name), json.dumps(data).encode())
