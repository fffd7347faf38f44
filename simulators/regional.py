"""The region on one machine, for specs, drills and benches: the region's CA and certificates,
a three-node RabbitMQ cluster with MQTT over TLS, PostgreSQL with PostGIS, consumers, and
sites written by `perimeter site init --region` whose Mosquitto bridges their incidents to
the cluster, each over a WAN link a drill can cut (`simulators/wan_link.py`)."""

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from gateway.config import load
from gateway.config_dump import dump
from gateway.daemon import Gateway
from gateway.evidence.witness import new_key
from gateway.identity.site_key import write_site_key
from gateway.outputs.incidents import KINDS
from gateway.tools.region_bridge import RegionLink
from gateway.tools.site_init import Layout, OffHostWitness, init_site
from region import pki, rabbit
from region.consumer import Consumer, prepare
from region.store import SCHEMA_SQL
from simulators.broker import Broker
from simulators.frame_node import SITE_ID, SITE_KEY, SimNode
from simulators.pty_link import Pty
from simulators.region_services import REGION_PASSWORD, Postgis, RabbitCluster
from simulators.scenario import Scenario
from simulators.scenario import parse as scenario_parse
from simulators.wan_link import WanLink

SITES = {"hmp-north": (-2.2, 53.4), "hmp-south": (-1.5, 52.5)}


@dataclass
class Region:
    folder: Path
    cluster: RabbitCluster
    db: Postgis
    consumers: list[Consumer] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def start(cls, folder: Path, sites: list[str]) -> "Region":
        ca, _ = pki.new_ca(folder / "ca")
        server = pki.issue(folder / "ca", folder / "broker" / "server", "region-broker", ["127.0.0.1", "localhost"])
        for site in sites:
            pki.issue(folder / "ca", folder / "sites" / site, site)
        definitions = folder / "definitions.json"
        definitions.write_text(json.dumps(rabbit.definitions(sites, REGION_PASSWORD)))
        cluster = RabbitCluster(folder / "cluster", 3, (ca, *server), definitions)
        db = Postgis.start()
        try:
            cluster.start()
        except BaseException:
            cluster.stop()
            db.stop()
            raise
        return cls(folder, cluster, db)

    @property
    def dsn(self) -> str:
        return self.db.dsn()

    async def consume(self, instances: int = 2) -> None:
        await prepare(self.dsn, self.cluster.amqp_urls, len(self.cluster.nodes))
        for i in range(instances):
            # Each instance lists the nodes from a different one: they spread over the cluster.
            urls = self.cluster.amqp_urls[i:] + self.cluster.amqp_urls[:i]
            consumer = Consumer(self.dsn, urls)
            self.consumers.append(consumer)
            self.tasks.append(asyncio.create_task(consumer.run()))

    async def stop_consumers(self) -> None:
        for consumer in self.consumers:
            consumer.stop()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.consumers.clear()
        self.tasks.clear()

    async def clear(self) -> None:
        """An empty store (between specs sharing one cluster)."""
        db = await asyncpg.connect(self.dsn)
        try:
            await db.execute(SCHEMA_SQL)
            await db.execute("TRUNCATE incidents, sites, rejected")
        finally:
            await db.close()

    async def rows(self) -> list[dict[str, Any]]:
        db = await asyncpg.connect(self.dsn)
        try:
            found = await db.fetch(
                "SELECT id, site, kind, revision, state, outcome, ST_X(geom) AS lon, ST_Y(geom) AS lat, "
                "ST_NPoints(track) AS track_points, doc FROM incidents ORDER BY id"
            )
        finally:
            await db.close()
        return [dict(r, doc=json.loads(r["doc"])) for r in found]

    async def plans(self) -> dict[str, dict[str, Any]]:
        db = await asyncpg.connect(self.dsn)
        try:
            found = await db.fetch("SELECT site, plan FROM sites")
        finally:
            await db.close()
        return {r["site"]: json.loads(r["plan"]) for r in found}

    def stop(self) -> None:
        try:
            self.cluster.stop()
        finally:
            self.db.stop()


