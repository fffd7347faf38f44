"""Runs a scenario against the real gateway: `perimeter sim run SCENARIO.toml`.

1. Places the nodes along the fence and chooses which run the real firmware. Those are the
   nodes nearest the scripted events, up to `firmware_nodes`: detections come only from
   them, because behavioural nodes stand in for load (HELLO and heartbeats) only.
2. Synthesizes each firmware node's sensor recordings from the scenario (`signals.py`):
   weather all along, and every event felt at the node's distance from it. No node ever
   reads the ground truth.
3. Writes a gateway config (site key, nodes with their chainage, 100 m zones, a `tcp`
   transport for the firmware bus and one for the behavioural nodes) and starts the real
   gateway, with a Mosquitto of its own unless `--mqtt` names a broker.
4. Runs the firmware nodes on MicroPython (`firmware_host.py`), paced at `--speed`, and the
   behavioural nodes in this process. Alarms are taken from `P/alarm/+` as the security
   office would see them, shown as they come, and scored (`scorer.py`) into report.json.

Serial links only for now; LoRa through the radio channel model is still to come.
"""

import asyncio
import heapq
import json
import logging
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
import numpy as np

from gateway import clock as gateway_clock
from gateway.config import load as load_config
from gateway.config_schema import dump as dump_config
from gateway.daemon import Gateway
from gateway.site_key import write_site_key
from protocol.errors import FrameRejected
from protocol.keys import NodeKey, derive_node_key
from protocol.messages import BY_NAME, UP
from protocol.packet import header_node_id, open_packet
from simulators.broker import Broker, free_port
from simulators.frame_node import SimNode
from simulators.medium import BAUD, LoraMedium, Medium, SerialMedium
from simulators.scenario import Scenario
from simulators.scorer import ObservedAlarm, score
from simulators.signals import AUDIO_RATE, FENCE_RATE, IMPACT_RATE, drone_audio, fence_vibration, package_impact
from simulators.timeline import LEGEND, render

