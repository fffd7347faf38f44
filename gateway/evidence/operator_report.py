"""`perimeter journal report --by operator`: what each account did, for a supervisor.

Per account, from the journal alone: acknowledgements and clears, what it asked to silence
(masks, walk tests, node changes), approvals and refusals it gave, requests the gateway
refused it, and how long it took to acknowledge alarms. Then the patterns a counter-corruption
officer looks for, flagged on the account:

- **silenced before an attack**: a mask it asked for (or approved), or a walk test or a
  disarm carried out at its request, during which attack events (climbs, cuts, impacts,
  thuds, drones) were journalled in that zone;
- **slow to acknowledge**: a median time to acknowledge over three times the site's (and
  over two minutes);
- **refused often**: five or more requests refused (acting as another, approving its own,
  beyond the site's limits, outside its role).

Sans-I/O over journal entries; `zone_of` maps a node to its zone (from the config).
"""

import json
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.evidence.hashchain import Entry

ATTACK_EVENTS = {("fence", "climb"), ("fence", "cut"), ("impact", None), ("thud", None), ("acoustic", "drone")}
DISARM_WINDOW_S = 24 * 3600.0  # a disarmed node stays silent until someone re-arms it: look this far
SLOW_FACTOR, SLOW_FLOOR_S, REFUSED_FLAG = 3.0, 120.0, 5