PERIMETER = {
    "polyline": [[0, 0], [300, 0]],
    "zone": [{"name": "north", "start_m": 0, "end_m": 100}, {"name": "east", "start_m": 100, "end_m": 300}],
}
NODES = [{"id": n, "name": "n%d" % n, "chainage_m": 15.0 + 30 * (n - 1)} for n in (1, 2, 3, 4)]


@dataclass
class Site:
    """A site as `perimeter site init --region` writes it (its bridge, its region table), with
    a gateway on a pseudo-terminal and nodes that build real frames."""

    name: str
    folder: Path
    broker: Broker
    pty: Pty
    config: Path
    gateway: Gateway | None = None
    task: asyncio.Task[None] | None = None

    wan: WanLink | None = None
    nodes: dict[int, SimNode] = field(default_factory=dict)

    @classmethod
    async def over_wan(cls, folder: Path, name: str, region: Region) -> "Site":
        """A site whose bridge reaches the cluster through a WAN link of its own."""
        wan = WanLink([n.mqtts_port for n in region.cluster.nodes])
        await wan.start()
        site = cls.write(folder, name, region, ["127.0.0.1:%d" % p for p in wan.ports])
        site.wan = wan
        return site

    @classmethod
    def write(
        cls,
        folder: Path,
        name: str,
        region: Region,
        brokers: list[str] | None = None,
        polyline: list[list[float]] | None = None,
        journal: Path | None = None,
    ) -> "Site":
        certs = region.folder / "sites" / name
        link = RegionLink(
            tuple(brokers or ["127.0.0.1:%d" % n.mqtts_port for n in region.cluster.nodes]),
            region.folder / "ca" / "ca.pem", certs.with_suffix(".pem"), certs.with_suffix(".key"), SITES[name],
            keepalive_s=5,  # a spec's WAN cut is noticed in seconds
        )  # fmt: skip
        installed = folder / "etc"
        init_site(installed, name, SITE_ID, "alice", "a long test password", 1883, OffHostWitness(none=True),
                  Layout(installed, folder / "state", "perimeter", timezone="UTC"), link)  # fmt: skip
        written = json.loads(json.dumps(load(installed / "gateway.toml").region.__dict__))
        broker = Broker(folder, extra="include_dir %s\n" % (installed / "broker" / "conf.d"))
        pty = Pty(folder / "ttyFENCE")
        write_site_key(folder / "site.key", SITE_KEY)
        new_key(folder / "witness.key", folder / "witness.pub")
        doc = {
            "site": {"id": SITE_ID, "name": name, "key_file": "site.key"},
            "gateway": {"id": "gw1", "journal": str(journal or "journal.sqlite")},
            "supervision": {"missed_heartbeats": 3, "default_heartbeat_s": 30},
            "metrics": {"listen": ""},
            "mqtt": {"host": "127.0.0.1", "port": broker.port, "keepalive_s": 5},
            "transport": {"serial": [{"name": "fence", "port": str(pty.link), "baudrate": 115200}]},
            "node": NODES,
            "perimeter": dict(PERIMETER, polyline=polyline) if polyline else PERIMETER,
            "alarms": {"fence_window_s": 0.2},
            "witness": {"key_file": "witness.key", "every_s": 1.0, "off_host": False},
            "region": written,
        }
        config = folder / "gateway.toml"
        config.write_text(dump(doc))
        return cls(name, folder, broker, pty, config)

    async def start(self) -> None:
        self.broker.start()
        self.gateway = Gateway(load(self.config)).open()
        self.task = asyncio.create_task(self.gateway.run())
        deadline = time.time() + 10
        while not self.gateway.sink.listening and time.time() < deadline:
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        try:
            if self.gateway is not None and self.task is not None:
                self.gateway.stop()
                await asyncio.gather(self.task, return_exceptions=True)
        finally:
            self.broker.stop()
        self.pty.unplug()
        if self.wan is not None:
            await self.wan.stop()

    def send(self, node: SimNode, kind: str, fields: dict[str, int]) -> None:
        node.event_no += 1
        self.pty.write(node.frame(kind, dict(fields, event_no=node.event_no, age_ds=1), True))

    async def night(self, climbs: int = 2) -> None:
        """What a bad night brings: climbs, a drone heard by two nodes, a tamper."""
        if not self.nodes:  # the same boards all night: their counters go on
            self.nodes.update({n: SimNode(n) for n in (1, 2, 3, 4)})
            self.pty.write(b"".join(n.hello() for n in self.nodes.values()))
        nodes = self.nodes
        for i in range(climbs):
            climb = {"class": 1, "peak": 3000, "noise_floor": 30, "pulses": 12, "duration_ds": 25}
            self.send(nodes[1 + (i * 3) % 4], "FENCE", climb)
            await asyncio.sleep(0.4)
        drone = {"class": 1, "fundamental_hz": 180, "harmonics": 5, "snr_db": 20, "confidence": 200, "duration_ds": 5}
        for _ in range(8):
            self.send(nodes[2], "ACOUSTIC", drone)
            self.send(nodes[3], "ACOUSTIC", drone)
            await asyncio.sleep(0.5)
        self.send(nodes[4], "TAMPER", {"kind": 1, "state": 1})
        await asyncio.sleep(0.5)

    def revisions(self, after: int) -> int:
        """Incident messages the site published after journal row `after`."""
        assert self.gateway is not None
        kinds = ",".join("'%s'" % k for k in KINDS)
        rows = self.gateway.journal.select(
            "SELECT COUNT(*) FROM journal WHERE kind = 'alarm' AND seq > ? AND "
            "json_extract(data, '$.alarm.category') IN (%s)" % kinds,
            after,
        )
        return int(rows[0][0])

    def published(self) -> dict[str, int]:
        """Each incident the site published, with its newest revision, from its journal."""
        assert self.gateway is not None
        rows = self.gateway.journal.select(
            "SELECT json_extract(data, '$.alarm.alarm_id'), MAX(seq) FROM journal WHERE kind = 'alarm' AND "
            "json_extract(data, '$.alarm.category') IN ('intrusion','throw_over','drone','drone_drop','tamper',"
            "'jamming','security') GROUP BY 1"
        )
        return {"%s:%s" % (self.name, alarm_id): seq for alarm_id, seq in rows}


