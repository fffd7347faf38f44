"""What the dashboard shows, as JSON, read off the site (the read-only `Site` interface).

The perimeter is drawn to scale: the config's polyline in metres (a geographic one is
projected around its first point), zones as stretches of it, nodes at their chainage (a
ground node as far inside as it stands), the site plan's other lines and cameras around it.
An alarm is drawn where it was located: a landing inside the fence at its distance in, a
drone at its track's place, anything else on the line. Alarms are ordered as an operator
works them: most severe first, then oldest first.
"""

from collections.abc import Mapping
from typing import Any

from gateway import site_geometry
from gateway.alarming.alarms import DRONE, Alarm
from gateway.alarming.outcomes import REASONS
from gateway.alarming.perimeter import Perimeter
from gateway.dashboard.site import Site
from gateway.evidence.hashchain import Entry

_metres = site_geometry.metres
_at = site_geometry.at
_inside = site_geometry.inside
_points = site_geometry.points


def _stretch(perimeter: Perimeter, start_m: float, end_m: float) -> list[list[float]]:
    """The polyline between two chainages, with its corners."""
    points = [_at(perimeter, start_m)]
    for corner, chainage in zip(perimeter.polyline, perimeter.corner_chainages, strict=True):
        if start_m < chainage < end_m:
            x, y = _metres(perimeter, corner)
            points.append([round(x, 2), round(y, 2)])
    points.append(_at(perimeter, end_m))
    return points


def plan_view(site: Site) -> dict[str, Any]:
    """The site plan's other lines, its cameras and the image beneath, in metres."""
    perimeter, plan = site.perimeter, site.plan
    image = None
    if plan.image and plan.image_bounds:
        image = {"url": "/api/plan/image", "bounds": _points(perimeter, plan.image_bounds)}
    return {
        "lines": [
            {"name": line.name, "kind": line.kind, "points": _points(perimeter, line.points)} for line in plan.lines
        ],
        "cameras": [
            {"name": c.name, "xy": _points(perimeter, [(c.x, c.y)])[0], "preset": c.preset, "zones": list(c.zones)}
            for c in plan.cameras
        ],
        "image": image,
    }


def perimeter_view(site: Site) -> dict[str, Any]:
    perimeter = site.perimeter
    return {
        "length_m": round(perimeter.length_m, 1),
        "line": _points(perimeter, perimeter.polyline),
        "closed": perimeter.closed,
        "plan": plan_view(site),
        "zones": [
            {
                "name": z.name,
                "start_m": z.start_m,
                "end_m": z.end_m,
                "priority": z.priority,
                "path": _stretch(perimeter, z.start_m, z.end_m),
            }
            for z in perimeter.zones
        ],
    }


def node_view(site: Site, node_id: int) -> dict[str, Any]:
    node = site.nodes[node_id]
    perimeter = site.perimeter
    placed = perimeter.nodes.get(node_id)
    best = max(
        node.via.values(),
        key=lambda r: r.get("rssi_dbm", -1e9) if isinstance(r.get("rssi_dbm"), int | float) else -1e9,
        default={},
    )
    zone = perimeter.zone_of_node(node_id)
    return {
        "id": node_id,
        "name": node.name,
        "chainage_m": placed.chainage_m if placed else None,
        "side": placed.side if placed else None,
        "xy": _inside(perimeter, placed.chainage_m, placed.inside_m) if placed else None,
        "zone": zone.name if zone else None,
        "last_seen": node.last_seen,
        "battery_mv": node.battery_mv,
        "rssi_dbm": best.get("rssi_dbm"),
        "snr_db": best.get("snr_db"),
        "transport": best.get("transport"),
        "firmware": node.firmware,
        "supervision": node.supervision,
        "tamper": node.tamper,
        "status": list(node.status),
    }


def severity_order(alarm: Alarm) -> tuple[int, float]:
    """Most severe (1) first, then oldest first."""
    return (alarm.severity, alarm.raised_at)


def located(perimeter: Perimeter, alarm: Alarm) -> list[float] | None:
    """Where the alarm was located, in metres: a landing at its distance inside the line."""
    return site_geometry.located(perimeter, alarm.location_m, alarm.detail)


