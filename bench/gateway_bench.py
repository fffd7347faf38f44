"""Gateway throughput and latency, frame bytes in to MQTT message out, against bare aiomqtt.

    .venv/bin/python bench/gateway_bench.py [--frames N] [--rate R] [--seconds S]

Real parts only: a Mosquitto broker of its own, a pseudo-terminal the gateway (a separate
`perimeter gateway` process) reads as its serial port, the real journal on disk
(SQLite WAL, synchronous=FULL) and a subscriber in this process.

1. Sustained: N FENCE frames (ack_req set, so every one is journalled, committed and acked)
   written into the pty as fast as it takes them; frames/s is counted at the subscriber from
   the first event to the last.
2. Paced: R frames/s for S seconds; latency of each event = the subscriber's arrival time
   minus the time its frame was written into the pty; p50 / p99 / max.
3. Reference: a bare aiomqtt loop publishing the same JSON payloads at QoS 1 with the same
   in-flight window to the same broker, measured the same two ways.
"""

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.gateway.harness import Broker, Pty, SimNode, write_site  # noqa: E402

PERIMETER = str(Path(sys.executable).with_name("perimeter"))
INFLIGHT = 32


class Subscriber:
    """`mosquitto_sub` (C, so the subscriber is never the bottleneck), stamping each arrival
    with the wall clock (`%U`) that the sender stamps its writes with too."""

    def __init__(self, port: int, topic: str) -> None:
        self.port, self.topic = port, topic
        self.arrivals: dict[int, float] = {}
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
        )
        assert proc.stdout is not None
        await asyncio.sleep(0.5)  # subscribed
        self.ready.set()
        try:
            while line := await proc.stdout.readline():
                stamp, _, payload = line.decode().partition(" ")
                self.arrivals[json.loads(payload)["fields"]["event_no"]] = float(stamp)
        finally:
            proc.terminate()
            await proc.wait()

    async def wait_for(self, numbers: list[int], timeout: float) -> None:
        deadline = time.time() + timeout
        while not all(n in self.arrivals for n in numbers):
            if time.time() > deadline:
                missing = [n for n in numbers if n not in self.arrivals]
                raise SystemExit("%d of %d messages did not arrive" % (len(missing), len(numbers)))
            await asyncio.sleep(0.01)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def latency_report(sent: dict[int, float], arrived: dict[int, float]) -> tuple[float, float, float]:
    latencies = [(arrived[n] - t) * 1000 for n, t in sent.items() if n in arrived]
    return statistics.median(latencies), percentile(latencies, 99), max(latencies)


async def gateway_figures(workdir: Path, broker: Broker, frames: int, rate: int, seconds: float) -> dict[str, float]:
    pty = Pty(workdir / "ttyBENCH")
    config = write_site(
        workdir, broker.port, nodes=[1], transports='[[transport.serial]]\nname = "bench"\nport = "%s"\n' % pty.link
    )
    # The gateway gets the same in-flight window as the bare loop.
    config.write_text(config.read_text().replace("keepalive_s = 5", "keepalive_s = 5\ninflight = %d" % INFLIGHT))
    proc = await asyncio.create_subprocess_exec(
        PERIMETER, "gateway", "--config", str(config), stderr=asyncio.subprocess.DEVNULL
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
    sent: dict[int, float] = {}
    for _ in range(frames):
        frame = node.fence()
        sent[node.event_no] = time.time()
        pty.write(frame)
        if node.event_no % 64 == 0:
            pty.read()  # drain the ACKs so the pty never fills
            await asyncio.sleep(0)
    await sub.wait_for(list(sent), 120)
    window = [sub.arrivals[n] for n in sent]
    sustained = (frames - 1) / (max(window) - min(window))

    # 2. paced
    paced: dict[int, float] = {}
    interval = 1.0 / rate
    t0 = time.time()
    for i in range(int(rate * seconds)):
        target = t0 + i * interval
        while (now := time.time()) < target:
            await asyncio.sleep(min(0.001, target - now))
        frame = node.fence()
        paced[node.event_no] = time.time()
        pty.write(frame)
        if i % 32 == 0:
            pty.read()
    await sub.wait_for(list(paced), 60)
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

    async with aiomqtt.Client(
        "127.0.0.1", broker.port, identifier="bench-pub", max_inflight_messages=INFLIGHT
    ) as client:
        n = 0
        sent: dict[int, float] = {}
        for _ in range(frames // INFLIGHT):
            batch = []
            for _ in range(INFLIGHT):
                n += 1
                sent[n] = time.time()
                batch.append(client.publish(topic, payload(n), qos=1))
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
            pending.add(asyncio.create_task(client.publish(topic, payload(n), qos=1)))
            pending = {t for t in pending if not t.done()}
        await asyncio.gather(*pending)
        await sub.wait_for(list(paced), 60)
    p50, p99, worst = latency_report(paced, sub.arrivals)
    sub_task.cancel()
    await asyncio.gather(sub_task, return_exceptions=True)
    return {"sustained": sustained, "p50": p50, "p99": p99, "max": worst}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        broker = Broker(workdir)
        broker.start()
        try:
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
