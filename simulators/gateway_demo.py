"""A small live perimeter on one machine: three nodes on a serial line, the real gateway, a
real Mosquitto, and what the security office would see.

    python -m simulators.gateway_demo

Everything is real but the nodes, which send real sealed frames (no sensors yet: the
firmware and signal simulators come later): the gateway runs as its own process from a
generated config, reads a pseudo-terminal as its serial port, journals, acks and publishes.
The demo prints each MQTT message as it arrives, then proves the journal's hash chain.
"""

import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from gateway.config_dump import dump
from gateway.identity.site_key import write_site_key
from simulators.broker import Broker
from simulators.frame_node import SITE_ID, SITE_KEY, SimNode
from simulators.pty_link import Pty

PERIMETER = str(Path(sys.executable).with_name("perimeter"))


def write_config(folder: Path, broker_port: int, tty: Path) -> Path:
    write_site_key(folder / "site.key", SITE_KEY)
    config = folder / "gateway.toml"
    doc = {
        "site": {"id": SITE_ID, "name": "demo", "key_file": "site.key"},
        "gateway": {"id": "office", "journal": "journal.sqlite"},
        "supervision": {"missed_heartbeats": 2, "default_heartbeat_s": 3},
        "metrics": {"listen": ""},
        "mqtt": {"host": "127.0.0.1", "port": broker_port},
        "transport": {"serial": [{"name": "north-fence", "port": str(tty)}]},
        "node": [{"id": n, "name": "north-%d" % n} for n in (11, 12, 13)],
    }
    config.write_text(dump(doc))
    return config


def summary(topic: str, payload: bytes) -> str:
    short = topic.split("/", 3)[-1]
    try:
        data = json.loads(payload)
    except ValueError:
        return "%-34s %s" % (short, payload.decode(errors="replace"))
    if "/event/" in topic and "fields" in data:
        labels = ", ".join("%s=%s" % kv for kv in data.get("labels", {}).items())
        return "%-34s %s event_id=%s peak=%s %s" % (
            short,
            data["type"],
            data["event_id"],
            data["fields"].get("peak", "-"),
            labels,
        )
    if topic.endswith("/event/security"):
        return "%-34s SECURITY %s node=%s: %s" % (short, data["kind"], data["node_id"], data["detail"])
    if topic.endswith("/event/supervision"):
        return "%-34s SUPERVISION node=%s %s, silent %.1f s" % (short, data["node_id"], data["state"], data["silent_s"])
    if topic.endswith("/state") and "supervision" in data:
        return "%-34s battery=%s mV firmware=%s supervision=%s" % (
            short,
            data.get("battery_mv"),
            data.get("firmware"),
            data["supervision"],
        )
    return "%-34s %s" % (short, json.dumps(data)[:90])


async def watch(port: int, lines: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        shutil.which("mosquitto_sub") or "mosquitto_sub",
        "-p",
        str(port),
        "-v",
        "-q",
        "1",
        "-t",
        "perimeter/#",
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    last: dict[str, str] = {}
    try:
        while line := await proc.stdout.readline():
            topic, _, payload = line.decode().rstrip("\n").partition(" ")
            text = summary(topic, payload.encode())
            lines.append(text)
            if "/event/" in topic or last.get(topic) != text:  # state: only when it changes
                print("  mqtt  " + text, flush=True)
            last[topic] = text
    finally:
        proc.terminate()


async def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        broker = Broker(folder)
        broker.start()
        pty = Pty(folder / "ttyNORTH")
        config = write_config(folder, broker.port, pty.link)
        seen: list[str] = []
        watcher = asyncio.create_task(watch(broker.port, seen))
        gateway = await asyncio.create_subprocess_exec(
            PERIMETER, "gateway", "run", "--config", str(config), stderr=asyncio.subprocess.DEVNULL
        )
        try:
            nodes = {n: SimNode(n) for n in (11, 12, 13)}
            await asyncio.sleep(1.5)
            print("== three nodes boot and report in")
            for node in nodes.values():
                pty.write(node.hello(boot_count=1, heartbeat_s=3))
                pty.write(node.heartbeat())
            await asyncio.sleep(1.0)
            print("== someone climbs the fence at node 12 (the node asks for an ACK)")
            pty.write(nodes[12].fence(peak=2600))
            await asyncio.sleep(0.5)
            acks = nodes[12].take_acks(pty.read())
            print("  node 12 got ACK for ctr %s" % acks)
            print("== an attacker replays that frame, forges one for node 13, and invents node 99")
            captured = nodes[12].fence(peak=2600, event_no=2)
            pty.write(captured)
            await asyncio.sleep(0.3)
            pty.write(captured)
            pty.write(SimNode(13, site_key=bytes(32)).fence())
            pty.write(SimNode(99).fence())
            await asyncio.sleep(1.0)
            print("== node 11 falls silent; 12 and 13 keep their heartbeats")
            deadline = time.time() + 7
            while time.time() < deadline:
                pty.write(nodes[12].heartbeat())
                pty.write(nodes[13].heartbeat())
                await asyncio.sleep(1.0)
            print("== node 11 comes back")
            pty.write(nodes[11].heartbeat())
            await asyncio.sleep(1.0)
        finally:
            gateway.terminate()
            await gateway.wait()
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            pty.unplug()
            broker.stop()
        print("== the journal's hash chain")
        verify = await asyncio.create_subprocess_exec(PERIMETER, "journal", "verify", "--config", str(config))
        await verify.wait()
        wanted = (
            "fence event_id=demo:12:1:1",
            "SECURITY replay",
            "SECURITY bad_tag",
            "SECURITY unknown_node",
            "SUPERVISION node=11 comm_fail",
            "SUPERVISION node=11 ok",
        )
        missing = [w for w in wanted if not any(w in line for line in seen)]
        if missing or verify.returncode != 0:
            print("demo incomplete: missing %s" % missing)
            return 1
        print(
            "demo complete: the climb was published once, every attack was rejected and reported, "
            "node 11's silence raised comm-fail and its return restored it"
        )
        return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
