"""`perimeter journal verify|export|report`: the journal proved against itself and against a
witness off the host, exported, and read back as the supervisor's report."""

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.clock import parse_utc, utc_iso
from gateway.config import GatewayConfig, load
from gateway.evidence.export import export
from gateway.evidence.journal import Journal
from gateway.site_plan import site_time, time_zone
from gateway.tools import frame_tool


def add_parser(commands: Any) -> None:
    """Register `perimeter journal ...`."""
    journal = commands.add_parser("journal", help="verify, export or report on the hash-chained journal")
    actions = journal.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="check the hash chain, and against a witness's checkpoints")
    export_ = actions.add_parser("export", help="the rows as JSON lines or CSV, each with its hash")
    report = actions.add_parser(
        "report", help="the supervisor's report: per account, per zone (nuisance rate), or a shift's handover"
    )
    for action in (verify, export_, report):
        where = action.add_mutually_exclusive_group()
        where.add_argument("--journal", metavar="FILE", help="the journal's SQLite file")
        where.add_argument("--config", metavar="FILE", help="take the journal path from this gateway config")
        action.set_defaults(handler=run, since=None, witness=None, format=None)
    verify.add_argument("--witness", metavar="FILE", help="checkpoints a witness kept (file, syslog or MQTT lines)")
    verify.add_argument("--witness-key", metavar="FILE", help="the witness public key (witness.pub)")
    verify.add_argument("--incident", metavar="FILE", help="a regional export (GeoJSON, CSV): its incidents held "
                        "against this journal (needs --config)")  # fmt: skip
    verify.add_argument(
        "--witness-period",
        metavar="S",
        type=float,
        default=None,
        help="the checkpoint period (default: the config's witness.every_s, else 60); a journal that runs "
        "further past the last checkpoint fails",
    )
    for action in (export_, report):
        action.add_argument("--since", metavar="TIME", help="rows from this UTC time on, e.g. 2026-11-22T00:00")
    export_.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="default jsonl")
    report.add_argument("--format", choices=("jsonl", "json", "text"), default="text", help="default text")
    report.add_argument(
        "--by",
        choices=("operator", "zone"),
        default="operator",
        help="operator: what each account did; zone: alarms by outcome and nuisance per 30 days",
    )
    report.add_argument(
        "--shift",
        nargs=2,
        metavar=("START", "END"),
        help="the handover for a shift, e.g. 2026-11-25T20:00 2026-11-26T08:00 (the site's local time "
        "unless it ends in Z or an offset)",
    )


def _journal_path(args: argparse.Namespace) -> Path:
    if args.journal:
        path = Path(args.journal)
    elif args.config:
        path = load(args.config).journal
    else:
        raise frame_tool.UsageError("give --journal FILE or --config FILE")
    if not path.exists():
        raise frame_tool.UsageError("no journal at %s" % path)
    return path


def run(args: argparse.Namespace) -> int:
    journal = Journal(_journal_path(args), durable=False)
    try:
        if args.action == "verify":
            result = journal.verify()
            if not result.ok:
                print("journal %s: BROKEN at row %d: %s" % (journal.path, result.rows, result.problem))
                return 1
            print("journal %s: %d rows, chain intact, head %s" % (journal.path, result.rows, result.head))
            witnessed = _witnessed(journal, args) if args.witness else 0
            return max(witnessed, _incidents(journal, args) if args.incident else 0)
        if args.action == "report":
            return _report(journal, args)
        export(journal, sys.stdout, since=args.since, fmt=args.format)
        return 0
    finally:
        journal.close()


def _report(journal: Journal, args: argparse.Namespace) -> int:
    """The supervisor's report: per account, what it did and the patterns worth a look."""
    import json

    from gateway.evidence import operator_report

    if not args.config:
        raise frame_tool.UsageError("perimeter journal report needs --config (which node is in which zone)")
    config = load(args.config)
    perimeter = config.perimeter

    def zone_of(node: int) -> str | None:
        zone = perimeter.zone_of_node(node)
        return zone.name if zone is not None else None

    if args.shift:
        return _shift(journal, config, args)
    if args.by == "zone":
        return _zones(journal, config, args)
    reports = operator_report.report(journal.entries(args.since), zone_of)
    if args.format in ("jsonl", "json"):
        for r in reports:
            print(json.dumps(r.as_json(), sort_keys=True))
    else:
        print(operator_report.text(reports))
    return 0


def _local(timezone: str) -> Callable[[str], str]:
    zone = time_zone(timezone)
    return lambda utc: datetime.fromtimestamp(parse_utc(utc), zone).strftime("%a %d %b %H:%M")


