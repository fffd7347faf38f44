"""`perimeter`: the command line of the gateway and its tools."""

import argparse
import asyncio
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from gateway.alarming.permissions import ROLES
from gateway.config import TEMPLATE, ConfigError, load
from gateway.evidence.journal import JournalError
from gateway.tools import frame_tool, journal_tool


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
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    from gateway.daemon import serve  # imported here: the other commands do not need asyncio's daemon
    from gateway.process_limits import harden_process

    harden_process()  # umask, descriptors, a log no flood fills
    asyncio.run(serve(config))
    return 0


def _node(args: argparse.Namespace) -> int:
    from gateway.tools import node_image, node_tool

    if args.action == "revoke":
        return _revoke(args)
    try:
        if args.action == "build":
            if args.board in node_image.TARGETS:
                return _node_image(args, node_image)
            out = Path(args.out or "build/node-%s" % args.board)
            files = node_tool.build(args.board, out)
            print("%s: %d files for %s (%s)" % (out, len(files), args.board, node_tool.ARCH[args.board]))
            return 0
        if args.board == "unix32":
            raise frame_tool.UsageError("unix32 is the node interpreter for simulations and specs: nothing to deploy")
        if args.node_id is None or not (args.config or args.site_key_file) or not args.port:
            raise frame_tool.UsageError(
                "perimeter node deploy needs --port, --node-id and --config (the gateway's; the node gets a key "
                "of its own) or, for a site provisioned before, --site-key-file"
            )
        if args.board == "rp2" and not args.drive and not args.dry_run:
            raise frame_tool.UsageError(
                "perimeter node deploy --board rp2 needs --drive: the RPI-RP2 drive's mount point"
            )
        node_key, site_id, key_epoch = _deployed_key(args)
        out = Path(args.out or "build/node-%s" % args.board)
        if args.board == "rp2":
            image = Path(node_image.build("rp2"))
            print("$ cp %s %s/" % (image, args.drive or "RPI-RP2"))
            if not args.dry_run:
                node_tool.install_uf2(image, Path(args.drive))
                print("the board reboots into the image; it waits, unprovisioned, for its identity on %s" % args.port)
            out.mkdir(parents=True, exist_ok=True)
        else:
            node_tool.build(args.board, out)
        identity = out.parent / ("identity-%d.json" % args.node_id)
        identity.write_text(
            node_tool.identity_json(node_key, site_id, args.node_id, args.role, args.link, args.uplinks, key_epoch)
        )
        identity.chmod(0o600)
        if args.board == "rp2":
            commands = node_tool.identity_commands(args.port, identity)
        else:
            commands = node_tool.deploy_commands(args.port, out, identity)
        for command in commands:
            print("$ " + " ".join(command))
            if not args.dry_run and subprocess.run(command).returncode != 0:
                raise frame_tool.UsageError("mpremote failed on %s: is the board on that port?" % args.port)
        return 0
    except node_tool.NodeToolError as exc:
        raise frame_tool.UsageError(str(exc)) from None
    except node_image.BuildError as exc:
        raise frame_tool.UsageError("node image: %s" % exc) from None


def _deployed_key(args: argparse.Namespace) -> tuple[bytes, int, int]:
    """The key, site id and key epoch a deploy gives the node: with --config a random key, kept first in
    the gateway's key store (the gateway reads it at its next round); else the site-derived one."""
    from gateway.clock import WALL
    from gateway.identity.node_keys import NodeKeyStore, NodeKeyStoreError
    from gateway.identity.revocations import read_revocations
    from gateway.tools import node_tool

    if not args.config:
        site_key = frame_tool.read_site_key(args.site_key_file)
        return node_tool.derived_key(site_key, args.node_id, args.generation), args.site_id, 0
    config = load(args.config)
    if args.node_id not in {n.id for n in config.nodes}:
        raise frame_tool.UsageError("node %d is not in %s: add its [[node]] table first" % (args.node_id, args.config))
    keys = config.site_keys
    assert keys.node_keys is not None and keys.revocations is not None
    generation = read_revocations(keys.revocations).get(args.node_id)
    key = os.urandom(32)
    try:
        NodeKeyStore(keys.node_keys).provision(
            args.node_id, key, keys.epoch, generation.generation if generation else 0, WALL.utc_now()
        )
    except (NodeKeyStoreError, OSError) as exc:
        raise frame_tool.UsageError("cannot keep node %d's key: %s" % (args.node_id, exc)) from None
    print("%s: node %d's own key kept (the gateway takes it up within a second)" % (keys.node_keys, args.node_id))
    return key, config.site_id, keys.epoch


