"""The region's incident store: PostgreSQL with PostGIS.

One row per incident (its stable id), holding the newest revision a site published: a
message delivered twice, or an older revision arriving after a newer one (a queue redelivers
after a consumer is lost), changes nothing. The row keeps the incident as published, its
proof included, so an export carries what the site can verify against its journal. Staff
names never arrive unless a site chose to send them (gateway/outputs/incidents.py).

Roles: `region_writer` (the consumer) writes; `prison_analyst` and `police_analyst` read.
Nobody at the region can act on a site: the bridge carries incidents one way only.
"""

import json
from datetime import datetime
from typing import Any

SCHEMA_SQL = """
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE TABLE IF NOT EXISTS incidents (
    id text PRIMARY KEY,
    site text NOT NULL,
    kind text NOT NULL,
    revision bigint NOT NULL,
    state text NOT NULL,
    severity integer,
    zone text,
    raised_at timestamptz,
    updated_at timestamptz,
    cleared_at timestamptz,
    outcome text,
    fundamental_hz integer,
    geom geometry(Point, 4326),
    track geometry(LineString, 4326),
    doc jsonb NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS incidents_raised ON incidents (raised_at);
CREATE INDEX IF NOT EXISTS incidents_site_raised ON incidents (site, raised_at);
CREATE INDEX IF NOT EXISTS incidents_geom ON incidents USING gist (geom);
CREATE TABLE IF NOT EXISTS sites (
    site text PRIMARY KEY,
    perimeter geometry(LineString, 4326) NOT NULL,
    plan jsonb NOT NULL,
    published_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    routing_key text,
    reason text NOT NULL,
    body text NOT NULL
);
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'prison_analyst') THEN CREATE ROLE prison_analyst; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'police_analyst') THEN CREATE ROLE police_analyst; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'region_writer') THEN CREATE ROLE region_writer; END IF;
END $$;
GRANT SELECT ON incidents, sites TO prison_analyst, police_analyst;
GRANT SELECT, INSERT, UPDATE ON incidents, sites TO region_writer;
GRANT INSERT ON rejected TO region_writer;
"""

# Newer revisions win; the same or an older one is a no-op (idempotent on id and revision).
UPSERT_SQL = """
INSERT INTO incidents (id, site, kind, revision, state, severity, zone, raised_at, updated_at, cleared_at,
                       outcome, fundamental_hz, geom, track, doc)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
        CASE WHEN $13::float8 IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint($13, $14), 4326) END,
        CASE WHEN $15::text IS NULL THEN NULL ELSE ST_SetSRID(ST_GeomFromGeoJSON($15), 4326) END,
        $16::jsonb)
ON CONFLICT (id) DO UPDATE SET
    kind = EXCLUDED.kind, revision = EXCLUDED.revision, state = EXCLUDED.state, severity = EXCLUDED.severity,
    zone = EXCLUDED.zone, raised_at = EXCLUDED.raised_at, updated_at = EXCLUDED.updated_at,
    cleared_at = EXCLUDED.cleared_at, outcome = EXCLUDED.outcome, fundamental_hz = EXCLUDED.fundamental_hz,
    geom = EXCLUDED.geom, track = EXCLUDED.track, doc = EXCLUDED.doc, stored_at = clock_timestamp()
WHERE incidents.revision < EXCLUDED.revision
RETURNING (xmax = 0) AS inserted
"""


PLAN_SCHEMA = "perimeter.site-plan/1"
# A site's plan: the newest it published wins (a later start, a changed plan).
PLAN_SQL = """
INSERT INTO sites (site, perimeter, plan, published_at)
VALUES ($1, ST_SetSRID(ST_GeomFromGeoJSON($2), 4326), $3::jsonb, $4)
ON CONFLICT (site) DO UPDATE SET perimeter = EXCLUDED.perimeter, plan = EXCLUDED.plan,
    published_at = EXCLUDED.published_at
WHERE sites.published_at <= EXCLUDED.published_at
"""


# The store's queries are short: PostgreSQL's JIT compiler spends half a second compiling the
# month's pattern that runs in tens of milliseconds without it.
SESSION = {"jit": "off"}


class BadIncident(ValueError):
    """A message that is not an incident this store can keep; the message says why."""


