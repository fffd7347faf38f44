"""`perimeter region ...`: the regional office's commands.

- `certificate` issues the region's CA, a broker node's or a site's certificate;
- `definitions` writes the cluster's users and permissions (one per site: its own topic only);
- `consume` keeps the store from the cluster's quorum queue (run two or more);
- `export` writes a time window's incidents as GeoJSON or CSV, with their evidence;
- `pattern` prints incidents by hour of the week, per prison and kind.
"""

import argparse
import asyncio
import json
import logging
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Any


class RegionUsageError(Exception):
    pass


def add_commands(commands: Any) -> None:
    region = commands.add_parser("region", help="the regional picture: certificates, the consumer, exports")
    actions = region.add_subparsers(dest="action", required=True, metavar="ACTION")
    cert = actions.add_parser("certificate", help="issue the region's CA, a broker node's or a site's certificate")
    cert.add_argument("--ca", required=True, metavar="DIR", help="the CA's folder (made with --new-ca)")
    cert.add_argument("--new-ca", action="store_true", help="make the CA in --ca first")
    cert.add_argument("--site", metavar="NAME", help="a site's client certificate (its CN: the site's name)")
    cert.add_argument("--broker", metavar="HOST", action="append", help="a broker node's certificate for these names")
    cert.add_argument("--out", metavar="PATH", help="where to write PATH.pem and PATH.key")
    defs = actions.add_parser("definitions", help="the cluster's users and permissions (RabbitMQ load_definitions)")
    defs.add_argument("--site", action="append", required=True, metavar="NAME", help="a site (repeat)")
    defs.add_argument("--consumer-password-file", required=True, metavar="FILE", help="the consumer's password")
    for name, text in (("consume", "keep the store from the cluster's queue"),
                       ("export", "incidents of a window as GeoJSON or CSV, with their evidence"),
                       ("pattern", "incidents by hour of the week, per prison and kind")):  # fmt: skip
        action = actions.add_parser(name, help=text)
        action.add_argument("--db", required=True, metavar="DSN", help="postgresql://user@host:port/database")
        action.set_defaults(handler=run)
    consume = actions.choices["consume"]
    consume.add_argument("--amqp", action="append", required=True, metavar="URL", help="a cluster node (repeat)")
    consume.add_argument("--replicas", type=int, default=3, help="the quorum queue's replicas (the cluster's size)")
    for name in ("export", "pattern"):
        action = actions.choices[name]
        action.add_argument("--from", dest="start", required=True, metavar="TIME", help="e.g. 2026-11-01T00:00Z")
        action.add_argument("--to", dest="end", required=True, metavar="TIME", help="e.g. 2026-12-01T00:00Z")
        action.add_argument("--site", action="append", metavar="NAME", help="only these prisons (repeat)")
        action.add_argument("--kind", action="append", metavar="KIND", help="only these kinds (drone, drone_drop, ...)")
    export = actions.choices["export"]
    export.add_argument("--format", choices=("geojson", "csv"), default="geojson", help="default geojson")
    export.add_argument("--bbox", metavar="W,S,E,N", help="only inside this lon/lat box")
    export.add_argument("--out", metavar="FILE", help="default: standard output")
    actions.choices["pattern"].add_argument("--timezone", default="UTC", help="hours in this zone (default UTC)")
    serve = actions.add_parser("serve", help="the regional picture for analysts (read-only web page)")
    serve.add_argument("--db", required=True, metavar="DSN", help="postgresql://user@host:port/database")
    serve.add_argument("--analysts", required=True, metavar="FILE", help="accounts from perimeter region analyst add")
    serve.add_argument("--listen", default="127.0.0.1:8090", metavar="HOST:PORT", help="default 127.0.0.1:8090")
    serve.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate (and --tls-key)")
    serve.add_argument("--tls-key", metavar="FILE", help="the certificate's private key")
    serve.add_argument("--tiles", default="", metavar="URL", help="a tile server ({z}/{x}/{y}) beneath the map")
    analyst = actions.add_parser("analyst", help="add a prison-service or police analyst")
    analyst.add_argument("name", help="the analyst's account name")
    analyst.add_argument("--file", required=True, metavar="FILE", help="the analysts' accounts file")
    analyst.add_argument("--role", required=True, choices=("prison_analyst", "police_analyst"),
                         help="both see and export the region's incidents; neither can act on a site")  # fmt: skip
    analyst.add_argument("--password-stdin", action="store_true", help="the password on the first line of stdin")
    for action in (cert, defs, serve, analyst):
        action.set_defaults(handler=run)


