"""What the police and the prison service take away: the region's incidents for a time
window and an area, as GeoJSON (a point per incident, a line per drone's track) or CSV (one
row per incident, with lon/lat), each carrying the incident exactly as its site published it,
proof included, so the site can verify it against its witnessed journal
(`perimeter journal verify --incident FILE`). Staff names appear only where a site chose to
share them."""

import csv
import io
import json
from datetime import datetime
from typing import Any

from region.store import WINDOW_SQL

COLUMNS = ("id", "site", "kind", "state", "outcome", "zone", "raised_at", "updated_at", "cleared_at",
           "lon", "lat", "error_m", "fundamental_hz", "revision", "proof_seq", "proof_hash", "checkpoint_seq",
           "checkpoint_hash", "incident")  # fmt: skip


async def window(
    db: Any,
    start: datetime,
    end: datetime,
    sites: list[str] | None = None,
    kinds: list[str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> list[tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]]:
    """(incident, point, track) for each incident raised in [start, end), optionally of some
    prisons, some kinds, inside a lon/lat box (west, south, east, north)."""
    box = bbox or (None, None, None, None)
    rows = await db.fetch(WINDOW_SQL, start, end, sites, kinds, *box)
    return [(json.loads(doc), json.loads(point) if point else None, json.loads(track) if track else None)
            for doc, point, track, _ in rows]  # fmt: skip


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "site", "kind", "state", "outcome", "zone", "raised_at", "updated_at", "cleared_at", "error_m",
            "fundamental_hz", "revision")  # fmt: skip
    return {k: doc.get(k) for k in keys}


def geojson(found: list[tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]]) -> dict[str, Any]:
    features = []
    for doc, point, track in found:
        features.append({"type": "Feature", "id": doc["id"], "geometry": point,
                         "properties": dict(_summary(doc), feature="incident", incident=doc)})  # fmt: skip
        if track is not None:
            features.append({"type": "Feature", "id": doc["id"] + "/track", "geometry": track,
                             "properties": dict(_summary(doc), feature="drone_track")})  # fmt: skip
    return {"type": "FeatureCollection", "features": features}


def csv_text(found: list[tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for doc, point, _ in found:
        lon, lat = point["coordinates"] if point else (None, None)
        proof = doc.get("proof") or {}
        checkpoint = proof.get("checkpoint") or {}
        summary = _summary(doc)
        writer.writerow([*(summary[k] for k in COLUMNS[:9]), lon, lat, summary["error_m"], summary["fundamental_hz"],
                         summary["revision"], proof.get("seq"), proof.get("hash"), checkpoint.get("seq"),
                         checkpoint.get("hash"), json.dumps(doc, sort_keys=True)])  # fmt: skip
    return out.getvalue()