def _time(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise BadIncident("%s is not a time: %r" % (field, value)[:200]) from None


def row_args(doc: Any) -> tuple[Any, ...]:
    """The upsert's arguments for one published incident; BadIncident if it is not one."""
    if not isinstance(doc, dict) or doc.get("schema") != "perimeter.incident/1":
        raise BadIncident("not a perimeter.incident/1 document")
    for field, kind in (("id", str), ("site", str), ("kind", str), ("revision", int), ("state", str)):
        if not isinstance(doc.get(field), kind):
            raise BadIncident("%s missing or not %s" % (field, kind.__name__))
    if not doc["id"].startswith(doc["site"] + ":"):
        raise BadIncident("id %r is not the site %r's" % (doc["id"][:80], doc["site"][:80]))
    lonlat = doc.get("lonlat")
    lon = lat = None
    if lonlat is not None:
        if not (isinstance(lonlat, list) and len(lonlat) == 2 and all(isinstance(v, int | float) for v in lonlat)):
            raise BadIncident("lonlat is not [lon, lat]")
        lon, lat = float(lonlat[0]), float(lonlat[1])
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise BadIncident("lonlat %r is off the Earth" % lonlat)
    points = []
    for p in doc.get("track") or []:
        if not isinstance(p, list) or len(p) < 5:
            raise BadIncident("a track point is [time, x, y, lon, lat]")
        if p[3] is not None or p[4] is not None:  # off the map: a site with no origin
            points += _lonlats([p[3:5]], "a track point")
    track = json.dumps({"type": "LineString", "coordinates": points}) if len(points) >= 2 else None
    fundamental = doc.get("fundamental_hz")
    return (
        doc["id"], doc["site"], doc["kind"], doc["revision"], doc["state"],
        doc.get("severity") if isinstance(doc.get("severity"), int) else None,
        str(doc["zone"]) if doc.get("zone") is not None else None,
        _time(doc.get("raised_at"), "raised_at"), _time(doc.get("updated_at"), "updated_at"),
        _time(doc.get("cleared_at"), "cleared_at"),
        str(doc["outcome"]) if doc.get("outcome") else None,
        int(fundamental) if isinstance(fundamental, int | float) and fundamental else None,
        lon, lat, track, json.dumps(doc, sort_keys=True),
    )  # fmt: skip


def _lonlats(points: Any, what: str) -> list[list[float]]:
    if not isinstance(points, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(v, int | float) for v in p)
        and -180 <= p[0] <= 180 and -90 <= p[1] <= 90 for p in points
    ):  # fmt: skip
        raise BadIncident("%s is not a list of [lon, lat]" % what)
    return [[float(p[0]), float(p[1])] for p in points]


def plan_args(doc: dict[str, Any]) -> tuple[Any, ...]:
    """The plan upsert's arguments for a site's published plan; BadIncident if it is not one."""
    if not isinstance(doc.get("site"), str) or not doc["site"]:
        raise BadIncident("a plan names its site")
    line = _lonlats(doc.get("perimeter"), "perimeter")
    if len(line) < 2:
        raise BadIncident("a perimeter needs two points")
    for item in doc.get("lines") or []:
        _lonlats(item.get("points") if isinstance(item, dict) else None, "a plan line")
    published = _time(doc.get("published_at"), "published_at")
    if published is None:
        raise BadIncident("published_at missing")
    geometry = json.dumps({"type": "LineString", "coordinates": line})
    return (doc["site"], geometry, json.dumps(doc, sort_keys=True), published)


# The pattern an analyst asks for first: incidents of a kind by hour of the week, per prison.
HOUR_OF_WEEK_SQL = """
SELECT site, kind, extract(isodow FROM raised_at AT TIME ZONE $3)::int AS day,
       extract(hour FROM raised_at AT TIME ZONE $3)::int AS hour, count(*) AS n
FROM incidents WHERE raised_at >= $1 AND raised_at < $2
GROUP BY site, kind, day, hour ORDER BY site, kind, day, hour
"""

WINDOW_SQL = """
SELECT doc, ST_AsGeoJSON(geom), ST_AsGeoJSON(track), stored_at FROM incidents
WHERE raised_at >= $1 AND raised_at < $2
  AND ($3::text[] IS NULL OR site = ANY($3)) AND ($4::text[] IS NULL OR kind = ANY($4))
  AND ($5::float8 IS NULL OR ST_Intersects(geom, ST_MakeEnvelope($5, $6, $7, $8, 4326)))
ORDER BY raised_at, id
"""
