"""The site's incidents, curated for the region (`P/incidents`, QoS 1, never retained).

Drones, drops, throw-overs, intrusions, tamper, jamming and security alarms are organised
crime across prisons; the region sees them, nothing else (no faults, no node gone quiet, no
mask). Each change of such an alarm publishes the incident again, whole, with:

- a stable id (`<site>:<alarm id>`) and a revision (the journal row that changed it), so a
  store keeps the newest revision and a message delivered twice changes nothing;
- where, on the site's plan (metres) and on the map (lon/lat: around a geographic polyline,
  or `[region] origin_lon/origin_lat`), a drone's track so far, its fundamental;
- outcome and reason code once cleared; staff names only with `[region] share_staff_names`;
- its proof: the alarm row's number and hash in the journal's chain, and the newest signed
  checkpoint then (`perimeter journal verify --incident` holds the one against the other).

The incident is a pure function of the journal (`incident_at`), so the site can rebuild any
revision from its journal and tell an exported incident that was altered from one that was
not. The message goes into the journal's outbox in the alarm's own transaction: a broker
down, or the region's WAN link, delays it and loses nothing.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gateway import site_geometry
from gateway.alarming.alarms import DRONE, DRONE_DROP, INTRUSION, JAMMING, SECURITY, TAMPER, THROW_OVER
from gateway.alarming.perimeter import Perimeter
from gateway.alarming.records import AlarmRecords
from gateway.clock import utc_iso
from gateway.evidence.journal import Journal
from gateway.outputs import topics
from gateway.site_plan import SitePlan

SCHEMA = "perimeter.incident/1"
PLAN_SCHEMA = "perimeter.site-plan/1"
KINDS = (DRONE, DRONE_DROP, THROW_OVER, INTRUSION, TAMPER, JAMMING, SECURITY)
MAX_TRACK_POINTS = 600  # a drone heard for ten minutes, a point a second
_NODE_EVENT = re.compile(r":(\d+):\d+:\d+(?::c\d+)?$")  # a node event's id: <site>:<node>:<boot>:<no>


@dataclass(frozen=True)
class RegionConfig:
    incidents: bool = False  # publish the incident stream (site init --region turns it on)
    origin_lon: float | None = None  # where the plan's (0, 0) lies, for a plan in metres
    origin_lat: float | None = None
    share_staff_names: bool = False

    @property
    def origin(self) -> tuple[float, float] | None:
        if self.origin_lon is None or self.origin_lat is None:
            return None
        return (self.origin_lon, self.origin_lat)


def _iso(t: Any) -> str | None:
    return utc_iso(float(t)) if isinstance(t, int | float) else None


@dataclass(frozen=True)
class IncidentSource:
    """What an incident is made of besides its journal rows: the site and its geometry."""

    site: str  # the site's name, as in its MQTT topics
    gateway_id: str
    perimeter: Perimeter
    region: RegionConfig

    def place(self, alarm: dict[str, Any]) -> tuple[list[float] | None, list[float] | None]:
        xy = site_geometry.located(self.perimeter, alarm.get("location_m"), alarm.get("detail") or {})
        return xy, (site_geometry.lonlat(self.perimeter, xy, self.region.origin) if xy else None)

    def incident(
        self, action: str, alarm: dict[str, Any], track: list[list[Any]], seq: int, row_hash: str
    ) -> dict[str, Any]:
        """The incident as the alarm row at `seq` left it (without its checkpoint)."""
        detail = alarm.get("detail") or {}
        xy, lonlat = self.place(alarm)
        found: dict[str, Any] = {
            "schema": SCHEMA,
            "id": "%s:%s" % (self.site, alarm["alarm_id"]),
            "site": self.site,
            "gateway": self.gateway_id,
            "alarm_id": alarm["alarm_id"],
            "revision": seq,
            "action": action,
            "kind": alarm["category"],
            "state": alarm["state"],
            "severity": alarm["severity"],
            "zone": alarm.get("zone"),
            "raised_at": _iso(alarm.get("raised_at")),
            "updated_at": _iso(alarm.get("updated_at")),
            "cleared_at": _iso(alarm.get("cleared_at")),
            "outcome": alarm.get("reason") or None,
            "chainage_m": alarm.get("location_m"),
            "site_xy": xy,
            "lonlat": lonlat,
            "error_m": detail.get("error_m"),
            "fundamental_hz": detail.get("fundamental_hz") or None,
            "track": track if alarm["category"] == DRONE else [],
            "nodes": sorted({int(m.group(1)) for e in alarm.get("evidence", []) if (m := _NODE_EVENT.search(e))}),
            "proof": {"seq": seq, "hash": row_hash},
        }
        if self.region.share_staff_names:
            found["staff"] = {
                "acknowledged_by": alarm.get("acknowledged_by"),
                "cleared_by": alarm.get("cleared_by"),
                "note": alarm.get("note"),
            }
        return found

    def track_point(self, alarm: dict[str, Any]) -> list[Any] | None:
        """A drone's place at this revision, as [time, x, y, lon, lat] (None off the map)."""
        xy, lonlat = self.place(alarm)
        if xy is None:
            return None
        where: list[Any] = lonlat or [None, None]
        return [_iso(alarm.get("updated_at")), xy[0], xy[1], *where]


