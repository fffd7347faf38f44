"""Firmware in the loop: real `device/` nodes on the MicroPython unix port, on one bus.

    micropython -X heapsize=1M simulators/firmware_host.py PLAN.json

Run by `simulators.runner`, not by hand. Every node in the plan is the real firmware
(`device.node.Node`) on the simulated board, its sensors replaying the sample files the
runner synthesized for its place on the fence. The nodes share one TCP connection, as nodes
share an RS-485 bus: the host listens on the plan's port, the gateway's `tcp` transport
connects to it, and frames go both ways unchanged. Simulated time is paced against the wall
clock at the plan's speed, so the real gateway's own timers (fence window, supervision) see
the same time the nodes do when the speed is 1.
"""

import asyncio
import json
import socket
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 2)[0] if __file__.count("/") >= 2 else ".")

from device.boards.sim import Board, FileSource  # noqa: E402
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
    """The shared line: what any node writes goes to the gateway; what the gateway sends
    is routed to the node its packet names."""

    def __init__(self, conn):
        self.conn = conn
        self.deframer = Deframer()
        self.inboxes = {}

    def pump(self):
        try:
            data = self.conn.recv(1024)
        except OSError:
            data = None
        if data:
            self.deframer.feed(data)
        packet = self.deframer.next_packet()
        while packet is not None:
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


class PacedClock(VirtualClock):
    """Virtual time that never runs ahead of the wall clock times `speed`."""

    def __init__(self, speed, seed=1):
        VirtualClock.__init__(self, seed)
        self.speed = speed
        self._wall0 = time.ticks_ms()

    async def run(self, until_ms):
        while self._now < until_ms and not self.stopped:
            await asyncio.sleep(0)
            target = min(min(self._deadlines), until_ms) if self._deadlines else until_ms
            if target > self._now:
                ahead = int(target / self.speed) - time.ticks_diff(time.ticks_ms(), self._wall0)
                if ahead > 0:
                    time.sleep_ms(ahead)
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
    bus = Bus(conn)
    clock = PacedClock(plan["speed"], plan.get("seed", 1))
    nodes = []
    for spec in plan["nodes"]:
        board = Board(
            clock,
            FileSource(spec["fence"], channels=3),
            FileSource(spec["audio"]),
            FileSource(spec["impact"], signed=False),
            uart=NodeUART(bus, spec["node_id"]),
        )
        identity = {"node_id": spec["node_id"], "site_id": plan["site_id"], "key": NodeKey(bytes.fromhex(spec["key"]))}
        node = Node(board, identity, RamStore())
        node.settings.heartbeat_s = spec.get("heartbeat_s", 30)
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

    asyncio.run(run())
    sent = sum(n.reports for n, _ in nodes)
    ids = [n.node_id for n, _ in nodes]
    print(json.dumps({"simulated_s": plan["duration_s"], "events_reported": sent, "nodes": ids}))
    conn.close()
    server.close()


main(sys.argv[1])
