"""`perimeter`: the command line of the gateway and its tools."""

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from gateway.config import TEMPLATE, ConfigError, load
from gateway.evidence.journal import JournalError
from gateway.tools import frame_tool, journal_tool, node_cli, request_tool, site_cli
from protocol.messages import VERSION as PROTOCOL_VERSION


def versions() -> str:
    """What `perimeter --version` prints: the package, the wire protocol and the node firmware
    this package builds (a site upgrades its gateways before its nodes)."""
    import re
    from importlib import resources
    from importlib.metadata import PackageNotFoundError, version

    # Read, not imported: the node's modules are MicroPython's, and the gateway never imports them.
    source = resources.files("device").joinpath("node.py").read_text(encoding="utf-8")
    found = re.search(r"^FIRMWARE = \((\d+), (\d+), (\d+)\)", source, re.M)
    firmware = ".".join(found.groups()) if found else "unknown"
    try:
        package = version("perimeter")
    except PackageNotFoundError:  # run from a checkout that was never installed
        package = "unknown (not installed)"
    return "perimeter %s, protocol %d, node firmware %s" % (package, PROTOCOL_VERSION, firmware)


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
        from gateway.config_warnings import warnings as config_warnings

        warnings = config_warnings(config)
        print(
            "%s: %s (site %s, gateway %s, %d transports, %d nodes)"
            % (
                args.config,
                "ok" if not warnings else "usable, with %d warning(s)" % len(warnings),
                config.site_name,
                config.gateway_id,
                len(config.transport_names()),
                len(config.nodes),
            )
        )
        for warning in warnings:
            print("  warning: " + warning)
        return 0
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    from gateway.daemon import serve  # imported here: the other commands do not need asyncio's daemon
    from gateway.process_limits import harden_process

    harden_process()  # umask, descriptors, a log no flood fills
    asyncio.run(serve(config))
    return 0


def parser(extra: "Callable[[Any], None] | None" = None) -> argparse.ArgumentParser:
    """The whole command tree; `extra` may add commands (the simulators add `sim` and
    `demo`, so that the gateway never imports them)."""
    top = argparse.ArgumentParser(prog="perimeter", description="Perimeter intrusion detection: gateway and tools")
    top.add_argument("--version", action="version", version=versions(), help="the package, protocol and firmware")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    frame_tool.add_parser(commands)

    gw = commands.add_parser("gateway", help="run the gateway daemon, check its config, or print a template")
    actions = gw.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="run the daemon until SIGTERM (what the systemd unit runs)")
    check = actions.add_parser("check-config", help="read the config and say what would make the site deaf or open")
    for action in (run, check):
        action.add_argument("--config", metavar="FILE", help="the gateway's TOML config")
        action.set_defaults(handler=_gateway)
    run.add_argument("--verbose", action="store_true", help="log every rejected frame")
    template = actions.add_parser("config-template", help="print a commented config")
    template.set_defaults(handler=_gateway)

    node_cli.add_parser(commands)
    site_cli.add_parsers(commands)
    journal_tool.add_parser(commands)
    request_tool.add_parser(commands)
    if extra is not None:
        extra(commands)
    return top


def plugged_in_commands(commands: Any) -> None:
    """The commands other rooms register under the `perimeter.commands` entry point (the
    simulators' `sim` and `demo`), so the gateway's command line names none of them."""
    for entry in entry_points(group="perimeter.commands"):
        add_commands = entry.load()
        add_commands(commands)


def main(argv: list[str] | None = None, extra: "Callable[[Any], None] | None" = None) -> int:
    """Entry point of the `perimeter` console script; returns the exit status."""
    args = parser(extra or plugged_in_commands).parse_args(argv)
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