def extend(track: list[list[Any]], point: list[Any] | None) -> None:
    """A drone's track gains a point where the drone moved (the same place again is no news)."""
    if point is not None and (not track or track[-1][1:3] != point[1:3]):
        track.append(point)
        del track[:-MAX_TRACK_POINTS]


def alarm_rows(journal: Journal, alarm_id: str, upto_seq: int) -> list[tuple[int, str, dict[str, Any]]]:
    """Every journal row of one alarm up to a row number: (seq, hash, data)."""
    rows = journal.select(
        "SELECT seq, hash, data FROM journal WHERE kind = 'alarm' AND json_extract(data, '$.alarm.alarm_id') = ? "
        "AND seq <= ? ORDER BY seq",
        alarm_id,
        upto_seq,
    )
    return [(int(seq), str(digest), json.loads(data)) for seq, digest, data in rows]


def incident_at(source: IncidentSource, journal: Journal, alarm_id: str, seq: int) -> dict[str, Any] | None:
    """The incident as the journal's row `seq` made it (None if that row is not this alarm's,
    or the alarm is no incident): what the site published then, rebuilt from the chain."""
    rows = alarm_rows(journal, alarm_id, seq)
    if not rows or rows[-1][0] != seq or rows[-1][2]["alarm"]["category"] not in KINDS:
        return None
    track: list[list[Any]] = []
    for _, _, data in rows:
        if data["alarm"]["category"] == DRONE:
            extend(track, source.track_point(data["alarm"]))
    _, digest, data = rows[-1]
    return source.incident(data["action"], data["alarm"], track, seq, digest)


class IncidentStream:
    """Publishes each incident change into the outbox, in the caller's transaction."""

    def __init__(self, journal: Journal, topic: str, source: IncidentSource, checkpoint: Callable[[], Any]) -> None:
        self.journal = journal
        self.topic = topic
        self.source = source
        self.checkpoint = checkpoint  # the newest signed checkpoint (a dict), or None
        self.tracks: dict[str, list[list[Any]]] = {}  # open drones' tracks so far

    def record(self, action: str, alarm: dict[str, Any]) -> None:
        """Called right after the alarm's row was appended (the journal's head is that row)."""
        if alarm["category"] not in KINDS:
            return
        seq, digest = self.journal.head_seq, self.journal.head
        alarm_id = alarm["alarm_id"]
        track: list[list[Any]] = []
        if alarm["category"] == DRONE:
            if alarm_id not in self.tracks and action != "raised":  # after a restart: the track so far, from the chain
                for _, _, data in alarm_rows(self.journal, alarm_id, seq - 1):
                    extend(self.tracks.setdefault(alarm_id, []), self.source.track_point(data["alarm"]))
            track = self.tracks.setdefault(alarm_id, [])
            extend(track, self.source.track_point(alarm))
            if alarm["state"] == "cleared":
                self.tracks.pop(alarm_id, None)
        found = self.source.incident(action, alarm, list(track), seq, digest)
        found["proof"]["checkpoint"] = self.checkpoint()
        self.journal.enqueue(self.topic, json.dumps(found, sort_keys=True).encode(), qos=1)


class Site(Protocol):
    @property
    def site_name(self) -> str: ...
    @property
    def gateway_id(self) -> str: ...
    @property
    def perimeter(self) -> Perimeter: ...
    @property
    def region(self) -> RegionConfig: ...
    @property
    def plan(self) -> SitePlan: ...


def attach(records: AlarmRecords, prefix: str, site: Site) -> IncidentStream | None:
    """The incident stream fed by every journalled alarm change, when the site publishes one."""
    if not site.region.incidents:
        return None
    source = IncidentSource(site.site_name, site.gateway_id, site.perimeter, site.region)
    journal = records.journal

    def newest_checkpoint() -> Any:
        rows = journal.select("SELECT payload FROM retained WHERE topic = ?", topics.witness(prefix))
        return json.loads(rows[0][0]) if rows and rows[0][0] else None

    stream = IncidentStream(journal, topics.incidents(prefix), source, newest_checkpoint)
    records.on_change.append(lambda change: stream.record(change.action, change.alarm.as_json()))
    plan = plan_document(source, site.plan, journal.clock.utc_now())
    if plan is not None:  # at every start: the region draws the site's incidents over it
        journal.enqueue(topics.site_plan(prefix), json.dumps(plan, sort_keys=True).encode(), qos=1)  # the start commits
    return stream


def plan_document(source: IncidentSource, plan: SitePlan, now: str) -> dict[str, Any] | None:
    """The site's plan on the map (lon/lat): its perimeter and the plan's lines and cameras'
    places, for the region to draw incidents over; None when the site is not on the map."""
    perimeter, origin = source.perimeter, source.region.origin

    def on_map(points: Any) -> list[list[float]]:
        found = [site_geometry.lonlat(perimeter, xy, origin) for xy in site_geometry.points(perimeter, points)]
        return [p for p in found if p is not None]

    line = on_map(perimeter.polyline)
    if not line:
        return None
    return {
        "schema": PLAN_SCHEMA,
        "site": source.site,
        "gateway": source.gateway_id,
        "published_at": now,
        "perimeter": line,
        "closed": perimeter.closed,
        "lines": [{"name": x.name, "kind": x.kind, "points": on_map(x.points)} for x in plan.lines],
    }
