"""The region under load, and the region through an outage.

    .venv/bin/python bench/region_bench.py [--prisons 123] [--seconds 60] [--busy-per-hour 750] [--times 10]
    .venv/bin/python bench/region_bench.py --outage 300

Load: a three-node RabbitMQ cluster (MQTT over TLS, the quorum queue), PostgreSQL with
PostGIS and two `perimeter region` consumers, all started here. `--prisons` simulated sites,
each logged in with its own certificate on its own TLS connection (spread over the nodes),
publish incident messages at `--times` a busy night's rate. A busy night, as assumed here:
six drones an hour, each heard for two minutes and so sent again at every move (a revision
every second: 120), and thirty other revisions an hour (climbs, throw-overs, their
acknowledgements and clearings): 750 messages an hour per prison. Printed: messages sent and
stored, the consumers' lag (stored minus the site's `updated_at`: p50 / p95 / max), how long
the queue took to drain after the sites stopped, and, over a month of history loaded first
(`--month-per-day` incidents a day per prison), the store's time for the month-by-hour-of-week
pattern of every prison (median of 5) and for one prison's drones in a month.

Outage (`--outage S`): the drill of `simulators/regional.py`: two sites' WAN links cut for S
seconds while their nights go on, and the regional node their bridges used killed during the
cut; printed: incidents published and stored, lost, duplicated, and the catch-up time.
"""

import argparse
import asyncio
import json
import random
import ssl
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiomqtt  # noqa: E402
import asyncpg  # noqa: E402

from region.consumer import Consumer, prepare  # noqa: E402
from region.store import HOUR_OF_WEEK_SQL, SESSION, UPSERT_SQL, row_args  # noqa: E402
from simulators.regional import Region, outage_drill  # noqa: E402

KINDS = ("intrusion", "throw_over", "drone_drop", "tamper")


def origin(i: int) -> tuple[float, float]:
    """Prisons spread over a region some 300 km across."""
    rng = random.Random(i)
    return (-3.0 + rng.uniform(0, 4), 51.5 + rng.uniform(0, 2.5))


def incident(site: str, number: int, revision: int, kind: str, at: datetime, lon0: float, lat0: float) -> dict:
    rng = random.Random(number * 7919 + revision)
    x, y = rng.uniform(0, 400), rng.uniform(0, 300)
    lon, lat = lon0 + x / 66_000, lat0 + y / 110_540
    iso = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "schema": "perimeter.incident/1", "id": "%s:%d" % (site, number), "site": site, "gateway": "gw1",
        "alarm_id": str(number), "revision": revision, "action": "raised" if revision == 1 else "updated",
        "kind": kind, "state": "active", "severity": 2, "zone": "Z%02d" % rng.randint(1, 12), "raised_at": iso,
        "updated_at": iso, "cleared_at": None, "outcome": None, "chainage_m": round(x, 1), "site_xy": [x, y],
        "lonlat": [round(lon, 7), round(lat, 7)], "error_m": 5.0,
        "fundamental_hz": 180 if kind == "drone" else None,
        "track": [[iso, x, y, lon, lat], [iso, x + 5, y, lon + 5 / 66_000, lat]] if kind == "drone" else [],
        "nodes": [1, 2], "proof": {"seq": revision, "hash": "0" * 64, "checkpoint": None},
    }  # fmt: skip


async def preload_month(dsn: str, prisons: int, per_day: int, end: datetime) -> int:
    db = await asyncpg.connect(dsn, server_settings=SESSION)
    rows = []
    rng = random.Random(1)
    for p in range(prisons):
        lon0, lat0 = origin(p)
        for n in range(per_day * 30):
            at = end - timedelta(seconds=rng.uniform(0, 30 * 86400))
            kind = rng.choice(KINDS + ("drone", "drone"))
            rows.append(row_args(incident("prison-%03d" % p, 10**6 + n, 1, kind, at, lon0, lat0)))
    await db.executemany(UPSERT_SQL, rows)
    await db.execute("ANALYZE incidents")
    await db.close()
    return len(rows)


async def query_times(dsn: str, end: datetime) -> tuple[float, float]:
    db = await asyncpg.connect(dsn, server_settings=SESSION)
    start = end - timedelta(days=30)
    pattern, drones = [], []
    for _ in range(5):
        t = time.perf_counter()
        await db.fetch(HOUR_OF_WEEK_SQL, start, end, "Europe/London")
        pattern.append(time.perf_counter() - t)
        t = time.perf_counter()
        await db.fetch("SELECT doc FROM incidents WHERE site = $1 AND kind = 'drone' AND raised_at >= $2 AND "
                       "raised_at < $3 ORDER BY raised_at", "prison-007", start, end)  # fmt: skip
        drones.append(time.perf_counter() - t)
    await db.close()
    return statistics.median(pattern), statistics.median(drones)


