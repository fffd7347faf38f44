"""The shift handover, read off the journal alone: what the outgoing operator hands over.

For a shift (start, end): every alarm raised in it, and every one carried over into it still
open, with what it turned out to be (the reason code given on clearing, grouped as real,
nuisance, maintenance, test) and who acknowledged and cleared it; what is still open at the
end; what is silenced at the end (masked zones, nodes in a walk test or disarmed) and until
when; the nodes in trouble at the end (comm-fail, an open tamper or fault alarm); and the
nuisance alarms per zone over the 30 days before the end, the figure perimeter standards judge
a site by. `perimeter journal report --shift` prints it, the dashboard's handover page shows
it: both call `shift_report`, so they cannot disagree.

Sans-I/O over journal entries in order; `node_name` names a node (from the config).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.alarming.outcomes import NUISANCE, WINDOW_S, outcome
from gateway.clock import parse_utc, utc_iso
from gateway.evidence.hashchain import Entry
from gateway.evidence.operator_report import request_of

if TYPE_CHECKING:
    from gateway.evidence.journal import Journal

KINDS = ("alarm", "mask", "supervision", "operator")  # the rows a handover reads
TROUBLE = ("tamper", "fault", "comm_fail", "jamming", "security")  # open alarms that mean a node needs a visit
DISARMED_S = 24 * 3600.0  # a disarmed node stays silent until re-armed: shown this long at most


@dataclass
class _Alarm:
    alarm_id: str
    category: str
    zone: str | None
    raised_at: float
    state: str = "active"
    node_id: int | None = None
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    cleared_by: str | None = None
    cleared_at: float | None = None
    reason: str | None = None
    note: str | None = None
    escalations: int = 0

    def as_json(self, start: float) -> dict[str, Any]:
        return {
            "alarm_id": self.alarm_id,
            "category": self.category,
            "zone": self.zone,
            "raised_at": utc_iso(self.raised_at),
            "carried_over": self.raised_at < start,
            "state": self.state,
            "outcome": outcome(self.reason) if self.state == "cleared" else "open",
            "reason": self.reason,
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": utc_iso(self.acknowledged_at) if self.acknowledged_at else None,
            "cleared_by": self.cleared_by,
            "cleared_at": utc_iso(self.cleared_at) if self.cleared_at else None,
            "note": self.note,
            "escalations": self.escalations,
        }


@dataclass
class _Site:
    """What the journal says, row by row, up to the shift's end."""

    alarms: dict[str, _Alarm] = field(default_factory=dict)
    masks: dict[str, dict[str, Any]] = field(default_factory=dict)  # zone -> the mask row
    asked: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # request id -> (command, request)
    walk_tests: dict[int, dict[str, Any]] = field(default_factory=dict)
    disarmed: dict[int, dict[str, Any]] = field(default_factory=dict)
    comm_fail: dict[int, float] = field(default_factory=dict)  # node -> since
    cleared: list[tuple[float, str | None, str | None]] = field(default_factory=list)

    def take(self, entry: Entry) -> None:
        data, at = entry.data, parse_utc(entry.ts)
        if entry.kind == "alarm":
            self._alarm(data, at)
        elif entry.kind == "mask":
            if data.get("mask"):
                self.masks[str(data.get("zone"))] = dict(data["mask"])
            else:
                self.masks.pop(str(data.get("zone")), None)
        elif entry.kind == "supervision" and entry.node_id is not None:
            if data.get("state") == "comm_fail":
                self.comm_fail.setdefault(entry.node_id, at)
            else:
                self.comm_fail.pop(entry.node_id, None)
        elif entry.kind == "operator" and data.get("status") in ("ok", "pending"):
            self._operator(data, at)

    def _alarm(self, data: dict[str, Any], at: float) -> None:
        shown = data.get("alarm") or {}
        alarm_id = str(shown.get("alarm_id"))
        alarm = self.alarms.get(alarm_id)
        if alarm is None:
            node = (shown.get("detail") or {}).get("node_id")
            raised = shown.get("raised_at")
            alarm = _Alarm(alarm_id, str(shown.get("category")), shown.get("zone"), float(raised or at))
            alarm.node_id = node if isinstance(node, int) else None
            self.alarms[alarm_id] = alarm
        alarm.state = str(shown.get("state") or alarm.state)
        alarm.zone = shown.get("zone", alarm.zone)
        alarm.escalations = int(shown.get("escalations") or 0)
        action, who = data.get("action"), data.get("operator")
        if action == "acknowledged":
            alarm.acknowledged_by, alarm.acknowledged_at, alarm.note = who, at, shown.get("note")
        elif action == "cleared":
            alarm.cleared_by, alarm.cleared_at, alarm.reason = who, at, shown.get("reason")
            alarm.note = shown.get("note")
            self.cleared.append((at, alarm.zone, alarm.reason))

    def _operator(self, data: dict[str, Any], at: float) -> None:
        command = data.get("command")
        if data.get("status") == "pending":
            self.asked[str(data.get("request_id"))] = (str(command), request_of(data))
            return
        if command == "approve":
            command, request = self.asked.pop(str(data.get("request_id")), ("", {}))
            who, approved = data.get("requested_by"), data.get("operator")
        else:
            request, who, approved = request_of(data), data.get("operator"), None
        node = request.get("node_id")
        if not isinstance(node, int):
            return
        if command == "walk_test":
            minutes = float(request.get("minutes") or 0)
            if minutes > 0:
                self.walk_tests[node] = {"asked_by": who, "approved_by": approved, "until": at + 60 * minutes}
            else:
                self.walk_tests.pop(node, None)
        elif command == "node_config" and request.get("armed") is False:
            self.disarmed[node] = {"asked_by": who, "approved_by": approved, "since": at}
        elif command == "node_config" and request.get("armed") is True:
            self.disarmed.pop(node, None)


