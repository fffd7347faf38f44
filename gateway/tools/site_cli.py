"""`perimeter site init|rotate-key|key-status` and `perimeter operator add|remove|list`: a new
site written ready to run, the site key's life cycle, and the accounts of the people who run it."""

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.alarming.permissions import ROLES
from gateway.config import load
from gateway.tools import frame_tool
from gateway.tools.ownership import keep_owner

if TYPE_CHECKING:
    from gateway.tools.region_bridge import RegionLink


def add_parsers(commands: Any) -> None:
    """Register `perimeter site ...` and `perimeter operator ...`."""
    site = commands.add_parser("site", help="write a new site; the site key's life cycle")
    actions = site.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = actions.add_parser("init", help="write a new site: keys, accounts, broker files, gateway.toml, units")
    init.add_argument("folder", metavar="DIR", help="the folder to write the site into (e.g. /etc/perimeter)")
    init.add_argument("--name", required=True, help="the site's name (an MQTT topic level)")
    init.add_argument("--id", type=int, default=1, help="the site's id (u32, default 1); nodes take it from the config")
    init.add_argument("--supervisor", required=True, help="the first supervisor's account name")
    init.add_argument("--mqtt-port", type=int, default=1883, help="the site broker's port (default 1883)")
    init.add_argument(
        "--state-dir",
        default="/var/lib/perimeter",
        metavar="DIR",
        help="where the daemons write: journal, node keys, broker persistence (default /var/lib/perimeter)",
    )
    init.add_argument("--user", default="perimeter", help="the user the units run as (default perimeter)")
    init.add_argument(
        "--timezone",
        default=None,
        metavar="ZONE",
        help="the site's time zone, e.g. Europe/London (default: this machine's, else UTC)",
    )
    init.add_argument("--password-stdin", action="store_true", help="the supervisor's password on stdin")
    init.add_argument("--witness-syslog", metavar="HOST:PORT", help="the syslog collector off this host")
    init.add_argument("--witness-webhook", metavar="URL", help="the HTTPS collector off this host")
    init.add_argument(
        "--no-off-host-witness", action="store_true", help="run without a witness off this host (journalled)"
    )
    region = init.add_argument_group("the region (its incidents bridged to the regional broker; docs/region.md)")
    region.add_argument("--region-broker", action="append", metavar="HOST:PORT", help="a regional node's MQTT TLS "
                        "listener (repeat for each node; tried in turn)")  # fmt: skip
    region.add_argument("--region-ca", metavar="FILE", help="the region's CA certificate")
    region.add_argument("--region-cert", metavar="FILE", help="this site's certificate from the region (CN: --name)")
    region.add_argument("--region-key", metavar="FILE", help="its private key")
    region.add_argument("--region-origin", metavar="LON,LAT", help="where the site plan's (0, 0) lies on the map")
    region.add_argument("--region-staff-names", action="store_true", help="incidents name who acknowledged and "
                        "cleared them (off: no staff name leaves the site)")  # fmt: skip
    init.set_defaults(handler=_site_init)
    for name, text in (
        ("rotate-key", "start a site-key rotation: every node is sent the next epoch's key"),
        ("key-status", "which nodes have moved to the new site key (exit 1 while some have not)"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("--config", required=True, metavar="FILE", help="the gateway's TOML config")
        action.set_defaults(handler=_site)

    operator = commands.add_parser("operator", help="accounts (dashboard and broker): add, remove or list them")
    accounts = operator.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = accounts.add_parser("add", help="add an account, or change its password or role")
    remove = accounts.add_parser("remove", help="remove an account (its open sessions end at their next request)")
    listed = accounts.add_parser("list", help="the accounts and their roles")
    for action in (add, remove):
        action.add_argument("name", nargs="?", help="the account's name")
    for action in (add, remove, listed):
        where = action.add_mutually_exclusive_group(required=True)
        where.add_argument("--config", metavar="FILE", help="the gateway's TOML config (its dashboard.accounts_file)")
        where.add_argument("--accounts", metavar="FILE", help="the accounts file itself")
        action.set_defaults(handler=_operator)
    add.add_argument("--role", default="operator", choices=ROLES, help="see the permissions table in the docs")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")


def _operator(args: argparse.Namespace) -> int:
    """Accounts: add (or change the password or role of) one, remove one, list them; the
    broker's password file and ACL beside the accounts follow (`perimeter site init`)."""
    from gateway.identity.accounts import AccountError, add_account, parse_accounts, remove_account
    from gateway.identity.broker_accounts import broker_folder, remove_broker_user, write_broker_files

    reload = "; reload the broker (systemctl reload perimeter-mosquitto) for MQTT"

    path = Path(args.accounts) if args.accounts else _accounts_of(args.config)
    broker_files = (broker_folder(path) / "passwords", broker_folder(path) / "acl")  # kept the service user's
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
            keep_owner(path, *broker_files)
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
        keep_owner(path, *broker_files)
        article = "an" if args.role[0] in "aeiou" else "a"
        print("%s: %s is %s %s%s" % (path, args.name, article, args.role, reload if broker else ""))
        return 0
    except AccountError as exc:
        raise frame_tool.UsageError(str(exc)) from None


def _accounts_of(config_path: str) -> Path:
    accounts = load(config_path).accounts_file
    if accounts is None:
        raise frame_tool.UsageError("%s names no accounts file ([dashboard] accounts_file)" % config_path)
    return accounts


def _site(args: argparse.Namespace) -> int:
    from gateway.tools import site_tool

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


def machine_time_zone() -> str:
    """This machine's time zone by name (Debian keeps it in /etc/timezone), else UTC."""
    try:
        name = Path("/etc/timezone").read_text().strip()
    except OSError:
        return "UTC"
    return name or "UTC"


def _region_link(args: argparse.Namespace) -> "RegionLink | None":
    from gateway.tools.region_bridge import RegionLink

    given = [args.region_broker, args.region_ca, args.region_cert, args.region_key]
    if not any(given) and not args.region_origin:
        return None
    if not all(given):
        raise frame_tool.UsageError("--region-broker, --region-ca, --region-cert and --region-key go together")
    origin = None
    if args.region_origin:
        try:
            lon, lat = (float(v) for v in args.region_origin.split(","))
        except ValueError:
            raise frame_tool.UsageError("--region-origin: expected LON,LAT, got %r" % args.region_origin) from None
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise frame_tool.UsageError("--region-origin: %r is off the Earth (LON,LAT)" % args.region_origin)
        origin = (lon, lat)
    link = RegionLink(tuple(args.region_broker), Path(args.region_ca), Path(args.region_cert), Path(args.region_key),
                      origin, args.region_staff_names)  # fmt: skip
    try:
        link.check()
    except ValueError as exc:
        raise frame_tool.UsageError(str(exc)) from None
    return link


def _site_init(args: argparse.Namespace) -> int:
    from gateway.identity.accounts import AccountError
    from gateway.tools.site_init import Layout, OffHostWitness, SiteInitError, give_to_service_user, init_site

    witness = OffHostWitness(args.witness_syslog or "", args.witness_webhook or "", args.no_off_host_witness)
    try:
        witness.check()  # before the password is asked for
    except SiteInitError as exc:
        raise frame_tool.UsageError(str(exc)) from None
    region = _region_link(args)
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None
    if password is None:
        import getpass

        password = getpass.getpass("password for %s: " % args.supervisor)
    layout = Layout(Path(args.folder).resolve(), Path(args.state_dir).resolve(), args.user)
    layout = replace(layout, timezone=args.timezone or machine_time_zone())
    try:
        written = init_site(
            Path(args.folder), args.name, args.id, args.supervisor, password, args.mqtt_port, witness, layout, region
        )
    except (SiteInitError, AccountError) as exc:
        raise frame_tool.UsageError(str(exc)) from None
    except OSError as exc:
        raise frame_tool.UsageError("cannot write the site: %s (nothing was left behind)" % exc) from None
    print("\n".join(str(p) for p in written))
    owned = give_to_service_user(layout)
    units = layout.config / "systemd"
    print("next, as root:")
    if not owned:  # not root, or the user is not made yet
        print("  install -m 644 %s/perimeter.sysusers /etc/sysusers.d/perimeter.conf && systemd-sysusers" % units)
        print("  chown -R %s: %s %s" % (layout.user, layout.config, layout.state))
    print("  add the perimeter and the nodes to %s/gateway.toml, then" % layout.config)
    print("  perimeter gateway check-config --config %s/gateway.toml" % layout.config)
    print("  install -m 644 %s/*.service /etc/systemd/system/ && systemctl daemon-reload" % units)
    print("  systemctl enable --now perimeter-mosquitto perimeter-gateway")
    return 0