async def prison(site: str, index: int, port: int, certs: Path, rate: float, until: float, sent: list[int]) -> None:
    context = ssl.create_default_context(cafile=str(certs / "ca" / "ca.pem"))  # as Region.start wrote them
    context.load_cert_chain(str(certs / "sites" / (site + ".pem")), str(certs / "sites" / (site + ".key")))
    lon0, lat0 = origin(index)
    rng = random.Random(index)
    number, drone, drone_left = 0, 0, 0
    others: list[tuple[int, int, str]] = []
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-" + site, tls_context=context) as client:
        await asyncio.sleep(rng.uniform(0, 1 / rate))
        while time.time() < until:
            at = datetime.now(UTC)
            if drone_left == 0 and rng.random() < 120 / 750:  # a new drone: 120 revisions, one a second
                number += 1
                drone, drone_left = number, 120
            if drone_left and rng.random() < 120 / 750 * 6:
                doc = incident(site, drone, 121 - drone_left, "drone", at, lon0, lat0)
                drone_left -= 1
            elif others and rng.random() < 0.6:
                k = rng.randrange(len(others))
                n, rev, kind = others[k]
                others[k] = (n, rev + 1, kind)
                doc = incident(site, n, rev + 1, kind, at, lon0, lat0)
            else:
                number += 1
                others = (others + [(number, 1, rng.choice(KINDS))])[-5:]
                doc = incident(site, number, 1, others[-1][2], at, lon0, lat0)
            doc["updated_at"] = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            await client.publish("perimeter/%s/gw1/incidents" % site, json.dumps(doc), qos=1)
            sent[0] += 1
            await asyncio.sleep(rng.expovariate(rate))


async def load(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="perimeter-region-bench-"))
    sites = ["prison-%03d" % i for i in range(args.prisons)]
    t = time.time()
    region = Region.start(work, sites)  # its CA, a certificate per prison, the cluster, PostGIS
    cluster, db = region.cluster, region.db
    consumers: list[Consumer] = []
    try:
        print("cluster of %d nodes formed, PostGIS started, in %.1f s" % (len(cluster.nodes), time.time() - t))
        await prepare(db.dsn(), cluster.amqp_urls, 3)
        end = datetime.now(UTC) - timedelta(hours=1)
        t = time.time()
        loaded = await preload_month(db.dsn(), args.prisons, args.month_per_day, end)
        print("a month of history: %d incidents loaded in %.1f s" % (loaded, time.time() - t))
        pattern_s, drones_s = await query_times(db.dsn(), end)
        print("month-by-hour-of-week pattern, %d prisons: %.1f ms (median of 5)" % (args.prisons, pattern_s * 1000))
        print("one prison's drones in a month: %.1f ms (median of 5)" % (drones_s * 1000))
        for i in range(2):
            consumer = Consumer(db.dsn(), cluster.amqp_urls[i:] + cluster.amqp_urls[:i])
            consumers.append(consumer)
        tasks = [asyncio.create_task(c.run()) for c in consumers]
        rate = args.busy_per_hour * args.times / 3600.0
        sent = [0]
        until = time.time() + args.seconds
        print("%d prisons publishing %.2f messages/s each (%.0f/s in all) for %d s ..."
              % (args.prisons, rate, rate * args.prisons, args.seconds))  # fmt: skip
        await asyncio.gather(*(prison(s, i, cluster.nodes[i % 3].mqtts_port, work, rate, until, sent)
                               for i, s in enumerate(sites)))  # fmt: skip
        stopped = time.time()
        while sum(c.stats.stored + c.stats.updated + c.stats.unchanged for c in consumers) < sent[0]:
            if time.time() - stopped > 300:
                break
            await asyncio.sleep(0.2)
        drained = time.time() - stopped
        done = sum(c.stats.stored + c.stats.updated + c.stats.unchanged for c in consumers)
        lags = sorted(lag for c in consumers for lag in c.stats.lags_s)
        print("sent %d messages (%.0f/s), stored %d (%d new incidents, %d revisions, %d already held, %d refused)"
              % (sent[0], sent[0] / args.seconds, done, sum(c.stats.stored for c in consumers),
                 sum(c.stats.updated for c in consumers), sum(c.stats.unchanged for c in consumers),
                 sum(c.stats.rejected for c in consumers)))  # fmt: skip
        if lags:
            print("consumer lag (site's updated_at to stored): p50 %.3f s, p95 %.3f s, max %.3f s"
                  % (lags[len(lags) // 2], lags[int(len(lags) * 0.95)], lags[-1]))  # fmt: skip
        print("queue drained %.1f s after the sites stopped" % drained)
        for c in consumers:
            c.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        region.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prisons", type=int, default=123)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--busy-per-hour", type=float, default=750.0, help="a busy night's messages an hour")
    parser.add_argument("--times", type=float, default=10.0, help="that rate, this many times over")
    parser.add_argument("--month-per-day", type=int, default=20, help="incidents a day per prison in the history")
    parser.add_argument("--outage", type=float, help="run the outage drill with a cut this long (s) instead")
    args = parser.parse_args()
    print("region bench, %s" % datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    if args.outage:
        with tempfile.TemporaryDirectory() as work:
            report = asyncio.run(outage_drill(Path(work), args.outage, kill_node=True))
        print(json.dumps(report, indent=1))
        return
    asyncio.run(load(args))


if __name__ == "__main__":
    main()