async def until_stored(region: Region, expected: dict[str, int], timeout_s: float) -> float:
    """Seconds until the store holds every expected incident at its newest revision."""
    start = time.time()
    while True:
        held = {r["id"]: r["revision"] for r in await region.rows()}
        if all(held.get(i) == rev for i, rev in expected.items()):
            return time.time() - start
        if time.time() - start > timeout_s:
            missing = {i: (rev, held.get(i)) for i, rev in expected.items() if held.get(i) != rev}
            raise AssertionError("after %.0f s the store lacks (published, held) %s" % (timeout_s, missing))
        await asyncio.sleep(0.25)


async def outage_drill(
    workdir: Path, cut_s: float, kill_node: bool = True, show: Any = print, region: Region | None = None
) -> dict[str, Any]:
    """Two sites through a bad night: their WAN links cut for `cut_s` while they keep raising
    incidents, and (with `kill_node`) the regional node every bridge and one consumer use killed
    during the cut. What was published, what the store holds, and how long it took to catch up.
    On `region` (its consumers running), or on a region of its own."""
    own = region is None
    region = region or Region.start(workdir / "region", list(SITES))
    sites: list[Site] = []
    try:
        if own:
            await region.consume(2)
        sites = [await Site.over_wan(workdir / name, name, region) for name in SITES]
        for site in sites:
            await site.start()
        await asyncio.gather(*(site.night(climbs=1) for site in sites))
        before = {k: v for site in sites for k, v in site.published().items()}
        await until_stored(region, before, 60)
        show("before the cut: %d incidents stored" % len(before))
        for site in sites:
            assert site.wan is not None
            await site.wan.cut()
        cut_at = time.time()
        killed = None
        if kill_node:
            killed = region.cluster.nodes[0]  # every bridge's first choice, and consumer 1's
            region.cluster.kill(killed)
            show("WAN cut at both sites; regional node %s killed" % killed.name)
        # The night goes on while the region cannot hear: new incidents, and more revisions.
        rounds = 0
        while time.time() - cut_at < cut_s:
            await asyncio.gather(*(site.night(climbs=2) for site in sites))
            rounds += 1
            await asyncio.sleep(min(20.0, max(0.0, cut_s - (time.time() - cut_at))))
        expected = {k: v for site in sites for k, v in site.published().items()}
        revisions = sum(site.revisions(after=max(v for k, v in before.items() if k.startswith(site.name + ":")))
                        for site in sites)  # fmt: skip
        for site in sites:
            assert site.wan is not None
            await site.wan.restore()
        restored_at = time.time()
        catch_up_s = await until_stored(region, expected, 180)
        rows = await region.rows()
        absorbed = sum(c.stats.unchanged for c in region.consumers)
        lags = sorted(lag for c in region.consumers for lag in c.stats.lags_s)
    finally:
        # Every part stopped even if one fails to (a broker stuck, a consumer gone): nothing left running.
        for site in sites:
            with contextlib.suppress(Exception):
                await site.stop()
        if own:
            with contextlib.suppress(Exception):
                await region.stop_consumers()
            region.stop()
    ids = [r["id"] for r in rows if r["id"] in expected]
    report = {
        "cut_s": round(restored_at - cut_at, 1),
        "node_killed": killed.name if killed else None,
        "incidents_published": len(expected),
        "changed_during_cut": sum(1 for k, v in expected.items() if before.get(k) != v),
        "messages_during_cut": revisions,
        "incidents_stored": len(ids),
        "lost": sorted(set(expected) - set(ids)),
        "duplicated": len(ids) - len(set(ids)),
        "catch_up_s": round(catch_up_s, 2),
        "night_rounds_during_cut": rounds,
        "redeliveries_absorbed": absorbed,
        "max_lag_s": round(lags[-1], 2) if lags else None,
    }
    return report


