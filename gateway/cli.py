"""`perimeter`: the command line of the gateway and its tools."""

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from gateway import frame_tool
from gateway.config import TEMPLATE, ConfigError, load
from gateway.journal import Journal, JournalError, export


def _gateway(args: argparse.Namespace) -> int:
    if args.action == "config-template":
        sys.stdout.write(TEMPLATE)
        return 0
    if not args.config:
        raise frame_tool.UsageError(
            "perimeter gateway needs --config FILE (perimeter gateway config-template prints a commented one)"
        )
    config = load(args.config)
    if args.action == "check-config":
        print(
            "%s: ok (site %s, gateway %s, %d transports, %d nodes)"
            % (args.config, config.site_name, config.gateway_id, len(config.transport_names()), len(config.nodes))
        )
        return 0
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    from gateway.daemon import serve  # imported here: the other commands do not need asyncio's daemon

    asyncio.run(serve(config))
    return 0


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


def _journal(args: argparse.Namespace) -> int:
    journal = Journal(_journal_path(args), durable=False)
    try:
        if args.action == "verify":
            result = journal.verify()
            if result.ok:
                print("journal %s: %d rows, chain intact, head %s" % (journal.path, result.rows, result.head))
                return 0
            print("journal %s: BROKEN at row %d: %s" % (journal.path, result.rows, result.problem))
            return 1
        export(journal, sys.stdout, since=args.since, fmt=args.format)
        return 0
    finally:
        journal.close()


def parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    top = argparse.ArgumentParser(prog="perimeter", description="Perimeter intrusion detection: gateway and tools")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    frame_tool.add_parser(commands)

    gw = commands.add_parser("gateway", help="run the gateway daemon, or print a config template")
    gw.add_argument("action", nargs="?", default="run", choices=("run", "config-template", "check-config"))
    gw.add_argument("--config", metavar="FILE", help="the gateway's TOML config")
    gw.add_argument("--verbose", action="store_true", help="log every rejected frame")
    gw.set_defaults(handler=_gateway)

    jr = commands.add_parser("journal", help="verify or export the hash-chained journal")
    jr.add_argument("action", choices=("verify", "export"))
    where = jr.add_mutually_exclusive_group()
    where.add_argument("--journal", metavar="FILE", help="the journal's SQLite file")
    where.add_argument("--config", metavar="FILE", help="take the journal path from this gateway config")
    jr.add_argument("--since", metavar="TIME", help="export rows from this UTC time on, e.g. 2026-11-22T00:00")
    jr.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    jr.set_defaults(handler=_journal)
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `perimeter` console script; returns the exit status."""
    args = parser().parse_args(argv)
    try:
        if args.command == "frame":
            return frame_tool.run(args)
        return int(args.handler(args))
    except (frame_tool.UsageError, ConfigError, JournalError) as exc:
        print("perimeter: %s" % exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
