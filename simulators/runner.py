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
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
import numpy as np

from gateway.config import load as load_config
from gateway.daemon import Gateway
from protocol.keys import derive_node_key
from simulators.broker import Broker, free_port
from simulators.frame_node import SimNode
from simulators.scenario import Scenario
from simulators.scorer import ObservedAlarm, score
from simulators.signals import AUDIO_RATE, drone_audio, fence_vibration, package_impact
from simulators.timeline import render

ROOT = Path(__file__).resolve().parents[1]
SITE_ID = 4242
ZONE_M = 100.0
CHUNK_S = 10.0
DRONE_ALTITUDE_M = 30.0


def firmware_nodes(scenario: Scenario) -> list[int]:
    """The node ids (1-based) that run the real firmware: nearest the events first."""
    positions = scenario.node_positions
    wanted: list[int] = []
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


def synthesize(scenario: Scenario, node_id: int, folder: Path) -> dict[str, str]:
    """Write the node's fence, audio and impact recordings; their paths."""
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
            sound = np.zeros(int(span * AUDIO_RATE), dtype=np.int16)
            drone = next(
                (e for e in scenario.events if e.kind == "drone" and e.path[0][0] <= t + span and e.path[-1][0] >= t),
                None,
            )
            if drone is not None:
                along = abs((drone.position_at(t + span / 2) or 0.0) - where)
                distance = float(np.hypot(along, DRONE_ALTITUDE_M))
                sound = drone_audio(span, distance, seed=seed + int(t))
                active_from = max(0.0, drone.path[0][0] - t)
                active_to = min(span, drone.path[-1][0] - t)
                quiet = drone_audio(span, 1e6, seed=seed + int(t) + 1)
                mask = np.zeros(len(sound), dtype=bool)
                mask[int(active_from * AUDIO_RATE) : int(active_to * AUDIO_RATE)] = True
                sound = np.where(mask, sound, quiet)
            else:
                sound = drone_audio(span, 1e6, seed=seed + int(t))  # ambient only: the drone is far away
            audio.write(sound.astype("<i2").tobytes())
            thuds = []
            for e in scenario.events:
                if e.kind == "throwover" and t <= e.t < t + span:
                    thuds.append((e.t - t, abs((e.position_m or 0.0) - where)))
                if e.kind == "drone" and e.drop_t is not None and t <= e.drop_t < t + span:
                    thuds.append((e.drop_t - t, abs((e.position_at(e.drop_t) or 0.0) - where)))
            ground = package_impact(span, span + 1, seed=seed + int(t))  # no thud: noise only
            for at, distance in thuds:
                thud = package_impact(span, at, distance_m=distance, seed=seed + int(t)).astype(np.int64) - 32768
                ground = np.clip(ground.astype(np.int64) + thud, 0, 65535).astype(np.uint16)
            impact.write(ground.astype("<u2").tobytes())
            t += span
    return {k: str(v) for k, v in files.items()}


def gateway_config(
    folder: Path, scenario: Scenario, site_key: bytes, mqtt: tuple[str, int], ports: tuple[int, int]
) -> Path:
    key = folder / "site.key"
    key.write_text(site_key.hex())
    key.chmod(0o600)
    zones = "".join(
        '[[perimeter.zone]]\nname = "Z%02d"\nstart_m = %.1f\nend_m = %.1f\n' % (i + 1, i * ZONE_M, (i + 1) * ZONE_M)
        for i in range(int(np.ceil(scenario.length_m / ZONE_M)))
    )
    nodes = "".join(
        '[[node]]\nid = %d\nname = "fence-%02d"\nchainage_m = %.1f\nheartbeat_s = 30\n' % (i + 1, i + 1, p)
        for i, p in enumerate(scenario.node_positions)
    )
    text = (
        '[site]\nid = %d\nname = "sim"\nkey_file = "site.key"\n\n[gateway]\nid = "gw1"\njournal = "journal.sqlite"\n\n'
        '[metrics]\nlisten = ""\n\n[mqtt]\nhost = "%s"\nport = %d\n\n'
        '[[transport.tcp]]\nname = "firmware"\nhost = "127.0.0.1"\nport = %d\n\n'
        '[[transport.tcp]]\nname = "behavioural"\nhost = "127.0.0.1"\nport = %d\n\n'
        "[perimeter]\npolyline = [[0, 0], [%.1f, 0]]\n%s\n%s"
        % (SITE_ID, mqtt[0], mqtt[1], ports[0], ports[1], scenario.length_m, zones, nodes)
    )
    path = folder / "gateway.toml"
    path.write_text(text)
    return path


