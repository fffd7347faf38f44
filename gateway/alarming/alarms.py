"""Alarms and their lifecycle: active -> acknowledged (by whom, with a note) -> cleared.

Sans-I/O: the book holds the alarms and zone masks and returns what changed; the daemon
journals each change and publishes it retained on `P/alarm/<id>`. Every operator action
names its operator and is refused without the note or reason the control room's procedures
require. An alarm that triggers again while acknowledged is escalated: it becomes active
again with a higher severity, so a second climb in the same place is not lost behind the
first one's acknowledgement.
"""

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.alarming import outcomes
from gateway.outputs import topics

ACTIVE = "active"
ACKNOWLEDGED = "acknowledged"
CLEARED = "cleared"

INTRUSION = "intrusion"
THROW_OVER = "throw_over"
DRONE = "drone"
DRONE_DROP = "drone_drop"
TAMPER = "tamper"
FAULT = "fault"
COMM_FAIL = "comm_fail"
JAMMING = "jamming"
SECURITY = "security"
MASK_EXPIRED = "mask_expired"

# Base severity per category (1 = most severe, as zone priorities); a zone's priority can
# raise it, escalation raises it further.
BASE_SEVERITY = {
    INTRUSION: 2,
    THROW_OVER: 2,
    DRONE_DROP: 1,
    DRONE: 3,
    TAMPER: 2,
    SECURITY: 2,
    JAMMING: 2,
    COMM_FAIL: 3,
    FAULT: 4,
    MASK_EXPIRED: 3,
}
SCHEMA = "perimeter.alarm/1"
# What a mask or a walk test never silences: someone at the node's box, an attack on the
# system itself, a node gone quiet, the radio jammed. Masking a zone for a fence repair
# must not give an insider a zone where a tamper or a jammer goes unseen.
NEVER_SILENCED = frozenset({TAMPER, SECURITY, COMM_FAIL, JAMMING})

# An alarm that stays open while a node keeps reporting gathers evidence without end; its
# retained message carries the first EVIDENCE_FIRST ids and the newest, EVIDENCE_SHOWN in
# all, with `evidence_count`, so publishing it costs the same on its ten-thousandth event as
# on its first. The journal keeps every id (each alarm row lists the ids it added).
EVIDENCE_SHOWN = 100
EVIDENCE_FIRST = 10


class OperatorError(Exception):
    """An operator command that cannot be carried out (unknown alarm, missing note, ...)."""


@dataclass
class Alarm:
    alarm_id: str
    category: str
    zone: str | None
    location_m: float | None
    severity: int
    raised_at: float
    updated_at: float
    state: str = ACTIVE
    evidence: list[str] = field(default_factory=list)  # the first and the newest, as published
    detail: dict[str, Any] = field(default_factory=dict)
    escalations: int = 0
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    note: str | None = None
    cleared_by: str | None = None
    cleared_at: float | None = None
    evidence_count: int = 0  # every id ever added, shown or not
    reason: str | None = None  # what it turned out to be, said on clearing (`outcomes.py`)

    def __post_init__(self) -> None:
        self.evidence_count = max(self.evidence_count, len(self.evidence))
        self._seen: set[str] = set(self.evidence)

    def add_evidence(self, ids: list[str]) -> list[str]:
        """Add what is new among these event ids; the ids added. Constant work per id: the
        list keeps the first ids and the newest, the middle is dropped (the journal has it)."""
        added = [e for e in dict.fromkeys(ids) if e not in self._seen]
        self.evidence += added
        self._seen.update(added)
        self.evidence_count += len(added)
        if len(self.evidence) > 2 * EVIDENCE_SHOWN:  # trimmed now and then, not per id
            keep_newest = EVIDENCE_SHOWN - EVIDENCE_FIRST
            dropped = self.evidence[EVIDENCE_FIRST:-keep_newest]
            del self.evidence[EVIDENCE_FIRST:-keep_newest]
            self._seen.difference_update(dropped)
        return added

    def shown_evidence(self) -> list[str]:
        if len(self.evidence) <= EVIDENCE_SHOWN:
            return list(self.evidence)
        return self.evidence[:EVIDENCE_FIRST] + self.evidence[-(EVIDENCE_SHOWN - EVIDENCE_FIRST) :]

    def as_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "alarm_id": self.alarm_id,
            "category": self.category,
            "zone": self.zone,
            "location_m": None if self.location_m is None else round(self.location_m, 1),
            "severity": self.severity,
            "state": self.state,
            "raised_at": self.raised_at,
            "updated_at": self.updated_at,
            "evidence": self.shown_evidence(),
            "evidence_count": self.evidence_count,
            "detail": dict(self.detail),
            "escalations": self.escalations,
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": self.acknowledged_at,
            "note": self.note,
            "cleared_by": self.cleared_by,
            "cleared_at": self.cleared_at,
            "reason": self.reason,
        }


@dataclass
class Mask:
    zone: str
    operator: str
    reason: str
    until: float
    approved_by: str = ""  # the second account (four eyes)


