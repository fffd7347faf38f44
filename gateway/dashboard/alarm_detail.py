"""An alarm's evidence at a glance, read off the journal: what the operator opens an alarm for.

- **the reports behind it**: each journalled event its evidence names (node, time, what it
  measured), and how far to trust them: heard for how long, by how many nodes;
- **the place**: the located point on the plan with its error, the drone's trail;
- **the camera**: the plan's cameras whose preset covers the alarm's zone;
- **its history**: every change (raised, updated, escalated, acknowledged, cleared, with who
  and the note or reason code) and every request that named it (refused, waiting, approved).

Sans-I/O over the `Site` interface; the journal holds every id (a published alarm shows only
the first and newest), so the evidence listed is all of it, up to `MAX_REPORTS`.
"""

from typing import Any

from gateway.alarming.alarms import Alarm
from gateway.alarming.outcomes import REASONS
from gateway.clock import parse_utc
from gateway.dashboard.site import Site
from gateway.dashboard.views import located
from gateway.evidence.hashchain import Entry

MAX_REPORTS = 500  # the first ones: an alarm left open all night keeps gathering


def _report(site: Site, entry: Entry) -> dict[str, Any]:
    data = entry.data
    node = site.nodes.get(entry.node_id) if entry.node_id is not None else None
    return {
        "seq": entry.seq,
        "ts": entry.ts,
        "at": parse_utc(entry.ts),
        "node_id": entry.node_id,
        "node": node.name if node else None,
        "type": data.get("type"),
        "labels": data.get("labels") or {},
        "fields": data.get("fields") or {},
        "transport": data.get("transport"),
        "event_id": entry.event_id,
    }


def _history(entry: Entry) -> dict[str, Any]:
    data = entry.data
    if entry.kind == "alarm":
        alarm = data.get("alarm") or {}
        return {
            "seq": entry.seq,
            "ts": entry.ts,
            "action": data.get("action"),
            "operator": data.get("operator"),
            "note": alarm.get("note") if data.get("action") in ("acknowledged", "cleared") else None,
            "reason": alarm.get("reason"),
            "state": alarm.get("state"),
            "severity": alarm.get("severity"),
        }
    return {
        "seq": entry.seq,
        "ts": entry.ts,
        "action": "asked to %s: %s" % (data.get("command"), data.get("status")),
        "operator": data.get("operator"),
        "note": data.get("error") or data.get("why"),
        "approved_by": data.get("approved_by"),
        "reason": None,
        "state": None,
        "severity": None,
    }


def alarm_detail(site: Site, alarm_id: str) -> dict[str, Any] | None:
    """The alarm as last journalled, its reports, place, cameras and history; None if the
    journal has never heard of it."""
    rows = site.alarm_rows(alarm_id)
    changes = [r for r in rows if r.kind == "alarm"]
    if not changes:
        return None
    latest = dict(changes[-1].data["alarm"])
    evidence: list[str] = []
    for row in changes:  # every id ever added, in order (the message keeps the ends only)
        evidence += row.data.get("evidence_added") or []
    evidence = list(dict.fromkeys(evidence + list(latest.get("evidence") or [])))
    reports = [_report(site, e) for e in site.events(evidence[:MAX_REPORTS])]
    nodes = sorted({r["node_id"] for r in reports if r["node_id"] is not None})
    heard_s = round(reports[-1]["at"] - reports[0]["at"], 1) if reports else 0.0
    fields = {k: v for k, v in latest.items() if k != "schema"}
    alarm = Alarm(**{k: v for k, v in fields.items() if k in Alarm.__dataclass_fields__})
    detail = latest.get("detail") or {}
    return {
        "alarm": latest,
        "xy": located(site.perimeter, alarm),
        "error_m": detail.get("error_m"),
        "reports": reports,
        "reports_total": len(evidence),
        "trust": {"heard_s": heard_s, "nodes": len(nodes), "node_ids": nodes, "reports": len(evidence)},
        "cameras": [{"name": c.name, "preset": c.preset} for c in site.plan.cameras_for(latest.get("zone"))],
        "history": [_history(r) for r in rows],
        "reasons": dict(REASONS),
    }