async def behavioural_bus(port: int, nodes: list[SimNode], scenario: Scenario, speed: float, t0: float) -> None:
    """Behavioural nodes on their own line: HELLO, then a heartbeat every 30 s (paced)."""
    silent = {e.node: e.t for e in scenario.events if e.kind == "silence" and e.node is not None}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await beats(writer)
        except (asyncio.CancelledError, ConnectionError):
            writer.close()

    async def beats(writer: asyncio.StreamWriter) -> None:
        for node in nodes:
            writer.write(node.hello(heartbeat_s=30))
        next_beat = 30.0
        while True:
            now = (time.time() - t0) * speed
            if now >= next_beat:
                for node in nodes:
                    if silent.get(node.node_id, 1e18) > now:
                        writer.write(node.heartbeat())
                next_beat += 30.0
            await writer.drain()
            await asyncio.sleep(0.2)

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    async with server:
        await asyncio.Event().wait()


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


async def run(
    scenario: Scenario,
    report_dir: Path,
    speed: float = 1.0,
    mqtt_url: str | None = None,
    show: Callable[[str], None] = print,
) -> dict[str, Any]:
    report_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="perimeter-sim-"))
    # The gateway's own log would drown the alarms shown here; its journal has everything.
    logging.getLogger("perimeter").setLevel(logging.ERROR)
    site_key = os.urandom(32)
    chosen = firmware_nodes(scenario)
    show(
        "scenario %s: %d nodes, %d running the real firmware (%s)"
        % (scenario.name, len(scenario.node_positions), len(chosen), ", ".join(map(str, chosen)))
    )
    plan_nodes = []
    for node_id in chosen:
        files = synthesize(scenario, node_id, work)
        silent = next((e.t for e in scenario.events if e.kind == "silence" and e.node == node_id), None)
        plan_nodes.append(
            dict(files, node_id=node_id, key=derive_node_key(site_key, node_id).hex(), silent_at_s=silent)
        )
    firmware_port, behavioural_port = free_port(), free_port()
    plan = {
        "port": firmware_port,
        "speed": speed,
        "duration_s": scenario.duration_s,
        "site_id": SITE_ID,
        "seed": scenario.seed,
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
    config = gateway_config(work, scenario, site_key, mqtt, (firmware_port, behavioural_port))
    host = subprocess.Popen(
        [micropython(), "-X", "heapsize=2M", str(ROOT / "simulators" / "firmware_host.py"), str(work / "plan.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert host.stdout is not None
    host.stdout.readline()  # "listening": the gateway may connect now
    t0 = time.time()
    gateway = Gateway(load_config(config))
    gw_task = asyncio.create_task(gateway.run())
    behavioural = [
        SimNode(i, site_key=site_key, site_id=SITE_ID)
        for i in range(1, len(scenario.node_positions) + 1)
        if i not in chosen
    ]
    bus_task = asyncio.create_task(behavioural_bus(behavioural_port, behavioural, scenario, speed, t0))
    seen: dict[str, ObservedAlarm] = {}
    prefix = "perimeter/sim/gw1/alarm/+"

    async def watch() -> None:
        async with aiomqtt.Client(mqtt[0], mqtt[1], identifier="sim-scorer-%d" % os.getpid()) as client:
            await client.subscribe(prefix, qos=1)
            async for message in client.messages:
                if not message.payload:
                    continue
                alarm = json.loads(message.payload)
                if alarm["alarm_id"] in seen or alarm.get("raised_at", t0) < t0 - 1:
                    continue  # seen already, or retained on a shared broker from an earlier run
                at = (time.time() - t0) * speed
                seen[alarm["alarm_id"]] = ObservedAlarm(
                    alarm["alarm_id"], alarm["category"], at, alarm.get("location_m"), alarm.get("zone")
                )
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

    watcher = asyncio.create_task(watch())
    while host.poll() is None:
        await asyncio.sleep(0.5)
        progress((time.time() - t0) * speed, scenario.duration_s, len(seen))
    progress(scenario.duration_s, scenario.duration_s, len(seen), done=True)
    await asyncio.sleep(2.0)  # the last alarms reach MQTT
    out, err = host.communicate()
    for task in (watcher, bus_task):
        task.cancel()
    gateway.stop()
    results = await asyncio.gather(gw_task, watcher, bus_task, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception) and not isinstance(result, asyncio.CancelledError):
            show("simulation part failed: %r" % result)
    if broker is not None:
        broker.stop()
    if host.returncode != 0:
        raise RuntimeError("the firmware host failed: %s" % (err.strip().splitlines() or ["?"])[-1])
    host_report = json.loads(out.strip().splitlines()[-1])
    report = score(scenario, list(seen.values()), ZONE_M)
    report["nodes"] = {
        "firmware": chosen,
        "behavioural": [n.node_id for n in behavioural],
        "firmware_code": "device/ on MicroPython (unix port)",
        "behavioural_code": "HELLO and heartbeats only (simulators.frame_node)",
    }
    report["speed"] = speed
    report["firmware_events_reported"] = host_report["events_reported"]
    report["frames"] = {name: dict(counters) for name, counters in gateway.pipeline.counters.items()}
    report["timeline_png"] = str(render(scenario, list(seen.values()), report_dir / "timeline.png"))
    (report_dir / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    shutil.rmtree(work, ignore_errors=True)
    return report