def alarm_view(site: Site, alarm: Alarm) -> dict[str, Any]:
    data = alarm.as_json()
    xy = located(site.perimeter, alarm)
    if xy is not None:
        data["xy"] = xy
    return data


def tracks_view(site: Site, trails: Mapping[int, list[tuple[float, float]]]) -> list[dict[str, Any]]:
    """Drone tracks still in the air, with where they have been heard along the line."""
    tracks = []
    perimeter = site.perimeter
    for track in site.drone_tracks():
        if track.ended_at is not None or track.position_m is None:
            continue
        alarm = next(
            (a for a in site.open_alarms() if a.category == DRONE and a.detail.get("track") == track.track_id),
            None,
        )
        trail = trails.get(track.track_id, [])
        tracks.append(
            {
                "track": track.track_id,
                "alarm_id": alarm.alarm_id if alarm else None,
                "position_m": round(track.position_m, 1),
                "xy": _at(perimeter, track.position_m),
                "trail": [_at(perimeter, c) for c, _ in trail],
                "trail_t": [round(t, 1) for _, t in trail],
                "nodes": sorted(track.detecting),
            }
        )
    return tracks


def snapshot(site: Site, zones: Mapping[str, str], trails: Mapping[int, list[tuple[float, float]]]) -> dict[str, Any]:
    """Everything the page draws, at once: sent first on every live stream."""
    return {
        "site": site.site_name,
        "gateway": site.gateway_id,
        "server_time": site.now(),
        "perimeter": perimeter_view(site),
        "zones": dict(zones),
        "nodes": [node_view(site, n) for n in sorted(site.nodes)],
        "alarms": [alarm_view(site, a) for a in sorted(site.open_alarms(), key=severity_order)],
        "tracks": tracks_view(site, trails),
        "transports": site.transport_states(),
        "pending": site.pending(),
        "masks": site.masks(),
        "walk_tests": site.walk_tests(),
        "timezone": site.timezone,
        "reasons": dict(REASONS),
        "nuisance_30d": site.nuisance_per_zone(),
    }


LOG_KINDS = ("event", "alarm", "security", "supervision", "operator", "dashboard", "transport", "gateway")


def _summary(kind: str, data: dict[str, Any]) -> str:
    """One line an operator can read, for each kind of journal row."""
    if kind == "event":
        labels = data.get("labels") or {}
        text = "%s %s" % (data.get("type", "?"), " ".join("%s=%s" % kv for kv in sorted(labels.items())))
        if data.get("type") == "acoustic" and labels.get("class") in ("aircraft", "aircraft_gone"):
            heard = (data.get("fields") or {}).get("fundamental_hz")
            text = "%s (%s): not a drone, no alarm" % (
                "aircraft overhead" if labels["class"] == "aircraft" else "aircraft gone",
                "%s Hz" % heard if heard else "no fundamental",
            )
        return text + (" (walk test)" if data.get("test") else "")
    if kind == "alarm":
        alarm = data.get("alarm") or {}
        who = " by %s" % data["operator"] if data.get("operator") else ""
        return "%s %s %s in %s%s" % (
            alarm.get("category"),
            data.get("action"),
            alarm.get("alarm_id"),
            alarm.get("zone") or "-",
            who,
        )
    if kind == "security":
        return "%s x%s on %s: %s" % (data.get("kind"), data.get("count"), data.get("transport"), data.get("detail"))
    if kind == "supervision":
        return "%s after %s s of silence" % (data.get("state"), data.get("silent_s"))
    if kind == "operator":
        error = ": %s" % data["error"] if data.get("error") else ""
        return "%s %s %s%s" % (data.get("operator"), data.get("command"), data.get("status"), error)
    if kind == "dashboard":
        return "%s %s %s" % (data.get("operator"), data.get("action"), data.get("outcome", ""))
    if kind == "transport":
        return "%s %s %s" % (data.get("transport"), data.get("state"), data.get("detail", ""))
    return " ".join("%s=%s" % kv for kv in sorted(data.items()) if not isinstance(kv[1], dict | list))[:200]


def log_entry(entry: Entry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "ts": entry.ts,
        "kind": entry.kind,
        "node_id": entry.node_id,
        "text": _summary(entry.kind, entry.data).strip(),
    }