@dataclass
class Change:
    """What changed: an alarm (raised, updated, acknowledged, escalated, cleared) and why."""

    alarm: Alarm
    action: str
    operator: str | None = None
    evidence_added: list[str] = field(default_factory=list)
    zone_before: str | None = None  # where a moving alarm (a drone track) was until now


class AlarmBook:
    """The open alarms (indexed by category and key, then zone, and by zone, so finding the
    one an event belongs to costs the same however many are open) and the zone masks.

    Every change is remembered until `commit()`; `rollback()` puts the book back as it was
    at the last commit. The daemon calls one or the other with its journal transaction, so
    an alarm is never acknowledged, cleared or masked in memory but not in the journal."""

    def __init__(self, site: str) -> None:
        self.site = site
        self.alarms: dict[str, Alarm] = {}
        self.masks: dict[str, Mask] = {}
        self._seq = 0
        self._by_key: dict[tuple[str, str], dict[str | None, Alarm]] = {}
        self._by_zone: dict[str | None, dict[str, Alarm]] = {}
        self._undo: list[Callable[[], None]] = []  # since the last commit, newest last

    def commit(self) -> None:
        """What changed since the last commit is durable: forget how to undo it."""
        self._undo.clear()

    def rollback(self) -> None:
        """Put the book back as it was at the last commit."""
        while self._undo:
            self._undo.pop()()

    def _keep(self, alarm: Alarm) -> None:
        """Remember an alarm as it is now (open or just raised) to put it back on rollback."""
        if alarm.alarm_id not in self.alarms:  # raised in this transaction: undo is removal
            self._undo.append(lambda: self._unindex(alarm) if self.alarms.get(alarm.alarm_id) is alarm else None)
            return
        before = copy.copy(alarm)
        before.evidence, before.detail, before._seen = list(alarm.evidence), dict(alarm.detail), set(alarm._seen)

        def undo() -> None:
            if self.alarms.get(alarm.alarm_id) is alarm:
                self._unindex(alarm)
            alarm.__dict__.update(before.__dict__)
            self._index(alarm)

        self._undo.append(undo)

    def _keep_mask(self, zone: str) -> None:
        before = self.masks.get(zone)

        def undo() -> None:
            if before is None:
                self.masks.pop(zone, None)
            else:
                self.masks[zone] = before

        self._undo.append(undo)

    def find(self, category: str, zone: str | None, key: str, match_zone: bool = True) -> Alarm | None:
        """The open alarm of this category, zone and key (any zone's unless `match_zone`)."""
        by_zone = self._by_key.get((category, key))
        if not by_zone:
            return None
        if match_zone:
            return by_zone.get(zone)
        return next(iter(by_zone.values()))

    def _index(self, alarm: Alarm) -> None:
        self.alarms[alarm.alarm_id] = alarm
        self._by_key.setdefault((alarm.category, alarm.detail.get("key", "")), {})[alarm.zone] = alarm
        self._by_zone.setdefault(alarm.zone, {})[alarm.alarm_id] = alarm

    def _unindex(self, alarm: Alarm) -> None:
        del self.alarms[alarm.alarm_id]
        key = (alarm.category, alarm.detail.get("key", ""))
        by_zone = self._by_key[key]
        if by_zone.get(alarm.zone) is alarm:
            del by_zone[alarm.zone]
        if not by_zone:
            del self._by_key[key]
        in_zone = self._by_zone[alarm.zone]
        del in_zone[alarm.alarm_id]
        if not in_zone:
            del self._by_zone[alarm.zone]

    def open_in_zone(self, zone: str | None) -> list[Alarm]:
        """The open alarms of one zone."""
        return list(self._by_zone.get(zone, {}).values())

    def restore(
        self, retained: list[tuple[int, str, bytes]], prefix: str, journalled: list[dict[str, Any]] | None = None
    ) -> None:
        """Masks from their retained messages (what the last run published); open alarms from
        `journalled` (each alarm's latest journal row: the chain, which a hand edit of the
        retained table cannot change), or else from the retained messages too."""
        for data in journalled or []:
            alarm = Alarm(**{k: v for k, v in data.items() if k != "schema"})
            if alarm.state != CLEARED:
                self._index(alarm)
        for _version, topic, payload in retained:
            if not payload:
                continue
            try:
                data = json.loads(payload)
            except ValueError:
                continue
            if journalled is None and topic.startswith(topics.alarm(prefix)) and data.get("schema") == SCHEMA:
                fields = {k: v for k, v in data.items() if k != "schema"}
                alarm = Alarm(**fields)
                if alarm.state != CLEARED:
                    self._index(alarm)
            elif topic.startswith(topics.mask(prefix)):
                self.masks[data["zone"]] = Mask(
                    data["zone"], data["operator"], data["reason"], data["until"], data.get("approved_by", "")
                )
        self._seq = len(self.alarms)

    def open_alarms(self) -> list[Alarm]:
        return [a for a in self.alarms.values() if a.state != CLEARED]

    def masked(self, zone: str | None, now: float) -> bool:
        mask = self.masks.get(zone or "")
        return mask is not None and now < mask.until

    def trigger(
        self,
        category: str,
        zone: str | None,
        location_m: float | None,
        evidence: list[str],
        now: float,
        zone_priority: int = 3,
        key: str = "",
        detail: dict[str, Any] | None = None,
        match_zone: bool = True,
    ) -> Change | None:
        """Raise an alarm, or add evidence to the open one of the same category, zone and
        key (escalating it if it was acknowledged); with `match_zone` False the key alone
        finds it, and the alarm moves to the new zone. None while the zone is masked: the
        events are journalled by the caller all the same (`NEVER_SILENCED` raise regardless)."""
        if category not in NEVER_SILENCED and self.masked(zone, now):
            return None
        existing = self.find(category, zone, key, match_zone)
        if existing is not None:
            self._keep(existing)
            added = existing.add_evidence(evidence)
            existing.updated_at = now
            if location_m is not None:
                existing.location_m = location_m
            zone_before = existing.zone
            if not match_zone and zone != existing.zone:
                # A moving thing (a drone track) takes its alarm along.
                self._unindex(existing)
                existing.zone = zone
                self._index(existing)
            if detail:
                existing.detail.update(detail)
            action = "updated"
            if existing.state == ACKNOWLEDGED:
                existing.state = ACTIVE
                existing.escalations += 1
                existing.severity = max(1, existing.severity - 1)
                action = "escalated"
            return Change(existing, action, evidence_added=added, zone_before=zone_before)
        self._seq += 1
        severity = min(BASE_SEVERITY.get(category, 3), max(1, zone_priority))
        alarm = Alarm(
            alarm_id="%s-%d-%d" % (self.site, int(now), self._seq),
            category=category,
            zone=zone,
            location_m=location_m,
            severity=severity,
            raised_at=now,
            updated_at=now,
            detail=dict(detail or {}, key=key),
        )
        added = alarm.add_evidence(evidence)
        self._keep(alarm)
        self._index(alarm)
        return Change(alarm, "raised", evidence_added=added)

    def _get(self, alarm_id: str) -> Alarm:
        alarm = self.alarms.get(alarm_id)
        if alarm is None or alarm.state == CLEARED:
            raise OperatorError("no open alarm %r" % alarm_id)
        return alarm

    def acknowledge(self, alarm_id: str, operator: str, note: str, now: float) -> Change:
        if not operator or not note.strip():
            raise OperatorError("acknowledging needs the operator's name and a note")
        alarm = self._get(alarm_id)
        self._keep(alarm)
        alarm.state = ACKNOWLEDGED
        alarm.acknowledged_by = operator
        alarm.acknowledged_at = now
        alarm.note = note
        alarm.updated_at = now
        return Change(alarm, "acknowledged", operator)

    def clear(self, alarm_id: str, operator: str, note: str, now: float, reason: str | None) -> Change:
        if not operator or not note.strip() or not outcomes.is_reason(reason):
            why = "clearing needs the operator's name, a note and a reason code: one of %s"
            raise OperatorError(why % ", ".join(outcomes.REASONS))
        alarm = self._get(alarm_id)
        if alarm.state != ACKNOWLEDGED:
            raise OperatorError("alarm %s must be acknowledged before it is cleared" % alarm_id)
        self._keep(alarm)
        alarm.state = CLEARED
        alarm.cleared_by = operator
        alarm.cleared_at = now
        alarm.note = note
        alarm.reason = reason
        alarm.updated_at = now
        self._unindex(alarm)  # the journal keeps it; the book holds open alarms only
        return Change(alarm, "cleared", operator)

    def mask(self, zone: str, operator: str, reason: str, until: float, now: float, approved_by: str = "") -> Mask:
        if not operator or not reason.strip():
            raise OperatorError("masking a zone needs the operator's name and a reason")
        if until <= now:
            raise OperatorError("a mask needs an expiry in the future")
        mask = Mask(zone, operator, reason, until, approved_by)
        self._keep_mask(zone)
        self.masks[zone] = mask
        return mask

    def unmask(self, zone: str, operator: str) -> Mask:
        if zone not in self.masks:
            raise OperatorError("zone %r is not masked" % zone)
        self._keep_mask(zone)
        mask = self.masks.pop(zone)
        return mask

    def expire_masks(self, now: float) -> list[Change]:
        """A mask that ran out without being lifted is itself alarmed: someone forgot it."""
        changes = []
        for zone, mask in list(self.masks.items()):
            if now >= mask.until:
                self._keep_mask(zone)
                del self.masks[zone]
                change = self.trigger(
                    MASK_EXPIRED,
                    zone,
                    None,
                    [],
                    now,
                    detail={"masked_by": mask.operator, "reason": mask.reason, "until": mask.until},
                )
                if change is not None:
                    changes.append(change)
        return changes