def _revoke(args: argparse.Namespace) -> int:
    from gateway.clock import WALL
    from gateway.identity.revocations import RevocationError, revoke

    if args.node_id is None or not args.config:
        raise frame_tool.UsageError("perimeter node revoke needs --node-id and --config")
    config = load(args.config)
    if args.node_id not in {n.id for n in config.nodes}:
        raise frame_tool.UsageError("node %d is not in %s" % (args.node_id, args.config))
    path = config.site_keys.revocations
    assert path is not None
    try:
        revocation = revoke(path, args.node_id, args.reason, WALL.utc_now())
    except RevocationError as exc:
        raise frame_tool.UsageError(str(exc)) from None
    g = revocation.generation
    print("%s: node %d's key generation %d is revoked" % (path, args.node_id, g - 1))
    print("the running gateway refuses frames under it, and raises a revoked_key alarm, from its next round")
    print("re-provision the board: perimeter node deploy --node-id %d --generation %d ..." % (args.node_id, g))
    return 0


def _node_image(args: argparse.Namespace, node_image: Any) -> int:
    """A frozen image from the pinned sources, from the cache when its inputs are unchanged."""
    cached = Path(node_image.cached_image(args.board))
    reused = cached.exists()
    image = Path(node_image.build(args.board))
    out = Path(args.out or "build/node-%s" % args.board)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(image, out / image.name)
    print(
        "%s: %s image, %d bytes (%s %s)"
        % (
            out / image.name,
            args.board,
            image.stat().st_size,
            "reused from the cache" if reused else "built into the cache",
            image.parent,
        )
    )
    return 0


def _operator(args: argparse.Namespace) -> int:
    """Accounts: add (or change the password or role of) one, remove one, list them; the
    broker's password file and ACL beside the accounts follow (`perimeter site init`)."""
    from gateway.identity.accounts import AccountError, add_account, parse_accounts, remove_account
    from gateway.identity.broker_accounts import broker_folder, remove_broker_user, write_broker_files

    reload = "; reload the broker (systemctl reload perimeter-mosquitto) for MQTT"

    path = Path(args.accounts)
    try:
        if args.action == "list":
            if not path.exists():
                raise frame_tool.UsageError("no accounts file at %s" % path)
            for account in parse_accounts(path.read_text(encoding="utf-8"), str(path)).values():
                print("%s %s" % (account.name, account.role))
            return 0
        if not args.name:
            raise frame_tool.UsageError("perimeter operator %s needs a NAME" % args.action)
        if args.action == "remove":
            remove_account(path, args.name)
            broker = broker_folder(path).exists()
            if broker:
                remove_broker_user(path, args.name)
            print(
                "%s: removed %s (their open sessions end at their next request)%s"
                % (path, args.name, reload if broker else "")
            )
            return 0
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            import getpass

            password = getpass.getpass("password for %s: " % args.name)
            if getpass.getpass("again: ") != password:
                raise frame_tool.UsageError("the two passwords differ; nothing written")
        add_account(path, args.name, args.role, password)
        broker = write_broker_files(path, None, args.name, password)
        article = "an" if args.role[0] in "aeiou" else "a"
        print("%s: %s is %s %s%s" % (path, args.name, article, args.role, reload if broker else ""))
        return 0
    except AccountError as exc:
        raise frame_tool.UsageError(str(exc)) from None


def _site(args: argparse.Namespace) -> int:
    from gateway.tools import site_tool

    if args.action == "init":
        return _site_init(args)
    if not args.config:
        raise frame_tool.UsageError("perimeter site %s needs --config" % args.action)
    config = load(args.config)
    try:
        if args.action == "rotate-key":
            print("\n".join(site_tool.rotate_key(config, Path(args.config))))
            return 0
        done, lines = site_tool.key_status(config)
        print("\n".join(lines))
        return 0 if done else 1
    except site_tool.SiteToolError as exc:
        raise frame_tool.UsageError(str(exc)) from None


def _site_init(args: argparse.Namespace) -> int:
    from gateway.identity.accounts import AccountError
    from gateway.tools.site_init import OffHostWitness, SiteInitError, init_site

    if not args.folder or not args.name or not args.supervisor:
        raise frame_tool.UsageError("perimeter site init DIR --name SITE --supervisor NAME [--id N]")
    witness = OffHostWitness(args.witness_syslog or "", args.witness_webhook or "", args.no_off_host_witness)
    try:
        witness.check()  # before the password is asked for
    except SiteInitError as exc:
        raise frame_tool.UsageError(str(exc)) from None
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None
    if password is None:
        import getpass

        password = getpass.getpass("password for %s: " % args.supervisor)
    try:
        written = init_site(Path(args.folder), args.name, args.id, args.supervisor, password, args.mqtt_port, witness)
    except (SiteInitError, AccountError) as exc:
        raise frame_tool.UsageError(str(exc)) from None
    print("\n".join(str(p) for p in written))
    print("next: add the perimeter and the nodes to gateway.toml, install systemd/*.service, start the broker, then")
    print("      perimeter gateway --config %s" % (Path(args.folder).resolve() / "gateway.toml"))
    return 0


