"""Load, broker outage and soak in one run: 1,000 LoRa nodes into one gateway (a separate
process, the real `perimeter gateway`) through its Semtech UDP port, for `--minutes` of real
time, with the broker stopped for `--outage-minutes` in the middle.

The nodes behave as the firmware does: a HELLO, a heartbeat every 60 s (jittered), and
events (fence, impact, acoustic) that ask for an ACK and are sent again with a fresh counter
until the ACK comes back in a PULL_RESP. A desk operator acknowledges and clears the open
alarms every minute over MQTT, as the security office would. Every minute the gateway's
RSS and CPU time are read from /proc.

At the end, once the outbox has drained: frames in, events acked, events on MQTT, acked
events missing from MQTT (must be 0), the broker outage's catch-up time, CPU and memory,
and the memory trend after the outage (must show no growth). Prints a Markdown table and
writes the samples to --out (JSON).

    .venv/bin/python bench/soak_bench.py                 # 30 minutes, 1,000 nodes, 5 min outage
    .venv/bin/python bench/soak_bench.py --minutes 3 --outage-minutes 1 --nodes 200   # a quick look
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.alarming.request_guard import fresh  # noqa: E402
from gateway.config_dump import dump  # noqa: E402
from gateway.identity.accounts import add_account  # noqa: E402
from gateway.identity.site_key import write_site_key  # noqa: E402
from gateway.outputs import topics  # noqa: E402
from protocol import gwmp  # noqa: E402
from protocol.messages import DOWN  # noqa: E402
from protocol.packet import open_packet  # noqa: E402
from simulators.broker import Broker, free_port  # noqa: E402
from simulators.frame_node import SITE_ID, SITE_KEY, SimNode  # noqa: E402

PERIMETER = str(Path(sys.executable).with_name("perimeter"))
HEARTBEAT_S = 60
EVENT_EVERY_S = 300.0  # per node, on average: 1,000 nodes make 3.3 events a second
RETRY_S = 5.0
EUI = bytes.fromhex("aa555a0000000001")
PREFIX = topics.prefix("perimeter", "soak", "gw")
DESK = "soak-desk"  # the operator's account (its requests on its own topic)


def config_text(folder: Path, nodes: int, udp_port: int, mqtt_port: int) -> Path:
    write_site_key(folder / "site.key", SITE_KEY)
    add_account(folder / "operators.txt", DESK, "operator", "the soak's night desk", n=2**10)
    length = nodes * 10.0
    doc = {
        "site": {"id": SITE_ID, "name": "soak", "key_file": "site.key"},
        "gateway": {"id": "gw", "journal": "journal.sqlite"},
        "supervision": {"missed_heartbeats": 5},
        "metrics": {"listen": ""},
        "dashboard": {"listen": "", "accounts_file": "operators.txt"},
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port},
        "transport": {
            "semtech_udp": [{"name": "concentrator", "host": "127.0.0.1", "port": udp_port, "downlink_delay_ms": 0}]
        },
        "perimeter": {
            "polyline": [[0, 0], [length, 0]],
            "zone": [
                {"name": "Z%02d" % (z + 1), "start_m": z * 500.0, "end_m": (z + 1) * 500.0}
                for z in range(int(length // 500) + 1)
            ],
        },
        "node": [
            {"id": n, "name": "n%d" % n, "heartbeat_s": HEARTBEAT_S, "chainage_m": n * 10.0 - 5}
            for n in range(1, nodes + 1)
        ],
    }
    path = folder / "gateway.toml"
    path.write_text(dump(doc))
    return path


class Fleet(asyncio.DatagramProtocol):
    """The nodes, and the packet forwarder they are heard through."""

    def __init__(self, count: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.nodes = {n: SimNode(n) for n in range(1, count + 1)}
        self.transport: asyncio.DatagramTransport | None = None
        self.frames_sent = 0
        self.events_sent: set[tuple[int, int]] = set()
        self.acked: set[tuple[int, int]] = set()
        self.pending: dict[tuple[int, int], tuple[float, str]] = {}  # event -> (last sent, kind)
        self.event_of: dict[tuple[int, int], tuple[int, int]] = {}  # (node, ctr) -> event
        self.token = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        datagram = gwmp.decode(data)
        if datagram.ident != gwmp.PULL_RESP:  # PUSH_ACK and PULL_ACK need nothing
            return
        packet = gwmp.packet_of(datagram.json()["txpk"])
        node_id = int.from_bytes(packet[1:3], "little")
        node = self.nodes.get(node_id)
        if node is None:
            return
        opened = open_packet(node.key, SITE_ID, packet, DOWN)
        event = self.event_of.pop((node_id, opened.fields["acked_ctr"]), None)
        if event is not None:
            self.acked.add(event)
            self.pending.pop(event, None)
        assert self.transport is not None
        self.transport.sendto(gwmp.tx_ack(datagram.token, EUI))

    def push(self, packet: bytes) -> None:
        assert self.transport is not None
        self.token = (self.token + 1) & 0xFFFF
        rxpk = gwmp.rxpk(
            packet,
            tmst=int(time.monotonic() * 1e6) & 0xFFFFFFFF,
            freq=868.1,
            stat=1,
            modu="LORA",
            datr="SF7BW125",
            codr="4/5",
            rssi=self.rng.randint(-115, -70),
            lsnr=round(self.rng.uniform(-5, 9), 1),
        )
        self.transport.sendto(gwmp.push_data(self.token.to_bytes(2, "big"), EUI, [rxpk]))
        self.frames_sent += 1

    def pull(self) -> None:
        assert self.transport is not None
        self.transport.sendto(gwmp.encode(gwmp.PULL_DATA, b"\0\0", EUI))

    def send_event(self, node_id: int, event_no: int, kind: str) -> None:
        node = self.nodes[node_id]
        ctr = node.ctr
        if kind == "fence":
            packet = node.fence_packet(peak=self.rng.randint(400, 3000), event_no=event_no)
        elif kind == "impact":
            fields = {"event_no": event_no, "age_ds": 0, "peak": 900, "noise_floor": 30, "duration_ms": 12}
            packet = node.packet("IMPACT", fields, True)
        else:
            fields = {
                "event_no": event_no,
                "age_ds": 0,
                "class": 1,
                "fundamental_hz": 180,
                "harmonics": 3,
                "snr_db": 10,
                "confidence": 80,
                "duration_ds": 20,
            }
            packet = node.packet("ACOUSTIC", fields, True)
        self.event_of[(node_id, ctr)] = (node_id, event_no)
        self.pending[(node_id, event_no)] = (time.time(), kind)
        self.events_sent.add((node_id, event_no))
        self.push(packet)


def proc_sample(pid: int) -> tuple[float, float]:
    """RSS in MB and CPU seconds (user + system) of a process."""
    with open("/proc/%d/status" % pid) as f:
        rss_kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss_kb / 1024, (int(fields[11]) + int(fields[12])) / ticks


def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (minute, MB) samples, in MB per hour."""
    if len(samples) < 3:
        return 0.0
    xs, ys = [s[0] for s in samples], [s[1] for s in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


async def operator(port: int, stop: asyncio.Event) -> int:
    """The security office: every minute, acknowledges and clears what is open."""
    handled = 0
    while not stop.is_set():
        try:
            async with aiomqtt.Client("127.0.0.1", port, identifier="soak-desk-%d" % os.getpid()) as client:
                await client.subscribe(topics.alarm(PREFIX, "+"), qos=1)
                open_alarms: dict[str, str] = {}
                next_round = time.time() + 60
                while not stop.is_set():
                    try:
                        async with asyncio.timeout(max(0.1, next_round - time.time())):
                            async for message in client.messages:
                                if message.payload:
                                    alarm = json.loads(message.payload)  # type: ignore[arg-type]
                                    open_alarms[alarm["alarm_id"]] = alarm["state"]
                                else:
                                    open_alarms.pop(str(message.topic).rsplit("/", 1)[1], None)
                    except TimeoutError:
                        pass
                    if time.time() >= next_round:
                        next_round = time.time() + 60
                        for alarm_id, state in list(open_alarms.items()):
                            request = {"alarm_id": alarm_id, "note": "seen"}
                            if state == "active":
                                ack = fresh(request, time.time())
                                await client.publish(topics.request(PREFIX, DESK, "ack"), json.dumps(ack), 1)
                            clear = fresh(dict(request, reason="nuisance_unknown"), time.time())
                            await client.publish(topics.request(PREFIX, DESK, "clear"), json.dumps(clear), 1)
                            handled += 1
        except aiomqtt.MqttError:
            await asyncio.sleep(1)  # the outage: try again
    return handled


async def subscriber(port: int, seen: set[tuple[int, int]], ready: asyncio.Event) -> None:
    """Every event on MQTT, by (node, event_no); a persistent session rides out the outage."""
    while True:
        try:
            async with aiomqtt.Client("127.0.0.1", port, identifier="soak-sub", clean_session=False) as client:
                await client.subscribe(topics.node_events(PREFIX), qos=1)
                ready.set()
                async for message in client.messages:
                    event = json.loads(message.payload)  # type: ignore[arg-type]
                    if "fields" in event and "event_no" in event["fields"]:
                        seen.add((event["node_id"], event["fields"]["event_no"]))
        except aiomqtt.MqttError:
            await asyncio.sleep(0.5)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="perimeter-soak-"))
    broker = Broker(work)
    broker.start()
    udp_port = free_port()
    config = config_text(work, args.nodes, udp_port, broker.port)
    log = open(work / "gateway.log", "w")
    gateway = await asyncio.create_subprocess_exec(PERIMETER, "gateway", "run", "--config", str(config), stderr=log)
    await asyncio.sleep(2)
    loop = asyncio.get_running_loop()
    fleet = Fleet(args.nodes, args.seed)
    await loop.create_datagram_endpoint(lambda: fleet, remote_addr=("127.0.0.1", udp_port))
    fleet.pull()
    seen: set[tuple[int, int]] = set()
    ready = asyncio.Event()
    sub = asyncio.create_task(subscriber(broker.port, seen, ready))
    await asyncio.wait_for(ready.wait(), 10)
    stop_desk = asyncio.Event()
    desk = asyncio.create_task(operator(broker.port, stop_desk))

    rng = random.Random(args.seed + 1)
    start = time.time()
    end = start + args.minutes * 60
    outage_from = start + (args.minutes - args.outage_minutes) / 2 * 60
    outage_to = outage_from + args.outage_minutes * 60
    broker_down = False
    caught_up_after = None
    acked_at_restart: set[tuple[int, int]] = set()
    heartbeat_due = {n: start + rng.uniform(0, HEARTBEAT_S) for n in fleet.nodes}
    event_due = {n: start + rng.expovariate(1 / EVENT_EVERY_S) for n in fleet.nodes}
    event_no = dict.fromkeys(fleet.nodes, 0)
    for node in fleet.nodes.values():
        fleet.push(node.hello_packet(heartbeat_s=HEARTBEAT_S))
        await asyncio.sleep(0.001)
    samples: list[dict[str, float]] = []
    next_sample = start
    cpu0 = proc_sample(gateway.pid)[1]
    kinds = ("fence", "fence", "impact", "acoustic")
    while time.time() < end:
        now = time.time()
        for n, due in heartbeat_due.items():
            if due <= now:
                fleet.push(fleet.nodes[n].heartbeat_packet())
                heartbeat_due[n] = now + HEARTBEAT_S * rng.uniform(0.95, 1.05)
        for n, due in event_due.items():
            if due <= now:
                event_no[n] += 1
                fleet.send_event(n, event_no[n], rng.choice(kinds))
                event_due[n] = now + rng.expovariate(1 / EVENT_EVERY_S)
        for (n, e), (sent, kind) in list(fleet.pending.items()):
            if now - sent > RETRY_S:
                fleet.send_event(n, e, kind)  # a retransmission: fresh ctr, same event
        if now >= next_sample:
            rss, cpu = proc_sample(gateway.pid)
            samples.append(
                {"minute": round((now - start) / 60, 2), "rss_mb": round(rss, 1), "cpu_s": round(cpu - cpu0, 1)}
            )
            print(
                "min %5.1f rss %.1f MB cpu %.1f s frames %d acked %d on mqtt %d%s"
                % (
                    (now - start) / 60,
                    rss,
                    cpu - cpu0,
                    fleet.frames_sent,
                    len(fleet.acked),
                    len(seen),
                    " (broker down)" if broker_down else "",
                ),
                flush=True,
            )
            next_sample += 60
            fleet.pull()
        if not broker_down and outage_from <= now < outage_to:
            broker.stop()
            broker_down = True
        elif broker_down and now >= outage_to:
            broker.start()
            broker_down = False
            restarted = time.time()
            acked_at_restart = set(fleet.acked)
        if caught_up_after is None and acked_at_restart and acked_at_restart <= seen:
            caught_up_after = time.time() - restarted
        await asyncio.sleep(0.05)
    drain_from = time.time()
    while fleet.pending and time.time() - drain_from < 60:  # last retries
        for (n, e), (sent, kind) in list(fleet.pending.items()):
            if time.time() - sent > RETRY_S:
                fleet.send_event(n, e, kind)
        await asyncio.sleep(0.2)
    while not fleet.acked <= seen and time.time() - drain_from < 180:
        await asyncio.sleep(0.5)
    rss, cpu = proc_sample(gateway.pid)
    stop_desk.set()
    handled = await asyncio.wait_for(desk, 90)
    sub.cancel()
    gateway.terminate()
    await gateway.wait()
    broker.stop()
    wall = time.time() - start
    after = [(s["minute"], s["rss_mb"]) for s in samples if s["minute"] * 60 >= (outage_to - start) + 60]
    return {
        "nodes": args.nodes,
        "minutes": args.minutes,
        "outage_minutes": args.outage_minutes,
        "frames_sent": fleet.frames_sent,
        "events_sent": len(fleet.events_sent),
        "events_acked": len(fleet.acked),
        "events_on_mqtt": len(seen),
        "acked_but_lost": len(fleet.acked - seen),
        "never_acked": len(fleet.events_sent - fleet.acked),
        "outage_caught_up_s": None if caught_up_after is None else round(caught_up_after, 1),
        "alarms_worked_by_desk": handled,
        "gateway_cpu_percent": round(100 * (cpu - cpu0) / wall, 1),
        "gateway_rss_mb": {"first": samples[0]["rss_mb"], "max": max(s["rss_mb"] for s in samples), "last": rss},
        "rss_trend_mb_per_hour_after_outage": round(slope_per_hour(after), 2),
        "samples": samples,
        "work": str(work),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--outage-minutes", type=float, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="soak-report.json")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    rss = report["gateway_rss_mb"]
    print("| figure | value | target |")
    print("|---|---|---|")
    print("| nodes, minutes of real time | %d, %g | 1,000, ≥ 10 |" % (report["nodes"], report["minutes"]))
    print("| frames in | %s | |" % format(report["frames_sent"], ","))
    print(
        "| events acked / on MQTT | %s / %s | |"
        % (format(report["events_acked"], ","), format(report["events_on_mqtt"], ","))
    )
    print("| acked events lost | %d | 0 |" % report["acked_but_lost"])
    print(
        "| broker outage of %g min: caught up after | %s s | all delivered |"
        % (report["outage_minutes"], report["outage_caught_up_s"])
    )
    print("| gateway CPU | %s %% of one core | |" % report["gateway_cpu_percent"])
    print("| gateway RSS first / max / last | %s / %s / %.1f MB | |" % (rss["first"], rss["max"], rss["last"]))
    print("| RSS trend after the outage | %+.2f MB/h | no growth |" % report["rss_trend_mb_per_hour_after_outage"])
    return 0 if report["acked_but_lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