def _shift(journal: Journal, config: GatewayConfig, args: argparse.Namespace) -> int:
    """The handover (gateway/evidence/shift_report.py), as the dashboard's handover page shows it."""
    import json

    from gateway.evidence.shift_report import handover, text

    try:
        start, end = (site_time(t, config.timezone) for t in args.shift)
    except ValueError as exc:
        raise frame_tool.UsageError(str(exc)) from None
    if end <= start:
        raise frame_tool.UsageError("the shift must end after it starts")
    report = handover(journal, start, end, {n.id: n.name for n in config.nodes}, config.timezone)
    if args.format in ("json", "jsonl"):
        print(json.dumps(report, indent=None if args.format == "jsonl" else 2, sort_keys=True))
    else:
        print(text(report, _local(config.timezone)))
    return 0


def _zones(journal: Journal, config: GatewayConfig, args: argparse.Namespace) -> int:
    """Per zone: alarms by outcome since --since (30 days unless told), and nuisance per 30 days."""
    import json

    from gateway.alarming.outcomes import NUISANCE, WINDOW_S, outcome
    from gateway.evidence import journal_queries

    now = journal.clock.now()
    since = parse_utc(args.since + ("" if args.since.endswith("Z") else "Z")) if args.since else now - WINDOW_S
    rows: dict[str, dict[str, Any]] = {z.name: {"zone": z.name} for z in config.perimeter.zones}
    for _ts, zone, reason in journal_queries.cleared_since(journal, utc_iso(since)):
        row = rows.setdefault(zone or "-", {"zone": zone or "-"})
        group = "nuisance" if reason in NUISANCE else outcome(reason)
        row[group] = row.get(group, 0) + 1
        if reason in NUISANCE:
            row[reason] = row.get(reason, 0) + 1
    days = max(1e-9, (now - since) / 86400.0)
    for row in rows.values():
        row["nuisance_per_30_days"] = round(row.get("nuisance", 0) * 30.0 / days, 1)
    if args.format in ("json", "jsonl"):
        for row in rows.values():
            print(json.dumps(row, sort_keys=True))
        return 0
    print("cleared since %s, %.1f days" % (utc_iso(since), days))
    print("%-12s %6s %9s %12s %6s %10s" % ("zone", "real", "nuisance", "maintenance", "test", "per 30 d"))
    for row in rows.values():
        print(
            "%-12s %6d %9d %12d %6d %10.1f"
            % (
                row["zone"],
                row.get("real", 0),
                row.get("nuisance", 0),
                row.get("maintenance", 0),
                row.get("test", 0),
                row["nuisance_per_30_days"],
            )
        )
    return 0


def _incidents(journal: Journal, args: argparse.Namespace) -> int:
    """Each of this site's incidents in a regional export, held against the journal."""
    from gateway.evidence.incident_check import check, read_exported
    from gateway.evidence.witness import WitnessError, read_public
    from gateway.outputs.incidents import IncidentSource

    if not args.config:
        raise frame_tool.UsageError("--incident needs --config (the site's plan places each incident)")
    config = load(args.config)
    try:
        exported = read_exported(Path(args.incident).read_text(encoding="utf-8"))
        public = read_public(args.witness_key) if args.witness_key else None
    except (OSError, ValueError, WitnessError) as exc:
        raise frame_tool.UsageError("--incident %s: %s" % (args.incident, exc)) from None
    source = IncidentSource(config.site_name, config.gateway_id, config.perimeter, config.region)
    ours = [d for d in exported if d.get("site") == config.site_name]
    failed = 0
    for incident in ours:
        finding = check(journal, source, incident, public)
        failed += not finding.ok
        print("incident %s: %s" % (finding.incident_id, finding.message if finding.ok else "FAILS: " + finding.message))
    print("%d of %d incidents of %s in %s verified (%d of other sites not checked here)"
          % (len(ours) - failed, len(ours), config.site_name, args.incident, len(exported) - len(ours)))  # fmt: skip
    return 1 if failed or not ours else 0


def _witnessed(journal: Journal, args: argparse.Namespace) -> int:
    """The journal held against what a witness saw (gateway/evidence/witness.py)."""
    from gateway.evidence.witness import WitnessError, check_witnessed, read_checkpoints, read_public

    if not args.witness_key:
        raise frame_tool.UsageError("--witness needs --witness-key (the witness.pub that perimeter site init wrote)")
    try:
        public = read_public(args.witness_key)
        checkpoints = read_checkpoints(Path(args.witness))
    except (WitnessError, OSError) as exc:
        raise frame_tool.UsageError(str(exc)) from None
    period = args.witness_period
    if period is None:
        period = load(args.config).witness.every_s if args.config else 60.0
    ok, message = check_witnessed(journal, checkpoints, public, period)
    print("witness %s: %s" % (args.witness, message if ok else "BROKEN: " + message))
    return 0 if ok else 1