# A prison's bad night, short: a climb, a package thrown over, and a drone that drops one; the
# simulated office acknowledges and clears each alarm with its reason code.
NIGHT = """
[scenario]
name = "region-night"
duration_s = 110
seed = %(seed)d

[perimeter]
length_m = 300
polyline = [[0, 0], [100, 0], [100, 50], [0, 50], [0, 0]]
node_spacing_m = 30
link = "serial"
firmware_nodes = 4

[[plan.line]]
name = "houseblock A"
kind = "building"
points = [[16, 16], [40, 16], [40, 34], [16, 34]]

[weather]
wind_mps = [[0, 3]]
rain_mmph = [[0, 0]]

[[event]]
t = 15.0
kind = "climb"
position_m = 45.0

[[event]]
t = 35.0
kind = "throwover"
position_m = 135.0

[[event]]
t = 55.0
kind = "drone"
path = [[55, 190], [75, 225], [95, 290]]
drop_t = 75.0
"""


def site_scenario(name: str, seed: int) -> Scenario:
    return scenario_parse(NIGHT % {"seed": seed}, "%s night" % name)


def scenario_site(
    folder: Path, name: str, region: Region, night: Scenario, report: Path
) -> tuple[Site, dict[str, Any]]:
    """A site as `perimeter site init --region` writes it, for a scenario's gateway: its broker
    (with the bridge site init wrote) and the tables its gateway.toml gains (the site's name,
    its [region], its witness). The site's config names the journal the scenario keeps in
    `report`, so the site's supervisor can verify exports against it afterwards."""
    site = Site.write(
        folder, name, region, polyline=[list(p) for p in night.polyline], journal=report / "journal.sqlite"
    )
    site.pty.unplug()  # the scenario's nodes have a link of their own
    config = load(site.config)
    extra = {
        "site": {"name": name},
        "region": json.loads(json.dumps(config.region.__dict__)),
        "witness": {"key_file": str(folder / "witness.key"), "every_s": 5.0, "off_host": False},
    }
    return site, extra


def journalled_incidents(journal_file: Path, site: str) -> dict[str, int]:
    """Each incident a site's journal holds, with its newest revision (the row of its last change)."""
    from gateway.evidence.journal import Journal

    journal = Journal(journal_file)
    try:
        rows = journal.select(
            "SELECT json_extract(data, '$.alarm.alarm_id'), MAX(seq) FROM journal WHERE kind = 'alarm' AND "
            "json_extract(data, '$.alarm.category') IN (%s) GROUP BY 1" % ",".join("'%s'" % k for k in KINDS)
        )
    finally:
        journal.close()
    return {"%s:%s" % (site, alarm_id): seq for alarm_id, seq in rows}