ROOT = Path(__file__).resolve().parents[1]
SITE_ID = 4242
ZONE_M = 100.0
CHUNK_S = 10.0
DRONE_ALTITUDE_M = 30.0
GATEWAY_SETBACK_M = 40.0  # the concentrator's mast, this far inside the fence line's middle
RESPOND_S = 20.0  # the simulated operator acknowledges (and clears) an alarm this long after it
ANSWERED = ("intrusion", "throw_over", "drone", "drone_drop")
GRACE_S = 5.0  # after the scenario, for the last alarms to reach MQTT
PUMP_S = 0.005
# Heartbeats go unacknowledged. On a wire one is never lost; on LoRa about one in ten is
# (ALOHA at SF7 with 40 nodes), and three in a row lost would be a false comm-fail for some
# node every hour or so. Five in a row: about once a month for the site.
MISSED_HEARTBEATS = {"serial": 3, "lora": 5}
LAG_WARNING_S = 1.0
STARTUP_S = 30.0  # at most this long for the gateway's transports and MQTT to come up
EVENT_TYPES = {BY_NAME[name].type_id for name in ("FENCE", "ACOUSTIC", "IMPACT")}


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def firmware_nodes(scenario: Scenario) -> list[int]:
    """The node ids (1-based) that run the real firmware: nearest the events first."""
    positions = scenario.node_positions
    wanted: list[int] = [e.node for e in scenario.events if e.kind == "silence" and e.node is not None]
    places = []
    for e in scenario.events:
        if e.path:
            places += [p for _, p in e.path]
        elif e.position_m is not None:
            places.append(e.position_m)
    for rank in (0, 1):  # the nearest node to every event first, then the second nearest
        for place in places:
            nearest = sorted(range(len(positions)), key=lambda i: abs(positions[i] - place))
            if nearest[rank] + 1 not in wanted:
                wanted.append(nearest[rank] + 1)
    for i in range(len(positions)):  # the rest spread along the fence
        if len(wanted) >= scenario.firmware_nodes:
            break
        step = max(1, len(positions) // max(1, scenario.firmware_nodes))
        if i % step == 0 and i + 1 not in wanted:
            wanted.append(i + 1)
    return sorted(wanted[: scenario.firmware_nodes])


def levels_per_second(samples: np.ndarray, rate: int, centre: float = 0.0) -> np.ndarray:
    """RMS of each whole second of `samples` (rows of one or more channels)."""
    seconds = len(samples) // rate
    block = samples[: seconds * rate].astype(np.float64).reshape(seconds, rate, -1) - centre
    rms: np.ndarray = np.sqrt((block**2).sum(axis=2).mean(axis=1))
    return rms


def synthesize(
    scenario: Scenario, node_id: int, folder: Path, levels: list[np.ndarray] | None = None
) -> dict[str, str]:
    """Write the node's fence, audio and impact recordings; their paths. With `levels`, also
    append each second's RMS level of the three (rows of fence, audio, impact) for the plot."""
    where = scenario.node_positions[node_id - 1]
    seed = scenario.seed * 1000 + node_id
    files = {k: folder / ("node%d-%s.raw" % (node_id, k)) for k in ("fence", "audio", "impact")}
    with (
        open(files["fence"], "wb") as fence,
        open(files["audio"], "wb") as audio,
        open(files["impact"], "wb") as impact,
    ):
        t = 0.0
        while t < scenario.duration_s:
            span = min(CHUNK_S, scenario.duration_s - t)

            def near(kind: str, start: float = t, end: float = t + span) -> tuple[tuple[float, float], ...]:
                return tuple(
                    (e.t - start, abs((e.position_m or 0.0) - where))
                    for e in scenario.events
                    if e.kind == kind and start - 10 <= e.t < end
                )

            wind = scenario.wind_mps.at(t + span / 2)
            rain = scenario.rain_mmph.at(t + span / 2)
            xyz = fence_vibration(
                span, wind, rain, near("climb"), seed + int(t), cuts=near("cut"), knocks=near("knock")
            )
            fence.write(xyz.astype("<i2").tobytes())
            fence_level = levels_per_second(xyz, FENCE_RATE)
            # Ambient, plus every drone in the air during this chunk (two may overlap in time at
            # different places: each node hears each at its own distance).
            sound = drone_audio(span, 1e6, seed=seed + int(t)).astype(np.int32)
            for k, drone in enumerate(scenario.events):
                if drone.kind != "drone" or drone.path[0][0] > t + span or drone.path[-1][0] < t:
                    continue
                along = abs((drone.position_at(t + span / 2) or 0.0) - where)
                distance = float(np.hypot(along, DRONE_ALTITUDE_M))
                rotors = drone_audio(span, distance, ambient_db=-200.0, seed=seed + int(t) + k + 1)
                start = int(max(0.0, drone.path[0][0] - t) * AUDIO_RATE)
                stop = int(min(span, drone.path[-1][0] - t) * AUDIO_RATE)
                mask = np.zeros(len(sound), dtype=bool)
                mask[start:stop] = True
                sound += np.where(mask, rotors.astype(np.int32), 0)
            sound = np.clip(sound, -32768, 32767).astype(np.int16)
            audio.write(i2s_slots(sound))
            audio_level = levels_per_second(sound, AUDIO_RATE)
            thuds = []
            for e in scenario.events:
                if e.kind == "throwover" and t <= e.t < t + span:
                    thuds.append((e.t - t, abs((e.position_m or 0.0) - where), e.mass_kg))
                if e.kind == "drone" and e.drop_t is not None and t <= e.drop_t < t + span:
                    thuds.append((e.drop_t - t, abs((e.position_at(e.drop_t) or 0.0) - where), e.mass_kg))
            ground = package_impact(span, span + 1, seed=seed + int(t))  # no thud: noise only
            for at, distance, mass in thuds:
                thud = package_impact(span, at, mass, distance_m=distance, seed=seed + int(t)).astype(np.int64) - 32768
                ground = np.clip(ground.astype(np.int64) + thud, 0, 65535).astype(np.uint16)
            impact.write(ground.astype("<u2").tobytes())
            if levels is not None:
                impact_level = levels_per_second(ground, IMPACT_RATE, 32768.0)
                n = min(len(fence_level), len(audio_level), len(impact_level))
                levels.append(np.stack([fence_level[:n], audio_level[:n], impact_level[:n]], axis=1))
            t += span
    return {k: str(v) for k, v in files.items()}


def i2s_slots(sound: np.ndarray) -> bytes:
    """16-bit samples as the microphone's 32-bit I2S slots: the sample in the top half, the
    low byte of the 24-bit word dither (0x80), the padding byte zero; little-endian."""
    slots = np.empty((len(sound), 4), dtype=np.uint8)
    value = sound.astype("<i2").view(np.uint8).reshape(-1, 2)
    slots[:, 0] = 0
    slots[:, 1] = 0x80
    slots[:, 2:] = value
    return slots.tobytes()


def gateway_config(
    folder: Path,
    scenario: Scenario,
    site_key: bytes,
    mqtt: tuple[str, int],
    transport: dict[str, list[dict[str, Any]]],
    dashboard: tuple[str, Path] | None = None,
) -> Path:
    write_site_key(folder / "site.key", site_key)
    zones = [
        {"name": "Z%02d" % (i + 1), "start_m": i * ZONE_M, "end_m": (i + 1) * ZONE_M}
        for i in range(int(np.ceil(scenario.length_m / ZONE_M)))
    ]
    nodes = [
        {"id": i + 1, "name": "fence-%02d" % (i + 1), "chainage_m": float(p), "heartbeat_s": scenario.heartbeat_s}
        for i, p in enumerate(scenario.node_positions)
    ]
    doc: dict[str, Any] = {
        "site": {"id": SITE_ID, "name": "sim", "key_file": "site.key"},
        "gateway": {"id": "gw1", "journal": "journal.sqlite"},
        "supervision": {"missed_heartbeats": MISSED_HEARTBEATS[scenario.link]},
        "metrics": {"listen": ""},
        "mqtt": {"host": mqtt[0], "port": mqtt[1]},
        "transport": transport,
        "perimeter": {"polyline": [[0, 0], [float(scenario.length_m), 0]], "zone": zones},
        "node": nodes,
    }
    if dashboard is not None:
        doc["dashboard"] = {"listen": dashboard[0], "accounts_file": str(dashboard[1])}
    path = folder / "gateway.toml"
    path.write_text(dump_config(doc))
    return path


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


def micropython() -> str:
    found = shutil.which("micropython") or str(Path(sys.executable).with_name("micropython"))
    return found


class EvidenceClock:
    """When each firmware event's frame finished reaching the gateway's receiver, so an
    alarm's latency can also be told from the end of the airtime that carried it."""

    def __init__(self, site_key: bytes, nodes: list[int]) -> None:
        self.keys = {n: NodeKey.for_node(site_key, n) for n in nodes}
        self.ends: dict[tuple[int, int], float] = {}  # (node, event_no) -> end of airtime

    def heard(self, packet: bytes, end_s: float) -> None:
        node = header_node_id(packet)
        if node not in self.keys or (packet[0] >> 1) & 0x1F not in EVENT_TYPES:
            return
        try:
            opened = open_packet(self.keys[node], SITE_ID, packet, UP, None)
        except FrameRejected:
            return
        self.ends.setdefault((node, opened.fields["event_no"]), end_s)

    def ends_of(self, evidence: list[str]) -> tuple[float, ...]:
        """When the frames of an alarm's evidence (`site:node:boot:event_no`) finished arriving."""
        ends = []
        for event_id in evidence:
            parts = event_id.split(":")
            if len(parts) >= 4 and parts[1].isdigit() and parts[3].isdigit():
                end = self.ends.get((int(parts[1]), int(parts[3])))
                if end is not None:
                    ends.append(end)
        return tuple(sorted(ends))


async def run(
    scenario: Scenario,
    report_dir: Path,
    speed: float = 1.0,
    mqtt_url: str | None = None,
    show: Callable[[str], None] = print,
    respond_s: float = RESPOND_S,
    dashboard: tuple[str, Path] | None = None,
) -> dict[str, Any]:
    """Run a scenario; `dashboard` = (listen address, accounts file) serves the operators'
    dashboard from the scenario's gateway."""
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
            len(scenario.node_positions),
            scenario.link,
            len(chosen),
            ", ".join(map(str, chosen)) or "none",
        )
    )
    plan_nodes = []
    node_levels: dict[int, np.ndarray] = {}
    for node_id in chosen:
        per_second: list[np.ndarray] = []
        files = synthesize(scenario, node_id, work, per_second)
        node_levels[node_id] = np.concatenate(per_second) if per_second else np.zeros((0, 3))
        silent = next((e.t for e in scenario.events if e.kind == "silence" and e.node == node_id), None)
        plan_nodes.append(
            dict(files, node_id=node_id, key=derive_node_key(site_key, node_id).hex(), silent_at_s=silent)
        )
    host_port = free_port()
    plan = {
        "port": host_port,
        "speed": speed,
        "duration_s": scenario.duration_s,
        "site_id": SITE_ID,
        "seed": scenario.seed,
        "link": scenario.link,
        "sf": scenario.sf,
        "heartbeat_s": scenario.heartbeat_s,
        "nodes": plan_nodes,
    }
    (work / "plan.json").write_text(json.dumps(plan))
    broker = None
    if mqtt_url:
        broker_host, _, broker_port = mqtt_url.removeprefix("mqtt://").partition(":")
        mqtt = (broker_host, int(broker_port or 1883))
    else:
        (work / "broker").mkdir()
        broker = Broker(work / "broker")
        broker.start()
        mqtt = ("127.0.0.1", broker.port)
    medium: Medium
    if scenario.link == "serial":
        medium = SerialMedium(work / "rs485")
        transport = {"serial": [{"name": "rs485", "port": str(work / "rs485"), "baudrate": BAUD}]}
    else:
        udp_port = free_udp_port()
        jams = [(e.t, e.t + e.duration_s) for e in scenario.events if e.kind == "jam"]
        positions = {i + 1: (p, 0.0) for i, p in enumerate(scenario.node_positions)}
        medium = LoraMedium(
            positions,
            (scenario.length_m / 2, -GATEWAY_SETBACK_M),
            ("127.0.0.1", udp_port),
            scenario.sf,
            jams,
            chosen,
            seed=scenario.seed,
        )
        transport = {"semtech_udp": [{"name": "concentrator", "host": "127.0.0.1", "port": udp_port}]}
    evidence = EvidenceClock(site_key, chosen)
    medium.on_heard = evidence.heard
    config = gateway_config(work, scenario, site_key, mqtt, transport, dashboard)
    # The gateway starts first, on a clock that stands still until the scenario begins.
    sim_clock = gateway_clock.ScaledClock(speed)
    gateway_clock.install(sim_clock)
    gateway = Gateway(load_config(config)).open()
    gw_task = asyncio.create_task(gateway.run())
    ready_by = time.time() + STARTUP_S
    while time.time() < ready_by and not (
        gateway.sink.listening and all(t.state == "up" for t in gateway.transports.values())
    ):
        await asyncio.sleep(0.05)
    host = None
    host_reader: asyncio.StreamReader | None = None
    if chosen:
        host_script = str(ROOT / "simulators" / "firmware_host.py")
        host = subprocess.Popen(
            [micropython(), "-X", "heapsize=2M", host_script, str(work / "plan.json")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert host.stdout is not None
        await asyncio.to_thread(host.stdout.readline)  # "listening"
        host_reader, host_writer = await asyncio.open_connection("127.0.0.1", host_port)
        medium.attach_host(host_writer)
        await asyncio.to_thread(host.stdout.readline)  # "running": its nodes are built
    t0 = time.time()  # scenario time 0, for the host as for everything here
    sim_clock.start()
    origin = sim_clock.origin

    def now() -> float:
        return (time.time() - t0) * speed

    behavioural = [
        SimNode(i, site_key=site_key, site_id=SITE_ID)
        for i in range(1, len(scenario.node_positions) + 1)
        if i not in chosen
    ]
    fleet = BehaviouralFleet(behavioural, scenario)
    seen: dict[str, ObservedAlarm] = {}
    prefix = "perimeter/sim/gw1"
    answered: list[tuple[float, str, str]] = []  # (when, alarm id, category) for the operator

    async def watch() -> None:
        async with aiomqtt.Client(mqtt[0], mqtt[1], identifier="sim-scorer-%d" % os.getpid()) as client:
            await client.subscribe(prefix + "/alarm/+", qos=1)
            operator = asyncio.create_task(respond(client))
            try:
                async for message in client.messages:
                    if message.payload:
                        observe(json.loads(message.payload))
            finally:
                operator.cancel()

    def observe(alarm: dict[str, Any]) -> None:
        if alarm["alarm_id"] in seen or alarm.get("raised_at", origin) < origin - 1:
            return  # seen already, or retained on a shared broker from an earlier run
        at = now()
        seen[alarm["alarm_id"]] = ObservedAlarm(
            alarm["alarm_id"],
            alarm["category"],
            at,
            alarm.get("location_m"),
            alarm.get("zone"),
            evidence.ends_of(alarm.get("evidence", [])),
        )
        if alarm["category"] in ANSWERED:
            answered.append((at + respond_s, alarm["alarm_id"], alarm["category"]))
        show(
            "%7.1f s  ALARM %-11s zone %-4s at %s m  %s"
            % (
                at,
                alarm["category"],
                alarm.get("zone"),
                alarm.get("location_m"),
                alarm.get("detail", {}).get("kind", ""),
            )
        )

    async def respond(client: aiomqtt.Client) -> None:
        """The security office answers: acknowledges each alarm after a while and clears the
        ones that are over, so a later attack at the same place raises a new alarm."""
        while True:
            await asyncio.sleep(0.05)
            due = [a for a in answered if a[0] <= now()]
            for item in due:
                answered.remove(item)
                _, alarm_id, category = item
                note = {"operator": "sim-operator", "alarm_id": alarm_id, "note": "simulated response"}
                await client.publish(
                    prefix + "/bridge/request/ack", json.dumps(dict(note, transaction="a" + alarm_id)), qos=1
                )
                if category != "drone":  # a drone alarm stays open while its track lives
                    await client.publish(
                        prefix + "/bridge/request/clear", json.dumps(dict(note, transaction="c" + alarm_id)), qos=1
                    )

    async def from_host() -> None:
        assert host_reader is not None
        while data := await host_reader.read(4096):
            medium.from_host(data, now())

    tasks = [asyncio.create_task(watch())]
    if host_reader is not None:
        tasks.append(asyncio.create_task(from_host()))
    last_bar = 0.0
    end_s = scenario.duration_s + GRACE_S
    last_step, max_step = 0.0, 0.0
    while now() < end_s or (host is not None and host.poll() is None):
        t = now()
        max_step, last_step = max(max_step, t - last_step), t
        for at, packet in fleet.due(min(t, scenario.duration_s)):
            medium.uplink(packet, at)
        medium.pump(t)
        if time.time() - last_bar > 0.5:
            progress(t, scenario.duration_s, len(seen))
            last_bar = time.time()
        await asyncio.sleep(PUMP_S)
    progress(scenario.duration_s, scenario.duration_s, len(seen), done=True)
    for task in tasks:
        task.cancel()
    gateway.stop()
    results = await asyncio.gather(gw_task, *tasks, return_exceptions=True)
    gateway_clock.install(gateway_clock.Clock())
    for result in results:
        if isinstance(result, Exception) and not isinstance(result, asyncio.CancelledError):
            show("simulation part failed: %r" % result)
    medium.close()
    if broker is not None:
        broker.stop()
    host_report: dict[str, Any] = {"events_reported": 0, "held_back": 0}
    if host is not None:
        out, err = host.communicate()
        if host.returncode != 0:
            raise RuntimeError("the firmware host failed: %s" % (err.strip().splitlines() or ["?"])[-1])
        host_report = json.loads(out.strip().splitlines()[-1])
    report = score(scenario, list(seen.values()), ZONE_M, monitored_zones=zones_watched(scenario, chosen))
    report["nodes"] = {
        "firmware": chosen,
        "behavioural": [n.node_id for n in behavioural],
        "firmware_code": "device/ on MicroPython (unix port)",
        "behavioural_code": "HELLO and heartbeats only (simulators.frame_node)",
    }
    report["speed"] = speed
    report["runner"] = {"max_step_s": round(max_step, 3)}  # the medium's coarsest time step
    report["firmware_events_reported"] = host_report["events_reported"]
    if host is not None:
        report["firmware_host"] = {
            "wall_s": host_report["wall_s"],
            "speed_up": round(scenario.duration_s / max(host_report["wall_s"], 1e-3), 1),
            "max_lag_s": host_report["max_lag_s"],
        }
        if host_report["max_lag_s"] > LAG_WARNING_S:
            show(
                "warning: the firmware host fell %.1f s behind the simulated clock; its timings are"
                " late by as much. Lower --speed." % host_report["max_lag_s"]
            )
    report["frames"] = {
        "link": scenario.link,
        "firmware": medium.traffic.summary(chosen, scenario.duration_s),
        "behavioural": medium.traffic.summary([n.node_id for n in behavioural], scenario.duration_s),
        "downlinks": medium.downlinks,
        "held_back_by_duty_cycle": host_report.get("held_back", 0),
        "gateway": {name: dict(counters) for name, counters in gateway.pipeline.counters.items()},
    }
    if isinstance(medium, LoraMedium):
        stats = medium.channel.stats
        report["frames"]["radio"] = {
            "sf": scenario.sf,
            "below_floor": stats.below_floor,
            "collided": stats.collided,
            "crc_errors_reported": medium.crc_errors,
        }
    report["timeline_png"] = str(render(scenario, list(seen.values()), report_dir / "timeline.png", node_levels))
    report["timeline_legend"] = LEGEND
    (report_dir / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    shutil.rmtree(work, ignore_errors=True)
    return report


def zones_watched(scenario: Scenario, firmware: list[int]) -> int:
    """How many zones have a firmware node in them: only those can raise a nuisance alarm."""
    return len({int(scenario.node_positions[n - 1] // ZONE_M) for n in firmware})
