"""Gateway throughput and latency, frame bytes in to MQTT message out, against bare aiomqtt;
and the storm: how fast a climb's alarm comes through while 500 nodes rattle.

    .venv/bin/python bench/gateway_bench.py [--frames N] [--rate R] [--seconds S]
    .venv/bin/python bench/gateway_bench.py --storm [--nodes 500] [--rate 500] [--climbs 20]

Real parts only: a Mosquitto broker of its own, a pseudo-terminal the gateway (a separate
`perimeter gateway` process) reads as its serial port, the real journal on disk
(SQLite WAL, synchronous=FULL) and subscribers (`mosquitto_sub`) stamping arrivals. Every
frame is built before the clock starts, so on this 2-core machine the writer does not take
CPU from the gateway by sealing frames while it is measured.

1. Sustained: N FENCE frames (ack_req set, so every one is journalled, committed and acked)
   written into the pty as fast as it takes them; frames/s is counted at the subscriber from
   the first event to the last.
2. Paced: R frames/s for S seconds; latency of each event = the subscriber's arrival time
   minus the time its frame was written into the pty; p50 / p99 / max.
3. Reference: a bare aiomqtt loop publishing the same JSON payloads at QoS 1 with the same
   in-flight window to the same broker, measured the same two ways.

Storm (`--storm`): a site of `--nodes` fence nodes 10 m apart in zones of 100 m, every one
rattling at random (class rattle, similar levels), R frames/s in all, as a gust across the
whole site makes them; in the middle of it, every 2 s, one node in another zone reports a
climb. Printed: the latency of each climb's intrusion alarm (frame written -> its retained
`P/alarm/<id>` at a subscriber; p50 / p99 / max over the climbs), any other intrusion alarm
(a storm that raised one is a nuisance alarm), and the latency of the rattles' events.
"""

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import aiomqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.outputs import topics  # noqa: E402
from tests.gateway.harness import Broker, Pty, SimNode, serial, write_site  # noqa: E402

PERIMETER = str(Path(sys.executable).with_name("perimeter"))
INFLIGHT = 32
SPACING_M = 10.0  # storm: between fence nodes
CLIMB_EVERY_S = 2.0  # storm: between climbs