def shift_report(
    entries: Iterable[Entry], start: float, end: float, node_name: Callable[[int], str], timezone: str = "UTC"
) -> dict[str, Any]:
    """The handover for the shift from `start` to `end` (POSIX times), from the journal's rows
    in order (those stamped after `end` are left out)."""
    site = _Site()
    for entry in entries:
        if parse_utc(entry.ts) < end:  # rows are in the chain's order, which a clock set back may not keep
            site.take(entry)
    shift = [
        a
        for a in site.alarms.values()
        if start <= a.raised_at < end or (a.raised_at < start and (a.cleared_at is None or a.cleared_at >= start))
    ]
    shift.sort(key=lambda a: (a.raised_at, a.alarm_id))
    outcomes: dict[str, int] = {}
    handled: dict[str, dict[str, int]] = {}
    for a in shift:
        group = outcome(a.reason) if a.state == "cleared" else "open"
        outcomes[group] = outcomes.get(group, 0) + 1
        for who, at, what in (
            (a.acknowledged_by, a.acknowledged_at, "acknowledged"),
            (a.cleared_by, a.cleared_at, "cleared"),
        ):
            if who and at is not None and start <= at < end:
                handled.setdefault(who, {"acknowledged": 0, "cleared": 0})[what] += 1
    silenced = [
        {
            "what": "masked",
            "zone": zone,
            "node_id": None,
            "asked_by": m.get("operator"),
            "approved_by": m.get("approved_by") or None,
            "reason": m.get("reason"),
            "until": utc_iso(float(m["until"])),
        }
        for zone, m in sorted(site.masks.items())
        if float(m.get("until", 0)) > end
    ]
    silenced += [
        {
            "what": "walk test",
            "zone": None,
            "node_id": node,
            "asked_by": w["asked_by"],
            "approved_by": w["approved_by"],
            "reason": None,
            "until": utc_iso(w["until"]),
        }
        for node, w in sorted(site.walk_tests.items())
        if w["until"] > end
    ]
    silenced += [
        {
            "what": "disarmed",
            "zone": None,
            "node_id": node,
            "asked_by": d["asked_by"],
            "approved_by": d["approved_by"],
            "reason": None,
            "until": None,
        }
        for node, d in sorted(site.disarmed.items())
        if end - d["since"] < DISARMED_S
    ]
    trouble: dict[int, list[str]] = {node: ["comm-fail since %s" % utc_iso(t)] for node, t in site.comm_fail.items()}
    for a in site.alarms.values():
        if a.category in TROUBLE and a.state != "cleared" and a.node_id is not None and a.category != "comm_fail":
            trouble.setdefault(a.node_id, []).append("%s alarm %s open" % (a.category, a.alarm_id))
    nuisance: dict[str, int] = {}
    for at, zone, reason in site.cleared:
        if reason in NUISANCE and end - WINDOW_S <= at < end:
            nuisance[zone or "-"] = nuisance.get(zone or "-", 0) + 1
    return {
        "shift": {"start": utc_iso(start), "end": utc_iso(end), "timezone": timezone},
        "alarms": [a.as_json(start) for a in shift],
        "by_outcome": dict(sorted(outcomes.items())),
        "handled_by": dict(sorted(handled.items())),
        "open_at_end": [a.alarm_id for a in shift if a.state != "cleared"],
        "silenced_at_end": silenced,
        "nodes_in_trouble": [
            {"node_id": node, "name": node_name(node), "why": why} for node, why in sorted(trouble.items())
        ],
        "nuisance_30d": dict(sorted(nuisance.items())),
    }


