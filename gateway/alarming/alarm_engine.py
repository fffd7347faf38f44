"""The alarm engine: detections, supervision and security findings in; alarm changes out.

Sans-I/O and clock-free: the daemon passes each journalled event with its time, calls
`tick(now)` every second, and journals and publishes the changes it gets back. Fence
detections wait `fence_window_s` so that the activity of neighbouring nodes can be weighed
together (common-mode rejection, then localisation); everything else is decided at once.

The work per event does not grow with how much happened lately: a gust across a 500-node
site is hundreds of fence frames a second, and that is when a climb must still come through
at once. Waiting detections sit in a heap by time and leave it a window at a time; what the
rules look back on (recent fence activity per node, recent intrusions and throw-overs) sits
in queues in arrival order that expire from the front; open alarms are indexed in the book.
"""

import heapq
from collections import deque
from typing import Any

from gateway.alarming.alarms import (
    ACTIVE,
    CLEARED,
    COMM_FAIL,
    DRONE,
    DRONE_DROP,
    FAULT,
    INTRUSION,
    JAMMING,
    SECURITY,
    TAMPER,
    THROW_OVER,
    AlarmBook,
    Change,
)
from gateway.alarming.fence_history import FenceHistory, Heard
from gateway.alarming.fusion import Detection, DroneTrack, Rules
from gateway.alarming.intrusions import FENCE_CLASSES, Intrusions
from gateway.alarming.landings import GROUND, POST, Landings
from gateway.alarming.perimeter import INSIDE, Perimeter