class Subscriber:
    """`mosquitto_sub` (C, so the subscriber is never the bottleneck), stamping each arrival
    with the wall clock (`%U`) that the sender stamps its writes with too. `key` names a
    message (None: not counted); the first arrival of each name is kept."""

    def __init__(self, port: int, topic: str, key: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.port, self.topic = port, topic
        self.key = key or (lambda message: message["fields"]["event_no"])
        self.arrivals: dict[Any, float] = {}
        self.messages: dict[Any, dict[str, Any]] = {}
        self.ready = asyncio.Event()

    async def run(self) -> None:
        proc = await asyncio.create_subprocess_exec(
            shutil.which("mosquitto_sub") or "mosquitto_sub",
            "-p",
            str(self.port),
            "-q",
            "1",
            "-t",
            self.topic,
            "-F",
            "%U %p",
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 20,  # a retained alarm is a long line
        )
        assert proc.stdout is not None
        await asyncio.sleep(0.5)  # subscribed
        self.ready.set()
        try:
            while line := await proc.stdout.readline():
                stamp, _, payload = line.decode().partition(" ")
                if not payload.strip():
                    continue  # a retained message removed (a cleared alarm)
                message = json.loads(payload)
                name = self.key(message)
                if name is not None and name not in self.arrivals:
                    self.arrivals[name] = float(stamp)
                    self.messages[name] = message
        finally:
            proc.terminate()
            await proc.wait()

    async def wait_for(self, names: Iterable[Any], timeout: float) -> None:
        names = list(names)
        deadline = time.time() + timeout
        while not all(n in self.arrivals for n in names):
            if time.time() > deadline:
                missing = [n for n in names if n not in self.arrivals]
                raise SystemExit(
                    "%d of %d messages did not arrive (%s ...)"
                    % (len(missing), len(names), ", ".join(map(str, missing[:5])))
                )
            await asyncio.sleep(0.01)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def latency_report(sent: dict[Any, float], arrived: dict[Any, float]) -> tuple[float, float, float]:
    latencies = [(arrived[n] - t) * 1000 for n, t in sent.items() if n in arrived]
    return statistics.median(latencies), percentile(latencies, 99), max(latencies)


async def paced_writes(pty: Pty, schedule: list[tuple[float, bytes, Any]]) -> dict[Any, float]:
    """Write each frame at its time (seconds from now); when each was written, by name."""
    written: dict[Any, float] = {}
    t0 = time.time()
    for i, (at, frame, name) in enumerate(schedule):
        target = t0 + at
        while (now := time.time()) < target:
            await asyncio.sleep(min(0.001, target - now))
        written[name] = time.time()
        pty.write(frame)
        if i % 32 == 0:
            pty.read()  # drain the ACKs so the pty never fills
    return written


async def gateway_figures(workdir: Path, broker: Broker, frames: int, rate: int, seconds: float) -> dict[str, float]:
    pty = Pty(workdir / "ttyBENCH")
    # The gateway gets the same in-flight window as the bare loop.
    config = write_site(
        workdir, broker.port, nodes=[1], transports=serial(("bench", pty.link)), mqtt={"inflight": INFLIGHT}
    )
    proc = await asyncio.create_subprocess_exec(
        PERIMETER, "gateway", "run", "--config", str(config), stderr=asyncio.subprocess.DEVNULL
    )
    sub = Subscriber(broker.port, "perimeter/test/gw/node/+/event/fence")
    sub_task = asyncio.create_task(sub.run())
    await sub.ready.wait()
    node = SimNode(1)
    # Warm up: the gateway has its port open and its broker session up.
    warm = node.fence()
    while not sub.arrivals:
        pty.write(warm)
        warm = node.fence()
        await asyncio.sleep(0.2)
        pty.read()

    # 1. sustained
    burst = [(node.fence(), node.event_no) for _ in range(frames)]
    steady = [(node.fence(), node.event_no) for _ in range(int(rate * seconds))]
    sent: dict[int, float] = {}
    for i in range(0, frames, 16):
        chunk = burst[i : i + 16]  # as a busy serial line delivers them, back to back
        now = time.time()
        sent.update((n, now) for _, n in chunk)
        pty.write(b"".join(frame for frame, _ in chunk))
        if i % 64 == 0:
            pty.read()  # drain the ACKs so the pty never fills
            await asyncio.sleep(0)
    await sub.wait_for(sent, 120)
    window = [sub.arrivals[n] for n in sent]
    sustained = (frames - 1) / (max(window) - min(window))

    # 2. paced
    paced = await paced_writes(pty, [(i / rate, frame, n) for i, (frame, n) in enumerate(steady)])
    await sub.wait_for(paced, 60)
    p50, p99, worst = latency_report(paced, sub.arrivals)
    proc.terminate()
    await proc.wait()
    sub_task.cancel()
    await asyncio.gather(sub_task, return_exceptions=True)
    pty.unplug()
    return {"sustained": sustained, "p50": p50, "p99": p99, "max": worst}


async def bare_figures(broker: Broker, frames: int, rate: int, seconds: float) -> dict[str, float]:
    topic = "bare/node/1/event/fence"
    sub = Subscriber(broker.port, topic)
    sub_task = asyncio.create_task(sub.run())
    await sub.ready.wait()

    def payload(n: int) -> bytes:
        return json.dumps(
            {
                "schema": "perimeter.event/1",
                "event_id": "test:1:0:%d" % n,
                "fields": {
                    "event_no": n,
                    "age_ds": 1,
                    "class": 1,
                    "peak": 1500,
                    "noise_floor": 30,
                    "pulses": 12,
                    "duration_ds": 25,
                },
                "receptions": [{"transport": "bench"}],
                "node": "n1",
                "ctr": n,
            }
        ).encode()

    payloads = {n: payload(n) for n in range(1, frames + int(rate * seconds) + 1)}
    client = aiomqtt.Client("127.0.0.1", broker.port, identifier="bench-pub", max_inflight_messages=INFLIGHT)
    client.pending_calls_threshold = INFLIGHT + 8  # as the gateway's sink: no warning per publish
    async with client:
        n = 0
        sent: dict[int, float] = {}
        for _ in range(frames // INFLIGHT):
            batch = []
            for _ in range(INFLIGHT):
                n += 1
                sent[n] = time.time()
                batch.append(client.publish(topic, payloads[n], qos=1))
            await asyncio.gather(*batch)
        await sub.wait_for(list(sent), 60)
        window = [sub.arrivals[i] for i in sent]
        sustained = (n - 1) / (max(window) - min(window))
        paced: dict[int, float] = {}
        interval = 1.0 / rate
        t0 = time.time()
        pending = set()
        for i in range(int(rate * seconds)):
            target = t0 + i * interval
            while (now := time.time()) < target:
                await asyncio.sleep(min(0.001, target - now))
            n += 1
            paced[n] = time.time()
            pending.add(asyncio.create_task(client.publish(topic, payloads[n], qos=1)))
            pending = {t for t in pending if not t.done()}
        await asyncio.gather(*pending)
        await sub.wait_for(list(paced), 60)
    p50, p99, worst = latency_report(paced, sub.arrivals)
    sub_task.cancel()
    await asyncio.gather(sub_task, return_exceptions=True)
    return {"sustained": sustained, "p50": p50, "p99": p99, "max": worst}


def storm_site(workdir: Path, broker: Broker, pty: Pty, nodes: int) -> Path:
    """A gateway config for `nodes` fence nodes 10 m apart along a straight fence, in zones
    of 100 m, read from one serial line."""
    length = nodes * SPACING_M
    zones = [
        {"name": "Z%03d" % (z + 1), "start_m": z * 100.0, "end_m": (z + 1) * 100.0}
        for z in range(int(length // 100) + 1)
    ]
    placed = [{"id": n, "name": "n%d" % n, "chainage_m": (n - 0.5) * SPACING_M} for n in range(1, nodes + 1)]
    return write_site(
        workdir,
        broker.port,
        nodes=placed,
        transports=serial(("bench", pty.link)),
        extra={"perimeter": {"polyline": [[0, 0], [length + 100, 0]], "zone": zones}},
        mqtt={"inflight": INFLIGHT},
    )


async def storm_figures(workdir: Path, broker: Broker, nodes: int, rate: int, climbs: int) -> dict[str, Any]:
    pty = Pty(workdir / "ttySTORM")
    config = storm_site(workdir, broker, pty, nodes)
    proc = await asyncio.create_subprocess_exec(
        PERIMETER, "gateway", "run", "--config", str(config), stderr=asyncio.subprocess.DEVNULL
    )
    prefix = topics.prefix("perimeter", "test", "gw")
    events = Subscriber(broker.port, topics.node_events(prefix, "fence"), key=lambda m: m["event_id"])
    alarms = Subscriber(
        broker.port,
        topics.alarm(prefix, "+"),
        key=lambda m: m["alarm_id"] if m.get("category") == "intrusion" else None,
    )
    tasks = [asyncio.create_task(events.run()), asyncio.create_task(alarms.run())]
    await asyncio.gather(events.ready.wait(), alarms.ready.wait())
    sim = {n: SimNode(n) for n in range(1, nodes + 1)}
    rng = random.Random(1)

    def rattle(node: int) -> tuple[bytes, str]:
        frame = sim[node].fence(peak=rng.randint(300, 500), cls=3)
        return frame, "test:%d:0:%d" % (node, sim[node].event_no)

    # Warm up: the gateway has its port open and its broker session up.
    while not events.arrivals:
        pty.write(rattle(1)[0])
        await asyncio.sleep(0.2)
        pty.read()

    # Every frame of the storm, built before it starts (in the order they are sent: each
    # node's counter must rise): rattles from random nodes at `rate` in all, and a climb
    # every CLIMB_EVERY_S from the third second, each in another zone.
    lead_s = 3.0
    seconds = lead_s + climbs * CLIMB_EVERY_S + 3.0
    climbers = [3 + k * (nodes - 6) // max(1, climbs - 1) for k in range(climbs)]
    plan = [(i / rate, rng.randint(1, nodes), False) for i in range(int(rate * seconds))]
    plan += [(lead_s + k * CLIMB_EVERY_S, node, True) for k, node in enumerate(climbers)]
    plan.sort(key=lambda entry: entry[0])
    schedule: list[tuple[float, bytes, Any]] = []
    for at, node, climb in plan:
        if climb:
            schedule.append((at, sim[node].fence(peak=6000, cls=1), ("climb", node)))
        else:
            frame, event_id = rattle(node)
            schedule.append((at, frame, event_id))
    try:
        written = await paced_writes(pty, schedule)
        rattles = {name: t for name, t in written.items() if not isinstance(name, tuple)}
        await events.wait_for(rattles, 60)
        deadline = time.time() + 10
        while len(alarms.arrivals) < climbs and time.time() < deadline:
            await asyncio.sleep(0.05)
    finally:
        proc.terminate()
        await proc.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        pty.unplug()

    by_node = {alarms.messages[a]["detail"].get("node_id"): a for a in alarms.arrivals}
    climb_ms = []
    for node in climbers:
        alarm_id = by_node.get(node)
        if alarm_id is None:
            raise SystemExit("the climb on node %d raised no intrusion alarm within 10 s" % node)
        climb_ms.append((alarms.arrivals[alarm_id] - written[("climb", node)]) * 1000)
    others = [a for node, a in by_node.items() if node not in climbers]
    p50, p99, worst = latency_report(rattles, events.arrivals)
    return {
        "nodes": nodes,
        "rate": rate,
        "seconds": seconds,
        "frames": len(schedule),
        "climbs": climbs,
        "climb_p50": statistics.median(climb_ms),
        "climb_p99": percentile(climb_ms, 99),
        "climb_max": max(climb_ms),
        "other_intrusions": len(others),
        "event_p50": p50,
        "event_p99": p99,
        "event_max": worst,
    }


def print_storm(f: dict[str, Any]) -> None:
    print(
        "storm: %d nodes rattling, %d frames/s for %.0f s (%d frames), a climb every %.0f s in another zone; "
        "Mosquitto on loopback; QoS 1, in-flight %d"
        % (f["nodes"], f["rate"], f["seconds"], f["frames"], CLIMB_EVERY_S, INFLIGHT)
    )
    print("| what | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|")
    print(
        "| climb's intrusion alarm: frame written -> retained `P/alarm/<id>` (%d climbs) | %.0f | %.0f | %.0f |"
        % (f["climbs"], f["climb_p50"], f["climb_p99"], f["climb_max"])
    )
    print(
        "| each rattle's event: frame written -> `P/node/<id>/event/fence` | %.1f | %.1f | %.1f |"
        % (f["event_p50"], f["event_p99"], f["event_max"])
    )
    print("intrusion alarms besides the climbs' (nuisance): %d" % f["other_intrusions"])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--storm", action="store_true", help="the storm: a climb while every node rattles")
    parser.add_argument("--nodes", type=int, default=500, help="storm: nodes on the site")
    parser.add_argument("--climbs", type=int, default=20, help="storm: climbs, one every 2 s")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        broker = Broker(workdir)
        broker.start()
        try:
            if args.storm:
                print_storm(await storm_figures(workdir, broker, args.nodes, args.rate, args.climbs))
                return
            gw = await gateway_figures(workdir, broker, args.frames, args.rate, args.seconds)
            bare = await bare_figures(broker, args.frames, args.rate, args.seconds)
        finally:
            broker.stop()
    print(
        "%d frames sustained; %d frames/s for %.0f s paced; Mosquitto on loopback; QoS 1, in-flight %d"
        % (args.frames, args.rate, args.seconds, INFLIGHT)
    )
    print("| path | sustained msg/s | p50 ms @%d/s | p99 ms @%d/s | max ms |" % (args.rate, args.rate))
    print("|---|---|---|---|---|")
    print(
        "| gateway: pty -> deframe/verify/decrypt/decode -> journal commit -> ACK -> outbox -> MQTT "
        "| %.0f | %.1f | %.1f | %.1f |" % (gw["sustained"], gw["p50"], gw["p99"], gw["max"])
    )
    print(
        "| bare aiomqtt publish loop | %.0f | %.1f | %.1f | %.1f |"
        % (bare["sustained"], bare["p50"], bare["p99"], bare["max"])
    )
    print("ratio gateway / bare (sustained): %.2f" % (gw["sustained"] / bare["sustained"]))


if __name__ == "__main__":
    asyncio.run(main())