def parser(extra: "Callable[[Any], None] | None" = None) -> argparse.ArgumentParser:
    """The whole command tree; `extra` may add commands (the simulators add `sim` and
    `demo`, so that the gateway never imports them)."""
    top = argparse.ArgumentParser(prog="perimeter", description="Perimeter intrusion detection: gateway and tools")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    frame_tool.add_parser(commands)

    gw = commands.add_parser("gateway", help="run the gateway daemon, or print a config template")
    gw.add_argument("action", nargs="?", default="run", choices=("run", "config-template", "check-config"))
    gw.add_argument("--config", metavar="FILE", help="the gateway's TOML config")
    gw.add_argument("--verbose", action="store_true", help="log every rejected frame")
    gw.set_defaults(handler=_gateway)

    nd = commands.add_parser(
        "node",
        help="build node firmware (a frozen image for rp2 and unix32, mpy-cross files for esp32), deploy or revoke it",
    )
    nd.add_argument("action", choices=["build", "deploy", "revoke"])
    nd.add_argument("--board", default="esp32", choices=["esp32", "esp32s3", "rp2", "unix32", "sim"])
    nd.add_argument("--out", help="build folder (default build/node-BOARD)")
    nd.add_argument("--drive", help="deploy --board rp2: the mount point of the board's RPI-RP2 (BOOTSEL) drive")
    nd.add_argument("--port", help="deploy: the board's serial port, e.g. /dev/ttyUSB0")
    nd.add_argument("--node-id", type=int, help="deploy: the node id to give this board")
    nd.add_argument("--site-id", type=int, default=0, help="deploy: the site id (as in the gateway config)")
    nd.add_argument(
        "--site-key-file",
        help="deploy without --config (sites from before): the node gets the key the site key derives",
    )
    nd.add_argument(
        "--role",
        default="node",
        choices=["node", "ground", "bridge"],
        help="ground: a node with only a buried geophone, inside the fence",
    )
    nd.add_argument("--link", default="serial", choices=["serial", "lora"])
    nd.add_argument(
        "--uplinks",
        default="enveloped",
        choices=["enveloped", "padded", "bare"],
        help="padded: every uplink one length on air (constant-length uplinks); bare: for gateways before 0.5",
    )
    nd.add_argument("--generation", type=int, default=0, help="deploy: the key generation (after a revoke)")
    nd.add_argument("--config", help="deploy, revoke: the gateway's TOML config (deploy: the node gets its own key)")
    nd.add_argument("--reason", default="", help="revoke: why, for the journal")
    nd.add_argument("--dry-run", action="store_true", help="deploy: print the mpremote commands only")
    nd.set_defaults(handler=_node)
    op = commands.add_parser("operator", help="accounts (dashboard and broker): add, remove or list them")
    op.add_argument("action", choices=("add", "remove", "list"))
    op.add_argument("name", nargs="?", help="the account's name")
    op.add_argument("--accounts", required=True, metavar="FILE", help="the accounts file (dashboard.accounts_file)")
    op.add_argument("--role", default="operator", choices=ROLES, help="see the README's permissions table")
    op.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    op.set_defaults(handler=_operator)
    st = commands.add_parser("site", help="a new site; the site key's life cycle: start a rotation, see who moved")
    st.add_argument("action", choices=("init", "rotate-key", "key-status"))
    st.add_argument("folder", nargs="?", help="init: the folder to write the site into")
    st.add_argument("--config", metavar="FILE", help="rotate-key, key-status: the gateway's TOML config")
    st.add_argument("--name", help="init: the site's name (an MQTT topic level)")
    st.add_argument("--id", type=int, default=1, help="init: the site's id (u32)")
    st.add_argument("--supervisor", help="init: the first supervisor's account name")
    st.add_argument("--mqtt-port", type=int, default=1883, help="init: the broker's port")
    st.add_argument("--password-stdin", action="store_true", help="init: the supervisor's password on stdin")
    st.add_argument("--witness-syslog", metavar="HOST:PORT", help="init: the syslog collector off this host")
    st.add_argument("--witness-webhook", metavar="URL", help="init: the HTTPS collector off this host")
    st.add_argument(
        "--no-off-host-witness", action="store_true", help="init: run without a witness off this host (journalled)"
    )
    st.set_defaults(handler=_site)
    jr = commands.add_parser("journal", help="verify, export or report on the hash-chained journal")
    jr.add_argument("action", choices=("verify", "export", "report"))
    jr.add_argument("--by", choices=("operator",), default="operator", help="report: one section per account")
    where = jr.add_mutually_exclusive_group()
    where.add_argument("--journal", metavar="FILE", help="the journal's SQLite file")
    where.add_argument("--config", metavar="FILE", help="take the journal path from this gateway config")
    jr.add_argument("--since", metavar="TIME", help="export rows from this UTC time on, e.g. 2026-11-22T00:00")
    jr.add_argument("--format", choices=("jsonl", "csv", "text"), default=None, help="export: jsonl; report: text")
    jr.add_argument("--witness", metavar="FILE", help="verify: checkpoints a witness kept (file, syslog or MQTT lines)")
    jr.add_argument("--witness-key", metavar="FILE", help="verify: the witness public key (witness.pub)")
    jr.add_argument(
        "--witness-period",
        metavar="S",
        type=float,
        default=None,
        help="verify: the checkpoint period (default: the config's witness.every_s, else 60); a journal that runs "
        "further past the last checkpoint fails",
    )
    jr.set_defaults(handler=journal_tool.run)
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
