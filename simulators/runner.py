"""Runs a scenario against the real gateway: `perimeter sim run SCENARIO.toml`.

1. Places the nodes along the fence and chooses which run the real firmware. Those are the
   nodes nearest the scripted events, up to `firmware_nodes`: detections come only from
   them, because behavioural nodes stand in for load (HELLO and heartbeats) only.
2. Synthesizes each firmware node's sensor recordings from the scenario (`recordings.py`):
   weather all along, and every event felt at the node's distance from it. No node ever
   reads the ground truth.
3. Writes a gateway config (site key, nodes with their chainage, 100 m zones, a `tcp`
   transport for the firmware bus and one for the behavioural nodes) and starts the real
   gateway, with a Mosquitto of its own unless `--mqtt` names a broker.
4. Runs the firmware nodes on MicroPython (`firmware_process.py`), paced at `--speed`, and
   the behavioural nodes in this process. Alarms are taken from `P/alarm/+` as the security
   office would see them (`alarm_watcher.py`), and scored into report.json (`run_report.py`).

Serial links only for now; LoRa through the radio channel model is still to come.
"""

import asyncio
import heapq
import json
import logging
import os
import random
import secrets
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gateway.clock import ScaledClock
from gateway.config import load as load_config
from gateway.config_dump import dump as dump_config
from gateway.daemon import Gateway
from gateway.evidence.journal import Journal
from gateway.identity.accounts import add_account
from gateway.identity.site_key import write_site_key
from protocol.keys import derive_node_key
from simulators.alarm_watcher import OPERATOR, SUPERVISOR, AlarmWatcher, EvidenceClock
from simulators.broker import Broker, free_port
from simulators.firmware_process import FirmwareHosts, FirmwareProcess, host_count
from simulators.frame_node import SimNode
from simulators.medium import BAUD, LoraMedium, Medium, SerialMedium, heartbeat_signature
from simulators.recordings import firmware_nodes, synthesize
from simulators.run_report import ZONE_M, write_report
from simulators.scenario import Scenario

SITE_ID = 4242
GATEWAY_SETBACK_M = 40.0  # the concentrator's mast, this far inside the fence line's middle
RESPOND_S = 20.0  # the simulated operator acknowledges (and clears) an alarm this long after it
GRACE_S = 5.0  # after the scenario, for the last alarms to reach MQTT
PUMP_S = 0.005
# Heartbeats go unacknowledged. On a wire one is never lost; on LoRa about one in ten is
# (ALOHA at SF7 with 40 nodes), and three in a row lost would be a false comm-fail for some
# node every hour or so. Five in a row: about once a month for the site.
MISSED_HEARTBEATS = {"serial": 3, "lora": 5}
STARTUP_S = 30.0  # at most this long for the gateway's transports and MQTT to come up


def gateway_config(
    folder: Path,
    scenario: Scenario,
    site_key: bytes,
    mqtt: tuple[str, int],
    transport: dict[str, list[dict[str, Any]]],
    dashboard: tuple[str, Path] | None = None,
    key_change: bool = False,
    extra: dict[str, dict[str, Any]] | None = None,
) -> Path:
    write_site_key(folder / "site.key", site_key)
    site: dict[str, Any] = {"id": SITE_ID, "name": "sim", "key_file": "site.key", "timezone": scenario.timezone}
    if key_change:  # a key change under way: every node agrees its next key with the gateway
        site.update(key_epoch=0, key_change=True)
    zones = [
        {"name": "Z%02d" % (i + 1), "start_m": i * ZONE_M, "end_m": (i + 1) * ZONE_M}
        for i in range(int(np.ceil(scenario.length_m / ZONE_M)))
    ]
    nodes = [
        {"id": i + 1, "name": "fence-%02d" % (i + 1), "chainage_m": float(p), "heartbeat_s": scenario.heartbeat_s}
        for i, p in enumerate(scenario.node_positions)
    ]
    for k, g in enumerate(scenario.ground_nodes, start=len(nodes) + 1):
        nodes.append(
            {
                "id": k,
                "name": "ground-%02d" % (k - len(scenario.node_positions)),
                "chainage_m": g.chainage_m,
                "side": "inside",
                "inside_m": g.inside_m,
                "heartbeat_s": scenario.heartbeat_s,
            }
        )
    doc: dict[str, Any] = {
        "site": site,
        "gateway": {"id": "gw1", "journal": "journal.sqlite"},
        "supervision": {"missed_heartbeats": MISSED_HEARTBEATS[scenario.link]},
        "metrics": {"listen": ""},
        "mqtt": {"host": mqtt[0], "port": mqtt[1]},
        "transport": transport,
        "perimeter": {"polyline": _polyline(scenario), "zone": zones},
        "node": nodes,
    }
    if scenario.plan:
        doc["plan"] = scenario.plan
    # The simulated office's accounts (alarm_watcher.py), beside the demo's login if any.
    accounts = dashboard[1] if dashboard is not None else folder / "operators.txt"
    for name, role in ((OPERATOR, "operator"), (SUPERVISOR, "supervisor")):
        add_account(accounts, name, role, secrets.token_urlsafe(12), n=2**10)  # nobody logs in as these
    doc["dashboard"] = {"listen": dashboard[0] if dashboard else "", "accounts_file": str(accounts)}
    path = folder / "gateway.toml"
    for table, values in (extra or {}).items():  # the caller's tables: a site's name, its region
        doc[table] = dict(doc.get(table) or {}, **values)
    path.write_text(dump_config(doc))
    return path