class AlarmEngine:
    def __init__(self, perimeter: Perimeter, book: AlarmBook, rules: Rules | None = None) -> None:
        self.perimeter = perimeter
        self.book = book
        self.rules = rules or Rules()
        self._arrivals = 0  # arrival order: ties in the heap, evidence in the order it came
        self._pending: list[tuple[float, int, Detection]] = []  # heap of fence detections waiting for their window
        self.fence = FenceHistory(perimeter)  # recent fence activity, for the rules that look back
        self._throw_overs: deque[tuple[float, float, str, str]] = deque()  # (at, location, alarm id, key)
        self.tracks: list[DroneTrack] = []
        self._track_seq = 0
        self._drone_cleared: dict[int, float] = {}  # node -> when its last drone clear happened
        self._ticked = float("-inf")  # the latest time tick() has seen
        self._jam: dict[str, list[tuple[float, float]]] = {}
        self.intrusions = Intrusions(perimeter, book, self.rules, self.fence, self._trigger)
        self.landings = Landings(self.rules.landing)
        self._placed: dict[str | None, dict[int, float]] = {}  # side -> node -> chainage
        for n in perimeter.nodes:
            if (c := perimeter.chainage(n)) is not None:
                self._placed.setdefault(perimeter.side(n), {})[n] = c

    @property
    def environmental(self) -> int:
        """Fence groups (and faint pairs) judged to be the weather."""
        return self.intrusions.environmental

    # -- helpers -------------------------------------------------------------------------------

    def _trigger(
        self,
        category: str,
        location: float | None,
        evidence: list[str],
        now: float,
        key: str = "",
        detail: dict[str, Any] | None = None,
        zone_name: str | None = None,
        match_zone: bool = True,
    ) -> list[Change]:
        zone = self.perimeter.zone_at(location) if location is not None else None
        name = zone.name if zone is not None else zone_name
        change = self.book.trigger(
            category,
            name,
            location,
            evidence,
            now,
            zone.priority if zone else 3,
            key=key,
            detail=detail,
            match_zone=match_zone,
        )
        return [change] if change is not None else []

    def _node_location(self, node_id: int) -> float | None:
        return self.perimeter.chainage(node_id)

    # -- inputs --------------------------------------------------------------------------------

    def on_event(self, d: Detection) -> list[Change]:
        changes = self.tick(d.at)
        self._arrivals += 1
        if d.type == "fence":
            heapq.heappush(self._pending, (d.at, self._arrivals, d))
            kind = FENCE_CLASSES.get(d.fields.get("class", 0), "unknown")
            heard = Heard(d.at, self._arrivals, d.event_id, d.node_id, kind, float(d.fields.get("peak", 0)))
            self.fence.add(heard)
            if kind == "faint":
                self.intrusions.heard_faint(heard)
        elif d.type == "impact":
            changes += self._impact(d)
        elif d.type == "thud":
            changes += self._thud(d)
        elif d.type == "acoustic":
            changes += self._acoustic(d)
        elif d.type == "tamper" and d.fields.get("state") == 1:
            changes += self._trigger(
                TAMPER,
                self._node_location(d.node_id),
                [d.event_id],
                d.at,
                key=str(d.node_id),
                detail={"node_id": d.node_id},
            )
        elif d.type == "fault" and d.fields.get("state") == 1:
            changes += self._trigger(
                FAULT,
                self._node_location(d.node_id),
                [d.event_id],
                d.at,
                key="%d:%d" % (d.node_id, d.fields.get("code", 0)),
                detail={"node_id": d.node_id, "code": d.fields.get("code")},
            )
        return changes

    def on_comm_fail(self, node_id: int, event_id: str, at: float) -> list[Change]:
        return self._trigger(
            COMM_FAIL, self._node_location(node_id), [event_id], at, key=str(node_id), detail={"node_id": node_id}
        )

    def on_security(self, kind: str, node_id: int | None, event_id: str, at: float) -> list[Change]:
        location = self._node_location(node_id) if node_id is not None else None
        return self._trigger(
            SECURITY, location, [event_id], at, key="%s:%s" % (kind, node_id), detail={"kind": kind, "node_id": node_id}
        )

    def on_interference(self, transport: str, begin: float, end: float) -> list[Change]:
        """A receiver heard interference (raised noise floor, lost frames) from begin to end."""
        intervals = self._jam.setdefault(transport, [])
        intervals.append((begin, end))
        horizon = end - self.rules.jamming.window_s
        self._jam[transport] = [(b, e) for b, e in intervals if e > horizon]
        if self.rules.jamming.jammed(self._jam[transport], end):
            open_alarm = self.book.find(JAMMING, None, transport)
            if open_alarm is not None and open_alarm.state == ACTIVE:
                return []  # still jammed: the alarm stands, no new row per bad packet
            return self._trigger(JAMMING, None, [], end, key=transport, detail={"transport": transport}, zone_name=None)
        return []

    def next_deadline(self) -> float | None:
        """When the oldest waiting fence window closes, or a drone track has been heard long
        enough to be confirmed (None: nothing waits)."""
        times = [self._pending[0][0] + self.rules.fence_window_s] if self._pending else []
        held = self.intrusions.next_deadline()  # a faint pair's hold
        times += [held] if held is not None else []
        lone = self.landings.next_deadline()  # a loud thud heard by one node, waiting for others
        times += [lone] if lone is not None else []
        rule = self.rules.drone
        for track in self.tracks:
            if not track.alarmed and track.ended_at is None:
                # Only moments still ahead: one already past would wake the daemon at once, again.
                moments = (track.started_at + rule.confirm_s, track.started_at + rule.alone_s)
                times += [t for t in moments if t > self._ticked]
        return min(times) if times else None

    def tick(self, now: float) -> list[Change]:
        self._ticked = max(self._ticked, now)
        changes: list[Change] = []
        window = self.rules.fence_window_s
        pending = self._pending
        while pending and now - pending[0][0] >= window:
            # The oldest waiting detection opens the group; all within the window join it.
            start = pending[0][0]
            group = []
            while pending and pending[0][0] - start < window:
                group.append(heapq.heappop(pending))
            group.sort(key=lambda entry: entry[1])  # in the order they arrived
            changes += self.intrusions.group([d for _, _, d in group])
        changes += self.intrusions.tick(now)
        for landing in self.landings.due(now):
            landing.reported = True
            changes += self._landing(landing.location_m or 0.0, landing.evidence, now, landing.detail(), placed=True)
        self._expire(now)
        for track in self.tracks:
            if not track.alarmed and track.ended_at is None:
                changes += self._confirm(track, now)  # heard long enough by now?
        changes += self.book.expire_masks(now)
        return changes

    def _expire(self, now: float) -> None:
        """Forget what the rules no longer look back on (from the front: it arrived first)."""
        horizon = now - max(self.rules.throw_over.window_s, self.rules.faint_pair.window_s, 30.0)
        self.fence.expire(horizon)
        self.intrusions.expire(horizon)
        while self._throw_overs and self._throw_overs[0][0] < horizon:
            self._throw_overs.popleft()
        ended = False
        for track in self.tracks:
            if track.ended_at is None and now - track.last_seen >= self.rules.drone.track_timeout_s:
                track.ended_at = track.last_seen
            if track.ended_at is not None and now - track.ended_at >= self.rules.drone.drop_window_s:
                ended = True
        if ended:
            self.tracks = [
                t for t in self.tracks if t.ended_at is None or now - t.ended_at < self.rules.drone.drop_window_s
            ]

    def _fence_near(self, where: float, at: float) -> list[str]:
        """Fence detections within the throw-over radius of a place in the window before a
        time, in the order they arrived."""
        rule = self.rules.throw_over
        return [heard.event_id for heard in self.fence.near(where, rule.radius_m, at, rule.window_s)]

    # -- rules ---------------------------------------------------------------------------------

    def _impact(self, d: Detection) -> list[Change]:
        """The ground felt a package land: a ground node inside the fence (placed with its
        neighbours' reports, air and ground), or a fence post's impact channel (at the node,
        within its few metres)."""
        where = self._node_location(d.node_id)
        if where is None:
            return []
        inside = self.perimeter.side(d.node_id) == INSIDE
        channel = GROUND if inside else POST
        ground = {n: (c, self.perimeter.inside_m(n)) for n, c in self._placed.get(INSIDE, {}).items()}
        landing = self.landings.felt(d, where, self.perimeter.inside_m(d.node_id), channel, ground)
        if landing is None or len(landing.reports) == 1 or landing.location_m is None:
            detail = landing.detail() if landing is not None and inside else {}
            if landing is not None:
                landing.reported = True
                if not inside:  # a post alone: at the post, how far in only as near as it feels
                    only = next(iter(landing.reports.values()))
                    landing.inside_m, landing.error_m = self.landings.lone_place(only)
                    detail = landing.detail()
            return self._landing(where, [d.event_id], d.at, detail, placed=False)
        evidence = landing.evidence if not landing.reported else [d.event_id]
        landing.reported = True
        return self._landing(landing.location_m, evidence, d.at, landing.detail(), placed=True)

    def _thud(self, d: Detection) -> list[Change]:
        """A node heard a landing: a landing once a neighbour heard it too, placed by levels."""
        where = self._node_location(d.node_id)
        side = self._placed.get(self.perimeter.side(d.node_id), {})  # nodes like it: microphones
        landing = self.landings.heard(d, where, side) if where is not None else None
        if landing is None or landing.location_m is None:
            return []  # alone so far (recorded; a neighbour's report may follow)
        evidence = landing.evidence if not landing.reported else [d.event_id]
        landing.reported = True
        return self._landing(landing.location_m, evidence, d.at, landing.detail(), placed=True)

    def _landing(
        self, where: float, evidence: list[str], at: float, detail: dict[str, Any], placed: bool
    ) -> list[Change]:
        """A package landed at `where`: a drone's drop, a climber landing, or a throw-over.
        `placed`: located from several nodes' levels (better than a place heard before)."""
        rule = self.rules.throw_over
        # The latest drone first: an earlier one over the same place has long gone.
        for track in sorted(self.tracks, key=lambda t: -t.last_seen):
            if (
                track.position_m is not None
                and abs(track.position_m - where) <= self.rules.drone.drop_radius_m
                and at - track.last_seen <= self.rules.drone.drop_window_s
            ):
                return self._trigger(
                    DRONE_DROP,
                    where,
                    track.evidence + evidence,
                    at,
                    key="track-%d" % track.track_id,
                    detail=dict(detail, track=track.track_id),
                    match_zone=False,  # the drop placed better by a later report may cross a zone's edge
                )
        for i_at, location, _alarm_id, _level in self.intrusions.recent:
            if at - i_at <= rule.window_s and abs(location - where) <= rule.radius_m:
                # Someone climbed and landed: the intrusion alarm gains the evidence.
                return self._trigger(INTRUSION, location, evidence, at, detail={"landed": True})
        for t_at, location, alarm_id, key in self._throw_overs:
            alarm = self.book.alarms.get(alarm_id)
            if alarm is not None and alarm.state != CLEARED and at - t_at <= rule.window_s:
                if abs(location - where) <= rule.radius_m:
                    # The same package heard by more nodes (their frames a retry later).
                    spot = where if placed else location
                    change = self.book.trigger(THROW_OVER, alarm.zone, spot, evidence, at, key=key, detail=detail)
                    return [change] if change is not None else []
        near = self._fence_near(where, at)
        key = "%d" % int(where // max(rule.radius_m, 1.0))
        detail = dict(detail, fence_activity_before=bool(near))
        changes = self._trigger(THROW_OVER, where, near + evidence, at, key=key, detail=detail)
        for change in changes:
            self._throw_overs.append((at, where, change.alarm.alarm_id, key))
        return changes

    def _acoustic(self, d: Detection) -> list[Change]:
        if d.fields.get("class") not in (1, 2):
            return []  # an aircraft overhead: journalled and shown, never a drone's track or alarm
        where = self._node_location(d.node_id)
        cleared = d.fields.get("class") == 2
        track = None
        for candidate in self.tracks:
            if candidate.ended_at is None and (
                d.node_id in candidate.detecting
                or (
                    where is not None
                    and candidate.position_m is not None
                    and abs(candidate.position_m - where) <= self.rules.drone.same_track_m
                )
            ):
                track = candidate
                break
        # A detection lost on air is sent again after its clear has got through: out of the
        # node's order, it would open a track that nothing ever clears (a false drone).
        over = self._drone_cleared.get(d.node_id)
        if cleared:
            self._drone_cleared[d.node_id] = d.at if over is None else max(over, d.at)
        elif over is not None and d.at <= over:
            if track is not None:
                track.evidence.append(d.event_id)
            return []
        if cleared:
            if track is not None:
                track.detecting.pop(d.node_id, None)
                track.since.pop(d.node_id, None)
                track.evidence.append(d.event_id)
                if not track.detecting:
                    track.ended_at = d.at
            return []
        if track is None:
            self._track_seq += 1
            track = DroneTrack(self._track_seq, d.at, d.at)
            self.tracks.append(track)
        track.last_seen = d.at
        track.since.setdefault(d.node_id, d.at)
        track.detecting[d.node_id] = max(1.0, float(d.fields.get("snr_db", 1)))
        track.heard_by.add(d.node_id)
        if d.fields.get("fundamental_hz"):
            track.fundamentals.append(int(d.fields["fundamental_hz"]))
        track.evidence.append(d.event_id)
        weighted = [(snr, self._node_location(n)) for n, snr in track.detecting.items()]
        known = [(w, c) for w, c in weighted if c is not None]
        if known:
            track.position_m = sum(w * c for w, c in known) / sum(w for w, _ in known)
        if track.alarmed:
            return self._drone_alarm(track, [d.event_id], d.at)
        return self._confirm(track, d.at)

    def _confirm(self, track: DroneTrack, now: float) -> list[Change]:
        """The track's alarm, once what makes it trustworthy holds (DroneRule.trust)."""
        first = self._node_location(min(track.heard_by)) if track.heard_by else None
        reach = self.rules.drone.corroborate_m
        placed = [(n, c) for n in self.perimeter.nodes if (c := self._node_location(n)) is not None]
        near = [n for n, c in placed if first is not None and abs(c - first) <= reach]
        trust = self.rules.drone.trust(track, now, len(set(near) - track.heard_by), len(set(near) & track.heard_by))
        if trust is None:
            return []
        track.alarmed = True
        return self._drone_alarm(track, list(track.evidence), now, trust)

    def _drone_alarm(
        self, track: DroneTrack, evidence: list[str], now: float, trust: dict[str, Any] | None = None
    ) -> list[Change]:
        detail: dict[str, Any] = {
            "track": track.track_id,
            "fundamental_hz": track.fundamentals[-1] if track.fundamentals else 0,
        }
        if trust is not None:
            detail["trust"] = trust
        return self._trigger(
            DRONE,
            track.position_m,
            evidence,
            now,
            key="track-%d" % track.track_id,
            detail=detail,
            match_zone=False,  # one alarm per track, wherever it flies
        )
