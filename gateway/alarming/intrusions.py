"""Fence detections become intrusion alarms: the detections of one fence window weighed
together (common-mode rejection, then localisation), a climb heard again merged into its
alarm, and faint climbs of two neighbouring nodes made into a climb between them.

A faint pair is decided `FaintPairRule.hold_s` after its second report, not at once: wind
works the whole fence, and the other nodes' faint reports of the same gust arrive over the
next seconds as well as the last ones. Sans-I/O, like the engine that feeds it.
"""

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.alarming.alarms import CLEARED, INTRUSION, AlarmBook, Change
from gateway.alarming.fence_history import FenceHistory, Heard
from gateway.alarming.fusion import Detection, Rules
from gateway.alarming.perimeter import Perimeter
from protocol.messages import FENCE_CLASS

FENCE_CLASSES = FENCE_CLASS  # what a FENCE frame's class says, by number
_GRAVITY = {number: ("rattle", "faint", "climb", "cut").index(name) for number, name in FENCE_CLASS.items()}
MERGE_S = 30.0  # fence detections this soon after an intrusion, near it, are the same intrusion

Trigger = Callable[..., list[Change]]  # AlarmEngine._trigger


@dataclass(frozen=True)
class HeldPair:
    """A faint climb with a neighbour's report beside it, waiting to be decided."""

    decide_at: float
    event: Detection
    level: float
    evidence: tuple[str, ...]


def _gravity(d: Detection) -> tuple[int, float]:
    return _GRAVITY.get(d.fields.get("class", 0), 0), float(d.fields.get("peak", 0))


class Intrusions:
    def __init__(self, perimeter: Perimeter, book: AlarmBook, rules: Rules, fence: FenceHistory, trigger: Trigger):
        self.perimeter = perimeter
        self.book = book
        self.rules = rules
        self.fence = fence
        self._trigger = trigger
        self.recent: deque[tuple[float, float, str, float]] = deque()  # (at, location, alarm id, level)
        self.held: deque[HeldPair] = deque()  # in the order they are due
        self.environmental = 0  # fence groups judged to be weather
        self.faints: deque[Heard] = deque()  # the site's faint reports, for the weather check

    def heard_faint(self, heard: Heard) -> None:
        """Keep a faint report for the weather check, and forget those older than it looks at."""
        self.faints.append(heard)
        while self.faints[0].at < heard.at - self.rules.faint_pair.weather_window_s:
            self.faints.popleft()

    def next_deadline(self) -> float | None:
        return self.held[0].decide_at if self.held else None

    def expire(self, horizon: float) -> None:
        while self.recent and self.recent[0][0] < horizon:
            self.recent.popleft()

    def tick(self, now: float) -> list[Change]:
        """Decide the faint pairs whose hold is over."""
        changes: list[Change] = []
        while self.held and self.held[0].decide_at <= now:
            held = self.held.popleft()
            partner = self._faint_partner(held.event, held.level, held.decide_at)
            if partner is None:
                self.environmental += 1  # its neighbours turned out as busy: the weather
                continue
            levels = {held.event.node_id: held.level, partner.node_id: partner.level}
            evidence = [partner.event_id] + [e for e in held.evidence if e != partner.event_id]
            changes += self._intrusion("climb", levels, held.event, evidence, held.decide_at)
        return changes

    def group(self, group: list[Detection]) -> list[Change]:
        """One fence window's detections."""
        levels: dict[int, float] = {}
        strongest_event: dict[int, Detection] = {}
        for d in group:
            level = float(d.fields.get("peak", 0))
            levels[d.node_id] = max(level, levels.get(d.node_id, 0.0))
            # What a node said about this window is its gravest report: a climb that arrives
            # before the faint report the node made just ahead of it (LoRa does not keep the
            # order) is still a climb.
            held = strongest_event.get(d.node_id)
            if held is None or _gravity(d) >= _gravity(held):
                strongest_event[d.node_id] = d
        carrier = self.rules.common_mode.standing_out(levels)
        if carrier is None:
            self.environmental += 1
            return []
        event = strongest_event[carrier]
        kind = FENCE_CLASSES.get(event.fields.get("class", 0), "unknown")
        evidence = [d.event_id for d in group]
        if kind == "faint":
            if self._faint_partner(event, levels[carrier], event.at) is not None:
                decide_at = event.at + self.rules.faint_pair.hold_s
                self.held.append(HeldPair(decide_at, event, levels[carrier], tuple(evidence)))
            return []  # alone it is recorded, not alarmed; a pair is decided after its hold
        if kind not in ("climb", "cut"):
            return []  # a rattle is recorded, not alarmed
        return self._intrusion(kind, levels, event, evidence, event.at)

    def _intrusion(
        self, kind: str, levels: dict[int, float], event: Detection, evidence: list[str], now: float
    ) -> list[Change]:
        carrier = event.node_id
        location = self.rules.localisation.locate(levels, carrier, self.perimeter)
        level = levels[carrier]
        detail: dict[str, Any] = {"kind": kind, "node_id": carrier}
        if len(levels) == 2 and FENCE_CLASSES.get(event.fields.get("class", 0)) == "faint":
            detail["faint_pair"] = sorted(levels)
        for at, where, alarm_id, loudest in self.recent:
            alarm = self.book.alarms.get(alarm_id)
            reach = self.rules.localisation.reach_m
            # A group heard by one node alone is placed at that node, though the source may be
            # anywhere it can hear: it is the same intrusion if that is within its hearing and
            # it heard it fainter than the intrusion was heard (a second climber would be loud).
            faint_echo = len(levels) == 1 and level * 2 <= loudest
            near = location is not None and abs(where - location) <= (reach if faint_echo else reach / 2)
            if alarm is not None and alarm.state != CLEARED and near and event.at - at <= MERGE_S:
                # The same climber, heard again (maybe across a zone boundary): one alarm. It
                # moves only to where it was heard louder: a far node that reports the same
                # climber a moment later, faintly, is an echo, not a better place.
                louder = level > loudest
                moved = location if louder else None
                change = self.book.trigger(INTRUSION, alarm.zone, moved, evidence, now, detail=detail)
                if louder and location is not None:
                    self.recent.append((event.at, location, alarm_id, level))
                return [change] if change is not None else []
        changes = self._trigger(INTRUSION, location, evidence, now, detail=detail)
        for change in changes:
            self.recent.append((event.at, location if location is not None else 0.0, change.alarm.alarm_id, level))
        return changes

    def _faint_partner(self, d: Detection, level: float, until: float) -> Heard | None:
        """A neighbour's faint or climb report that makes this faint climb an intrusion,
        judged on what nodes near it reported from `window_s` before it until `until`."""
        rule = self.rules.faint_pair
        where = self.perimeter.chainage(d.node_id)
        if where is None:
            return None
        recent = self.fence.near(where, rule.reach_m, until, rule.window_s + (until - d.at))
        carrier = Heard(d.at, 0, d.event_id, d.node_id, "faint", level)
        faints = [h for h in self.faints if until - rule.weather_window_s <= h.at <= until]
        return rule.partner(carrier, recent, self.fence.neighbours(d.node_id), faints)