def _polyline(scenario: Scenario) -> list[list[float]]:
    """The fence line's shape for the gateway's plan: the scenario's, or a straight line."""
    if scenario.polyline:
        return [[x, y] for x, y in scenario.polyline]
    return [[0.0, 0.0], [float(scenario.length_m), 0.0]]


class BehaviouralFleet:
    """Nodes that stand in for load and radio traffic only: a HELLO at a random moment of
    their first heartbeat interval, then a heartbeat every interval (up to a tenth longer, at
    random, as the firmware does: nodes beating in step would collide every time), until a
    scripted silence."""

    def __init__(self, nodes: list[SimNode], scenario: Scenario) -> None:
        self.nodes = {n.node_id: n for n in nodes}
        self.heartbeat_s = scenario.heartbeat_s
        self.silent = {e.node: e.t for e in scenario.events if e.kind == "silence" and e.node is not None}
        self.rng = rng = random.Random(scenario.seed)
        self._due = [(rng.uniform(0, scenario.heartbeat_s), n.node_id, True) for n in nodes]
        heapq.heapify(self._due)

    def due(self, now: float) -> list[tuple[float, bytes]]:
        """The frames due by `now`, each with the moment it was due."""
        out = []
        while self._due and self._due[0][0] <= now:
            at, node_id, first = heapq.heappop(self._due)
            if at >= self.silent.get(node_id, 1e18):
                continue  # its cable cut: it is never heard again
            node = self.nodes[node_id]
            out.append((at, node.hello_packet(heartbeat_s=self.heartbeat_s) if first else node.heartbeat_packet()))
            heapq.heappush(self._due, (at + self.heartbeat_s * (1 + self.rng.uniform(0, 0.1)), node_id, False))
        return out


def progress(now_s: float, total_s: float, alarms: int, done: bool = False) -> None:
    """A one-line progress bar on stderr (only on a terminal: logs stay clean)."""
    if not sys.stderr.isatty():
        return
    filled = int(30 * min(now_s / total_s, 1.0))
    sys.stderr.write(
        "\r[%s%s] %5.0f / %.0f s simulated, %d alarms"
        % ("#" * filled, "." * (30 - filled), min(now_s, total_s), total_s, alarms)
    )
    if done:
        sys.stderr.write("\n")
    sys.stderr.flush()