def _t(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


@dataclass
class AccountReport:
    name: str
    acks: int = 0
    clears: int = 0
    asked: dict[str, int] = field(default_factory=dict)  # silencing requests by command
    approvals: int = 0
    refusals: int = 0
    refused: int = 0  # its requests the gateway refused
    reads: int = 0  # its read-only requests (answered without a journal row each; tallied)
    throttled: int = 0  # its requests beyond its rate, refused unread
    ack_times: list[float] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    @property
    def median_ack_s(self) -> float | None:
        return statistics.median(self.ack_times) if self.ack_times else None

    def as_json(self) -> dict[str, Any]:
        return {
            "account": self.name,
            "acknowledged": self.acks,
            "cleared": self.clears,
            "asked_to_silence": dict(self.asked),
            "approved": self.approvals,
            "refused_others": self.refusals,
            "refused_by_gateway": self.refused,
            "reads": self.reads,
            "throttled": self.throttled,
            "median_ack_s": self.median_ack_s,
            "flags": list(self.flags),
        }


@dataclass(frozen=True)
class Silence:
    zone: str
    start: float
    end: float
    what: str
    asked_by: str
    approved_by: str | None


def request_of(data: dict[str, Any]) -> dict[str, Any]:
    """The request an operator row carries (its JSON text), as a dict; {} if it is not one."""
    try:
        parsed = json.loads(data.get("request") or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def report(entries: Iterable[Entry], zone_of: Callable[[int], str | None]) -> list[AccountReport]:
    accounts: dict[str, AccountReport] = {}
    raised: dict[str, float] = {}
    asked: dict[str, tuple[str, dict[str, Any]]] = {}  # request id -> (command, request)
    silences: list[Silence] = []
    attacks: list[tuple[float, str, str]] = []  # (time, zone, what)

    def account(name: str) -> AccountReport:
        return accounts.setdefault(name, AccountReport(name))

    for entry in entries:
        data, at = entry.data, _t(entry.ts)
        if entry.kind == "alarm":
            alarm = data.get("alarm") or {}
            if data.get("action") == "raised":
                raised[alarm.get("alarm_id", "")] = at
            elif data.get("action") == "acknowledged" and data.get("operator"):
                who = account(data["operator"])
                who.acks += 1
                if alarm.get("alarm_id") in raised:
                    who.ack_times.append(at - raised[alarm["alarm_id"]])
            elif data.get("action") == "cleared" and data.get("operator"):
                account(data["operator"]).clears += 1
        elif entry.kind == "event" and not data.get("test") and entry.node_id is not None:
            labels = data.get("labels") or {}
            kind = (data.get("type"), labels.get("class"))
            zone = zone_of(entry.node_id)
            if zone and (kind in ATTACK_EVENTS or (kind[0], None) in ATTACK_EVENTS):
                attacks.append((at, zone, "%s %s" % (kind[0], kind[1] or "")))
        elif entry.kind == "mask" and data.get("mask"):
            mask = data["mask"]
            silences.append(
                Silence(data["zone"], at, mask["until"], "masked", mask["operator"], mask.get("approved_by"))
            )
        elif entry.kind == "mask":  # lifted before it ran out
            for i, silence in enumerate(silences):
                if silence.zone == data.get("zone") and silence.what == "masked" and silence.start <= at < silence.end:
                    silences[i] = Silence(
                        silence.zone, silence.start, at, "masked", silence.asked_by, silence.approved_by
                    )
        elif entry.kind == "operator" and data.get("operator"):
            _operator_row(account(data["operator"]), data, at, asked, silences, zone_of)
    _flag(accounts, silences, attacks)
    return sorted(accounts.values(), key=lambda a: (-len(a.flags), a.name))


def _operator_row(
    who: AccountReport,
    data: dict[str, Any],
    at: float,
    asked: dict[str, tuple[str, dict[str, Any]]],
    silences: list[Silence],
    zone_of: Callable[[int], str | None],
) -> None:
    command, status = data.get("command"), data.get("status")
    if command == "tally":  # a window's reads and throttled requests, counted not journalled one by one
        who.reads += int(data.get("reads") or 0)
        who.throttled += int(data.get("throttled") or 0)
    elif status == "error":
        who.refused += 1
    elif status == "pending":
        who.asked[str(command)] = who.asked.get(str(command), 0) + 1
        asked[data.get("request_id", "")] = (str(command), request_of(data))
    elif command == "approve" and status == "ok":
        who.approvals += 1
        what, request = asked.get(data.get("request_id", ""), ("", {}))
        node = request.get("node_id")
        zone = zone_of(node) if isinstance(node, int) else None
        if zone and what == "walk_test":
            end = at + 60 * float(request.get("minutes") or 0)
            silences.append(Silence(zone, at, end, "walk test", data.get("requested_by", "?"), who.name))
        elif zone and what == "node_config" and request.get("armed") is False:
            silences.append(
                Silence(zone, at, at + DISARM_WINDOW_S, "disarmed", data.get("requested_by", "?"), who.name)
            )
    elif command == "refuse" and status == "ok":
        who.refusals += 1


def _flag(accounts: dict[str, AccountReport], silences: list[Silence], attacks: list[tuple[float, str, str]]) -> None:
    for silence in silences:
        during = [a for a in attacks if a[1] == silence.zone and silence.start <= a[0] <= silence.end]
        if not during:
            continue
        when = datetime.fromtimestamp(silence.start, UTC).strftime("%Y-%m-%d %H:%M UTC")
        kinds = ", ".join(sorted({a[2].strip() for a in during}))
        text = "silenced before an attack: %s %s at %s%s; %d attack event(s) there meanwhile (%s)" % (
            silence.what,
            silence.zone,
            when,
            " (approved by %s)" % silence.approved_by if silence.approved_by else "",
            len(during),
            kinds,
        )
        accounts.setdefault(silence.asked_by, AccountReport(silence.asked_by)).flags.append(text)
    medians = [m for a in accounts.values() if (m := a.median_ack_s) is not None]
    site = statistics.median(medians) if medians else None
    for who in accounts.values():
        mine = who.median_ack_s
        if site is not None and mine is not None and mine > max(SLOW_FACTOR * site, SLOW_FLOOR_S):
            who.flags.append("slow to acknowledge: median %.0f s against the site's %.0f s" % (mine, site))
        if who.refused >= REFUSED_FLAG:
            who.flags.append("refused often: %d requests the gateway turned down" % who.refused)


def text(reports: list[AccountReport]) -> str:
    lines = [
        "%-16s %5s %5s %6s %5s %5s %5s %6s %6s %8s  flags"
        % ("account", "acks", "clear", "asked", "appr", "refus", "refd", "reads", "thrott", "ack med")
    ]
    for r in reports:
        median = "%.0f s" % r.median_ack_s if r.median_ack_s is not None else "-"
        lines.append(
            "%-16s %5d %5d %6d %5d %5d %5d %6d %6d %8s  %s"
            % (
                r.name,
                r.acks,
                r.clears,
                sum(r.asked.values()),
                r.approvals,
                r.refusals,
                r.refused,
                r.reads,
                r.throttled,
                median,
                len(r.flags),
            )
        )
        lines += ["    ! " + flag for flag in r.flags]
    return "\n".join(lines)