def _time(text: str, option: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RegionUsageError("%s: %r is not a time (e.g. 2026-11-01T00:00Z)" % (option, text)) from None
    if when.tzinfo is None:
        raise RegionUsageError("%s: %r names no zone: end it in Z or an offset" % (option, text))
    return when


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except RegionUsageError as exc:
        print("perimeter region %s: %s" % (args.action, exc), file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # a site's gateway installs without the region's libraries
        if exc.name not in ("aio_pika", "asyncpg"):
            raise
        print("perimeter region %s: the region needs %s: pip install 'perimeter[region]' (or scripts/setup.sh)"
              % (args.action, exc.name), file=sys.stderr)  # fmt: skip
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.action == "certificate":
        return _certificate(args)
    if args.action == "serve":
        return _serve(args)
    if args.action == "analyst":
        from gateway.identity.accounts import AccountError
        from region import analysts

        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            import getpass

            password = getpass.getpass("password for %s: " % args.name)
        try:
            analysts.add(Path(args.file), args.name, args.role, password)
        except (AccountError, OSError) as exc:
            raise RegionUsageError(str(exc)) from None
        print("%s added as %s" % (args.name, args.role))
        return 0
    if args.action == "definitions":
        from region import rabbit

        try:
            password = Path(args.consumer_password_file).read_text().strip()
            print(json.dumps(rabbit.definitions(args.site, password), indent=2))
        except (OSError, ValueError) as exc:
            raise RegionUsageError(str(exc)) from None
        return 0
    return asyncio.run(_with_db(args))


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.identity.accounts import AccountError
    from region import analysts, web

    try:
        analysts.read(Path(args.analysts))
    except (AccountError, OSError) as exc:
        raise RegionUsageError("--analysts: %s" % exc) from None
    host, _, port = args.listen.rpartition(":")
    if not port.isdigit():
        raise RegionUsageError("--listen: expected HOST:PORT, got %r" % args.listen)
    uvicorn.run(web.app(args.db, Path(args.analysts), args.tiles), host=host or "127.0.0.1", port=int(port),
                ssl_certfile=args.tls_cert, ssl_keyfile=args.tls_key, log_level="warning")  # fmt: skip
    return 0


def _certificate(args: argparse.Namespace) -> int:
    from region import pki

    ca = Path(args.ca)
    if args.new_ca:
        print("\n".join(map(str, pki.new_ca(ca))))
    elif not (ca / "ca.pem").exists():
        raise RegionUsageError("no CA in %s (make it with --new-ca)" % ca)
    if args.site or args.broker:
        if not args.out:
            raise RegionUsageError("--out PATH: where the certificate and its key go")
        common = args.site or "region-broker"
        print("\n".join(map(str, pki.issue(ca, Path(args.out), common, None if args.site else args.broker))))
    return 0


async def _with_db(args: argparse.Namespace) -> int:
    import asyncpg

    from region.store import SESSION

    if args.action == "consume":
        from region.consumer import Consumer, prepare

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        try:
            await prepare(args.db, args.amqp, args.replicas)
        except (OSError, ConnectionError, asyncpg.PostgresError) as exc:
            raise RegionUsageError(str(exc)) from None
        consumer = Consumer(args.db, args.amqp)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, consumer.stop)
        await consumer.run()
        return 0
    start, end = _time(args.start, "--from"), _time(args.end, "--to")
    try:
        db = await asyncpg.connect(args.db, server_settings=SESSION)
    except (OSError, asyncpg.PostgresError) as exc:
        raise RegionUsageError("cannot reach the store %s: %s" % (args.db.rpartition("@")[2], exc)) from None
    try:
        if args.action == "pattern":
            from region.store import HOUR_OF_WEEK_SQL

            for row in await db.fetch(HOUR_OF_WEEK_SQL, start, end, args.timezone):
                if (not args.site or row["site"] in args.site) and (not args.kind or row["kind"] in args.kind):
                    print("%s\t%s\tday %d\t%02d:00\t%d" % (row["site"], row["kind"], row["day"], row["hour"], row["n"]))
            return 0
        from region import export

        bbox = None
        if args.bbox:
            try:
                west, south, east, north = (float(v) for v in args.bbox.split(","))
            except ValueError:
                raise RegionUsageError("--bbox: expected W,S,E,N in degrees, got %r" % args.bbox) from None
            bbox = (west, south, east, north)
        found = await export.window(db, start, end, args.site, args.kind, bbox)
    finally:
        await db.close()
    text = json.dumps(export.geojson(found), indent=1) if args.format == "geojson" else export.csv_text(found)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print("%d incidents written to %s" % (len(found), args.out), file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