def handover(journal: "Journal", start: float, end: float, names: dict[int, str], timezone: str) -> dict[str, Any]:
    """The handover read off a journal: the rows a handover needs, from 31 days before the end
    (the nuisance rate's 30 days, and the alarms carried into them)."""
    rows = journal.entries(utc_iso(end - 31 * 24 * 3600.0), KINDS)
    return shift_report(rows, start, end, lambda n: names.get(n, "node-%d" % n), timezone)


def text(report: dict[str, Any], local: Callable[[str], str]) -> str:
    """The handover as an operator reads it aloud; `local` turns a UTC time into the site's."""
    shift = report["shift"]
    lines = ["Shift handover %s to %s (%s)" % (local(shift["start"]), local(shift["end"]), shift["timezone"])]
    outcomes = ", ".join("%s %d" % kv for kv in report["by_outcome"].items()) or "none"
    lines += ["", "Alarms: %d (%s)" % (len(report["alarms"]), outcomes)]
    for a in report["alarms"]:
        who = "; ".join(
            x
            for x in (
                "ack %s %s" % (a["acknowledged_by"], local(a["acknowledged_at"])) if a["acknowledged_by"] else "",
                "cleared %s %s" % (a["cleared_by"], local(a["cleared_at"])) if a["cleared_by"] else "",
            )
            if x
        )
        lines.append(
            "  %s  %-11s %-8s %-12s %-22s %s%s"
            % (
                local(a["raised_at"]),
                a["category"],
                a["zone"] or "-",
                a["outcome"],
                a["reason"] or "-",
                who,
                "  (carried over)" if a["carried_over"] else "",
            )
        )
    lines += ["", "Handled by:"] + _or(
        [
            "  %-16s acknowledged %d, cleared %d" % (name, h["acknowledged"], h["cleared"])
            for name, h in report["handled_by"].items()
        ],
        "  nobody",
    )
    lines += ["", "Still open: %s" % (", ".join(report["open_at_end"]) or "none")]
    lines += ["", "Silenced at the end:"] + _or(
        [
            "  %s %s by %s%s until %s%s"
            % (
                s["what"],
                s["zone"] or "node %s" % s["node_id"],
                s["asked_by"],
                ", approved by %s" % s["approved_by"] if s["approved_by"] else "",
                local(s["until"]) if s["until"] else "re-armed",
                " (%s)" % s["reason"] if s["reason"] else "",
            )
            for s in report["silenced_at_end"]
        ],
        "  nothing",
    )
    lines += ["", "Nodes in trouble:"] + _or(
        ["  %s (%d): %s" % (n["name"], n["node_id"], "; ".join(n["why"])) for n in report["nodes_in_trouble"]], "  none"
    )
    lines += [
        "",
        "Nuisance alarms per zone, 30 days to the end: %s"
        % (", ".join("%s %d" % kv for kv in report["nuisance_30d"].items()) or "none"),
    ]
    return "\n".join(lines)


def _or(lines: list[str], empty: str) -> list[str]:
    return lines or [empty]
