"""Firmware in the loop: real `device/` nodes on the MicroPython unix port, on one bus.

    micropython -X heapsize=1M simulators/firmware_host.py PLAN.json

Run by `simulators.runner`, not by hand, once per core with a share of the nodes each: it
prints "ready" once its nodes are built and starts the scenario's clock when a line comes
on its standard input, so that every host starts at the same moment. Every node in the plan is the real firmware
(`device.node.Node`) on the simulated board, its sensors replaying the sample files the
runner synthesized for its place on the fence. The host listens on the plan's port and the
runner, which plays the medium, connects: every node's output goes down that one connection.

- `link = "serial"`: the nodes' UARTs share the line, as nodes share an RS-485 bus; frames
  go both ways unchanged, and the runner passes them to the gateway's serial port (a pty).
- `link = "lora"`: each node has the real LoRa link (`device.link.lora`, duty cycle and all)
  over a simulated modem. A transmission is written as a frame when it starts and the modem
  stays busy for its time on air; the runner's radio channel decides who hears it. Downlinks
  come back as frames of RSSI (1 byte, signed), SNR (1 byte, signed) and the packet.

Simulated time is paced against the wall clock at the plan's speed; the runner gives the
gateway a clock at the same speed, so a fence window or a supervision timeout means the same
on both sides.
"""

import asyncio
import json
import socket
import sys
import time

# After the frozen modules: the node interpreter's own frozen node runs, not these sources.
sys.path.append(__file__.rsplit("/", 2)[0] if __file__.count("/") >= 2 else ".")

from device.boards.sim import Board  # noqa: E402
from device.boards.sim_files import FileSource, SlotFileSource  # noqa: E402
from device.boards.sim_radio import RxPacket  # noqa: E402
from device.ground_node import GroundNode  # noqa: E402
from device.hal import VirtualClock  # noqa: E402
from device.node import Node  # noqa: E402
from protocol.framing import Deframer, encode_frame  # noqa: E402
from protocol.keys import NodeKey  # noqa: E402
from protocol.packet import header_node_id  # noqa: E402


class RamStore:
    """Counters in RAM: each simulated node boots once."""

    def __init__(self):
        self.values = {}

    def get(self, name, default=0):
        return self.values.get(name, default)

    def set(self, name, value):
        self.values[name] = value


class Bus:
    """The connection to the runner: what any node writes goes out on it; what comes in is
    routed to the node its packet names (after the RSSI/SNR prefix on LoRa)."""

    def __init__(self, conn, clock, lora=False):
        self.conn = conn
        self.clock = clock
        self.lora = lora
        self._pumped = -1
        self.deframer = Deframer()
        self.inboxes = {}

    def pump(self):
        now = self.clock.now_ms()
        if now - self._pumped < 10:  # every node polls its link: read the socket once per 10 ms
            return
        self._pumped = now
        try:
            data = self.conn.recv(1024)
        except OSError:
            data = None
        if data:
            self.deframer.feed(data)
        packet = self.deframer.next_packet()
        while packet is not None:
            if self.lora and len(packet) > 2:
                rssi, snr, body = _signed(packet[0]), _signed(packet[1]), bytes(packet[2:])
                inbox = self.inboxes.get(header_node_id(body))
                if inbox is not None:
                    inbox.append(RxPacket(body, rssi, snr))
            elif not self.lora:
                inbox = self.inboxes.get(header_node_id(packet))
                if inbox is not None:
                    inbox.append(encode_frame(packet))
            packet = self.deframer.next_packet()

    def write(self, data):
        view = memoryview(data)
        while view:
            try:
                sent = self.conn.send(view)
            except OSError:
                time.sleep_ms(1)
                continue
            view = view[sent:]


class NodeUART:
    def __init__(self, bus, node_id):
        self.bus = bus
        self.inbox = bus.inboxes.setdefault(node_id, [])

    def write(self, data):
        self.bus.write(data)
        return len(data)

    def read(self, n=-1):
        self.bus.pump()
        if not self.inbox:
            return None
        data = b"".join(self.inbox)
        self.inbox.clear()
        return data


def _signed(byte):
    return byte - 256 if byte > 127 else byte


