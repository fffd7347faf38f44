"""Scores a run: the gateway's alarms against the scenario's ground truth.

Each ground-truth event is a trial for its kind; a drone with a drop time is also a
`drone_drop` trial at the place and time of the drop. It is detected when an alarm of a
matching category is raised within `window_s` (30 s) after it (and before the next attack
of its kind at that place; for an attack under a jammer, 30 s after the jammer stops:
nothing gets through it) and, where both have a place, within `radius_m` of it; an
intrusion alarm that says climb or cut counts only for that kind. A late alarm or one of
the wrong kind leaves the trial missed (an operator sent to the wrong threat, or too late,
has missed it) and is itself a nuisance. Supervision trials (a silenced node, jamming) have
longer windows: they are decided by timers of minutes. Each alarm counts for at most one
trial. What is left are nuisance alarms, reported per zone per day
(over the zones that have a firmware node: behavioural nodes cannot raise one). Latency
runs from the event's time to when the alarm reached MQTT, and again from the end of the
airtime of the first frame of the alarm's evidence sent after the event began. A knock on the fence is not a trial: it
should raise nothing, and an alarm for it is a nuisance.
"""

import math
from dataclasses import dataclass
from typing import Any

from simulators.scenario import Event, Scenario

EXPECTED = {
    "climb": ("intrusion",),
    "cut": ("intrusion",),
    "throwover": ("throw_over",),
    "drone": ("drone",),
    "drone_drop": ("drone_drop",),
    "jam": ("jamming",),
    "silence": ("comm_fail",),
    "selective_jam": ("security",),  # delivery_blocked: the heartbeats tell on the jammer
}
WINDOW_S = {"silence": 600.0, "jam": 180.0, "selective_jam": 600.0}
DEFAULT_WINDOW_S = 30.0  # an attack's alarm: later than this, the intruder is gone
KINDS_SAID = ("climb", "cut")  # what an intrusion alarm's detail may say it was
NOT_NUISANCE = ("mask_expired",)


@dataclass(frozen=True)
class ObservedAlarm:
    """An alarm as the security office saw it first: when it reached MQTT (scenario time)."""

    alarm_id: str
    category: str
    at_s: float
    location_m: float | None = None
    zone: str | None = None
    evidence_ends: tuple[float, ...] = ()  # when each frame of its evidence finished arriving
    kind: str = ""  # what the alarm says it was (an intrusion's climb or cut), if it says
    # Where the alarm stood SETTLE_S after it was raised: raised at the first report (a drop at
    # the node that felt it first), it moves as the other nodes' reports arrive.
    settled_m: float | None = None


SETTLE_S = 5.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(0, math.ceil(q * len(ordered)) - 1)
    return ordered[rank]


def _spread(values: list[float], digits: int) -> dict[str, float]:
    return {
        "mean": round(sum(values) / len(values), digits),
        "p95": round(_percentile(values, 0.95), digits),
        "max": round(max(values), digits),
    }


def _same_place(a: Event, b: Event, radius_m: float) -> bool:
    pa, pb = a.position_at(a.t), b.position_at(b.t)
    return pa is None or pb is None or abs(pa - pb) <= radius_m


def _where(event: Event, scenario: Scenario, at: float) -> float | None:
    if event.kind in ("silence", "selective_jam") and event.node is not None:
        return scenario.place(event.node)[0]
    if event.kind == "jam":
        return None
    return event.position_at(at)


def score(
    scenario: Scenario,
    alarms: list[ObservedAlarm],
    zone_length_m: float = 100.0,
    window_s: float = DEFAULT_WINDOW_S,
    radius_m: float = 100.0,
    radio: dict[str, Any] | None = None,
    monitored_zones: int | None = None,
) -> dict[str, Any]:
    unused = sorted(alarms, key=lambda a: a.at_s)
    per_kind: dict[str, dict[str, Any]] = {}
    trials = list(scenario.events)
    for e in scenario.events:  # a drone that drops something is a second trial: the drop
        if e.kind == "drone" and e.drop_t is not None:
            trials.append(Event(t=e.drop_t, kind="drone_drop", position_m=e.position_at(e.drop_t)))
    for event in trials:
        if event.kind not in EXPECTED:
            continue
        stats = per_kind.setdefault(
            event.kind, {"trials": 0, "detected": 0, "latencies": [], "errors": [], "settled": [], "after_airtime": []}
        )
        stats["trials"] += 1
        limit = WINDOW_S.get(event.kind, window_s)
        for jam in scenario.events:  # nothing gets through a jammer: the window starts at its end
            if jam.kind == "jam" and event.kind in KINDS_SAID + ("throwover", "drone", "drone_drop"):
                if jam.t <= event.t < jam.t + jam.duration_s:
                    limit = max(limit, jam.t + jam.duration_s - event.t + window_s)
        for later in trials:  # the next attack of the same kind at the same place starts a new trial
            if later.kind == event.kind and later.t > event.t and _same_place(later, event, radius_m):
                limit = min(limit, later.t - event.t)
        for alarm in unused:
            if alarm.category not in EXPECTED[event.kind] or not event.t <= alarm.at_s <= event.t + limit:
                continue
            if event.kind in KINDS_SAID and alarm.kind in KINDS_SAID and alarm.kind != event.kind:
                continue  # a cut called a climb: the response is to the wrong threat
            where = _where(event, scenario, alarm.at_s)
            error = None
            if where is not None and alarm.location_m is not None:
                error = abs(alarm.location_m - where)
                if error > radius_m:
                    continue
            stats["detected"] += 1
            stats["latencies"].append(alarm.at_s - event.t)
            carried = [end for end in alarm.evidence_ends if end >= event.t]  # not a drone's earlier track
            if carried:
                stats["after_airtime"].append(alarm.at_s - carried[0])
            if error is not None:
                stats["errors"].append(error)
                settled = alarm.settled_m if alarm.settled_m is not None else alarm.location_m
                assert where is not None and settled is not None
                stats["settled"].append(abs(settled - where))
            unused.remove(alarm)
            break
    report_kinds = {}
    for kind, s in per_kind.items():
        entry: dict[str, Any] = {
            "trials": s["trials"],
            "detected": s["detected"],
            "probability_of_detection": round(s["detected"] / s["trials"], 3),
        }
        if s["latencies"]:
            entry["latency_s"] = _spread(s["latencies"], 2)
        if s["after_airtime"]:
            entry["latency_after_airtime_s"] = _spread(s["after_airtime"], 3)
        if s["errors"]:
            err = s["errors"]
            entry["location_error_m"] = {"mean": round(sum(err) / len(err), 1), "max": round(max(err), 1)}
            settled = s["settled"]
            entry["settled_error_m"] = {"mean": round(sum(settled) / len(settled), 1), "max": round(max(settled), 1)}
        report_kinds[kind] = entry
    nuisance = [a for a in unused if a.category not in NOT_NUISANCE]
    zones = monitored_zones or max(1, math.ceil(scenario.length_m / zone_length_m))
    days = scenario.duration_s / 86400
    by_zone: dict[str, int] = {}
    for alarm in nuisance:
        key = alarm.zone or "(none)"
        by_zone[key] = by_zone.get(key, 0) + 1
    return {
        "scenario": scenario.name,
        "duration_s": scenario.duration_s,
        "per_kind": report_kinds,
        "nuisance": {
            "alarms": len(nuisance),
            "per_zone_per_day": round(len(nuisance) / zones / days, 3),
            "zones": zones,
            "by_zone": by_zone,
            "categories": sorted({a.category for a in nuisance}),
        },
        "radio": radio or {},
    }