async def run(
    scenario: Scenario,
    report_dir: Path,
    speed: float = 1.0,
    mqtt_url: str | None = None,
    show: Callable[[str], None] = print,
    respond_s: float = RESPOND_S,
    dashboard: tuple[str, Path] | None = None,
    extra_config: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run a scenario; `dashboard` = (listen address, accounts file) serves the operators'
    dashboard from the scenario's gateway; `extra_config` adds to the gateway's config tables
    (e.g. a site's name and its `[region]`)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="perimeter-sim-"))
    # The gateway's own log would drown the alarms shown here; its journal has everything.
    logging.getLogger("perimeter").setLevel(logging.ERROR)
    site_key = os.urandom(32)
    chosen = firmware_nodes(scenario)
    show(
        "scenario %s: %d nodes on %s, %d running the real firmware (%s)"
        % (
            scenario.name,
            scenario.node_count,
            scenario.link,
            len(chosen),
            ", ".join(map(str, chosen)) or "none",
        )
    )
    node_levels: dict[int, np.ndarray] = {}
    plans = write_plans(scenario, chosen, work, site_key, speed, node_levels)
    broker = None
    if mqtt_url:
        broker_host, _, broker_port = mqtt_url.removeprefix("mqtt://").partition(":")
        mqtt = (broker_host, int(broker_port or 1883))
    else:
        (work / "broker").mkdir()
        broker = Broker(work / "broker")
        broker.start()
        mqtt = ("127.0.0.1", broker.port)
    medium, transport = link_for(scenario, work, chosen)
    evidence = EvidenceClock([site_key], SITE_ID, chosen, work / "node-keys.json")
    medium.on_heard = evidence.heard
    config = gateway_config(work, scenario, site_key, mqtt, transport, dashboard, scenario.rotate_key, extra_config)
    # The gateway starts first, on a clock that stands still until the scenario begins.
    sim_clock = ScaledClock(speed)
    gateway = Gateway(load_config(config), sim_clock).open()
    gw_task = asyncio.create_task(gateway.run())
    ready_by = time.time() + STARTUP_S
    while time.time() < ready_by and not (
        gateway.sink.listening and all(t.state == "up" for t in gateway.transports.values())
    ):
        await asyncio.sleep(0.05)
    host = FirmwareHosts([FirmwareProcess(path, port, medium) for path, port in plans]) if chosen else None
    if host is not None:
        await host.start()
    t0 = time.time()  # scenario time 0, for the hosts as for everything here
    sim_clock.start()

    def now() -> float:
        return (time.time() - t0) * speed

    behavioural = [
        SimNode(i, site_key=site_key, site_id=SITE_ID) for i in range(1, scenario.node_count + 1) if i not in chosen
    ]
    fleet = BehaviouralFleet(behavioural, scenario)
    watcher = AlarmWatcher(mqtt, gateway.prefix, sim_clock.origin, now, evidence, respond_s, show)
    tasks = [asyncio.create_task(watcher.run())]
    if host is not None:
        tasks.append(asyncio.create_task(host.relay(now)))
    last_bar = 0.0
    end_s = scenario.duration_s + GRACE_S
    last_step, max_step = 0.0, 0.0
    while now() < end_s or (host is not None and host.running()):
        t = now()
        max_step, last_step = max(max_step, t - last_step), t
        for at, packet in fleet.due(min(t, scenario.duration_s)):
            medium.uplink(packet, at)
        medium.pump(t)
        if time.time() - last_bar > 0.5:
            progress(t, scenario.duration_s, len(watcher.seen))
            last_bar = time.time()
        await asyncio.sleep(PUMP_S)
    progress(scenario.duration_s, scenario.duration_s, len(watcher.seen), done=True)
    for task in tasks:
        task.cancel()
    gateway.stop()
    results = await asyncio.gather(gw_task, *tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception) and not isinstance(result, asyncio.CancelledError):
            show("simulation part failed: %r" % result)
    medium.close()
    if broker is not None:
        broker.stop()
    report = write_report(
        scenario,
        report_dir,
        list(watcher.seen.values()),
        chosen,
        [n.node_id for n in behavioural],
        medium,
        {name: dict(counters) for name, counters in gateway.pipeline.counters.items()},
        host.finish(show) if host is not None else None,
        node_levels,
        {"speed": speed, "runner": {"max_step_s": round(max_step, 3)}},  # the medium's coarsest time step
    )
    if scenario.rotate_key:
        report["key_rotation"] = rotation_report(gateway, chosen, report.get("firmware_host_per_node", {}))
        (report_dir / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    # The journal has everything the gateway heard and decided: kept beside the report (the
    # rest of the gateway's folder, keys and broker files, goes).
    for name in ("journal.sqlite", "journal.sqlite-wal"):
        if (work / name).exists():
            shutil.copy(work / name, report_dir / name)
    shutil.rmtree(work, ignore_errors=True)
    return report


def rotation_report(gateway: Gateway, firmware: list[int], per_node: dict[str, Any]) -> dict[str, Any]:
    """A key rotation's outcome: which firmware nodes the gateway heard on the new key, and
    each one's events as the node counted them against those the journal holds."""
    journalled: dict[int, set[str]] = {}
    for row in Journal(gateway.config.journal).entries():  # the gateway closed its own at stop
        if row.kind == "event" and row.node_id in firmware:
            journalled.setdefault(row.node_id, set()).add(row.data["event_id"])
    nodes = {}
    for node_id in firmware:
        node = per_node.get(str(node_id), {})
        nodes[str(node_id)] = {
            "moved": node_id in gateway.pipeline.keyring.on_next,
            "node_key_epoch": node.get("key_epoch"),
            "events_reported": node.get("reports"),
            "events_journalled": len(journalled.get(node_id, ())),
            "unacked_at_end": node.get("unacked"),
        }
    return {
        "moved": sorted(n for n in firmware if n in gateway.pipeline.keyring.on_next),
        "of": firmware,
        "events_lost": sum(
            max(0, (n["events_reported"] or 0) - n["events_journalled"] - (n["unacked_at_end"] or 0))
            for n in nodes.values()
        ),
        "nodes": nodes,
    }


def write_plans(
    scenario: Scenario,
    chosen: list[int],
    work: Path,
    site_key: bytes,
    speed: float,
    node_levels: dict[int, np.ndarray],
) -> list[tuple[Path, int]]:
    """Each firmware node's recordings and keys, shared out over one firmware host per core
    (every n-th node to the same host: the busy nodes near an attack stand together); the
    plans and the port each host listens on. Fills `node_levels` with each second's level
    of the three channels, for the timeline plot."""
    plan_nodes = []
    for node_id in chosen:
        per_second: list[np.ndarray] = []
        files = synthesize(scenario, node_id, work, per_second)
        node_levels[node_id] = np.concatenate(per_second) if per_second else np.zeros((0, 3))
        silent = next((e.t for e in scenario.events if e.kind == "silence" and e.node == node_id), None)
        role = "ground" if scenario.is_ground(node_id) else "node"
        plan_nodes.append(
            dict(files, node_id=node_id, key=derive_node_key(site_key, node_id).hex(), silent_at_s=silent, role=role)
        )
    hosts = host_count(len(plan_nodes))
    plans = []
    for k in range(hosts):
        port = free_port()
        path = work / ("plan%d.json" % k)
        path.write_text(json.dumps(_plan(scenario, speed, port, plan_nodes[k::hosts])))
        plans.append((path, port))
    return plans


def _plan(scenario: Scenario, speed: float, port: int, plan_nodes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "port": port,
        "speed": speed,
        "duration_s": scenario.duration_s,
        "site_id": SITE_ID,
        "seed": scenario.seed,
        "link": scenario.link,
        "sf": scenario.sf,
        "heartbeat_s": scenario.heartbeat_s,
        "uplinks": scenario.uplinks,
        "nodes": plan_nodes,
    }


def link_for(scenario: Scenario, work: Path, chosen: list[int]) -> tuple[Medium, dict[str, list[dict[str, Any]]]]:
    """The scenario's link (an RS-485 bus, or LoRa through the radio channel model) and the
    gateway transport that listens to it."""
    if scenario.link == "serial":
        return SerialMedium(work / "rs485"), {
            "serial": [{"name": "rs485", "port": str(work / "rs485"), "baudrate": BAUD}]
        }
    udp_port = free_udp_port()
    jams = [(e.t, e.t + e.duration_s) for e in scenario.events if e.kind == "jam"]
    selective = [(e.t, e.t + e.duration_s, e.node) for e in scenario.events if e.kind == "selective_jam" and e.node]
    # Inside the fence is towards the mast (y < 0).
    positions = {n: (scenario.place(n)[0], -scenario.place(n)[1]) for n in range(1, scenario.node_count + 1)}
    medium = LoraMedium(
        positions,
        (scenario.length_m / 2, -GATEWAY_SETBACK_M),
        ("127.0.0.1", udp_port),
        scenario.sf,
        jams,
        chosen,
        seed=scenario.seed,
        selective=selective,
        heartbeat_looks=heartbeat_signature(scenario.uplinks),
    )
    return medium, {"semtech_udp": [{"name": "concentrator", "host": "127.0.0.1", "port": udp_port}]}


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