class HostModem:
    """A LoRa modem with the async API of micropython-lib's `lora` drivers, on the runner's
    radio channel: `send` keys the transmitter for the packet's time on air."""

    def __init__(self, bus, node_id, clock, sf, bw_hz=125000):
        from device.dutycycle import time_on_air_us

        self.bus = bus
        self.clock = clock
        self.inbox = bus.inboxes.setdefault(node_id, [])
        self._airtime_ms = lambda size: (time_on_air_us(size, sf, bw_hz) + 999) // 1000

    async def send(self, packet, tx_at_ms=None):
        self.bus.write(encode_frame(packet))
        await self.clock.sleep_ms(self._airtime_ms(len(packet)))

    def recv_continuous(self):
        return self  # MicroPython has no async generators: the modem is its own iterator

    def __aiter__(self):
        return self

    async def __anext__(self):
        while True:
            self.bus.pump()
            if self.inbox:
                return self.inbox.pop(0)
            await self.clock.sleep_ms(50)  # a downlink comes 1 s after its uplink: no hurry


class PacedClock(VirtualClock):
    """Virtual time that never runs ahead of the wall clock times `speed`."""

    def __init__(self, speed, seed=1):
        VirtualClock.__init__(self, seed)
        self.speed = speed
        self._wall0 = time.ticks_ms()
        self.max_lag_ms = 0  # how far simulated time fell behind the wall clock times speed

    def _advance(self, target):
        ahead = int(target / self.speed) - time.ticks_diff(time.ticks_ms(), self._wall0)
        if ahead > 0:
            time.sleep_ms(ahead)
        elif -ahead * self.speed > self.max_lag_ms:
            self.max_lag_ms = int(-ahead * self.speed)
        self._now = target


def main(plan_path):
    with open(plan_path) as f:
        plan = json.load(f)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(socket.getaddrinfo("127.0.0.1", plan["port"])[0][-1])
    server.listen(1)
    print("listening", plan["port"])
    conn, _ = server.accept()
    conn.setblocking(False)
    lora = plan.get("link") == "lora"
    clock = PacedClock(plan["speed"], plan.get("seed", 1))
    bus = Bus(conn, clock, lora)
    nodes = []
    for spec in plan["nodes"]:
        board = Board(
            clock,
            FileSource(spec["fence"], channels=3),
            SlotFileSource(spec["audio"]),
            FileSource(spec["impact"], signed=False),
            link="lora" if lora else "serial",
            uart=None if lora else NodeUART(bus, spec["node_id"]),
            modem=HostModem(bus, spec["node_id"], clock, plan.get("sf", 7)) if lora else None,
            sf=plan.get("sf", 7),
        )
        identity = {
            "node_id": spec["node_id"],
            "site_id": plan["site_id"],
            "key": NodeKey(bytes.fromhex(spec["key"])),
            "uplinks": plan.get("uplinks", "enveloped"),
            "role": spec.get("role", "node"),
        }
        node = (GroundNode if identity["role"] == "ground" else Node)(board, identity, RamStore())
        node.settings.heartbeat_s = plan.get("heartbeat_s", 60)
        nodes.append((node, spec.get("silent_at_s")))

    async def run():
        running = {}
        for node, _ in nodes:
            running[node.node_id] = node.start()
        end = int(plan["duration_s"] * 1000)
        while clock.now_ms() < end:
            await clock.run(min(end, clock.now_ms() + 1000))
            for node, silent_at in nodes:
                if silent_at is not None and clock.now_ms() >= silent_at * 1000 and node.node_id in running:
                    for task in running.pop(node.node_id):  # its cable cut: it simply stops
                        task.cancel()
        for tasks in running.values():
            for task in tasks:
                task.cancel()
        await asyncio.sleep(0)

    # Scenario time 0 is when the runner says go, for every host and the runner alike:
    # building the nodes above took wall time that is nobody's simulated time.
    print("ready")
    sys.stdin.readline()
    wall0 = clock._wall0 = time.ticks_ms()
    asyncio.run(run())
    wall_s = time.ticks_diff(time.ticks_ms(), wall0) / 1000
    sent = sum(n.reports for n, _ in nodes)
    ids = [n.node_id for n, _ in nodes]
    held = sum(getattr(n.board.link, "held_back", 0) for n, _ in nodes)
    report = {"simulated_s": plan["duration_s"], "events_reported": sent, "nodes": ids, "held_back": held}
    # What each node did and holds at the end: a key rotation's check that nothing was lost.
    report["per_node"] = {
        str(n.node_id): {"reports": n.reports, "unacked": len(n.queue), "key_epoch": n.key_epoch} for n, _ in nodes
    }
    report["wall_s"] = wall_s
    report["max_lag_s"] = clock.max_lag_ms / 1000
    print(json.dumps(report))
    conn.close()
    server.close()


main(sys.argv[1])
