"""Ten simulated minutes of a whole node, for the memory check, on the 32-bit node
interpreter (`perimeter node build --board unix32`), where this harness and the node are
frozen as a board's code is, so their bytecode takes no heap:

    micropython -X heapsize=64k -m tests.device.ten_minutes [SECONDS] [ground]   (in an empty folder)

Wind all along; a climb, a drone, a thrown package, a cut and a knock at scripted times; a
gateway peer that acknowledges. With `ground`, a ground node (its geophone only): three
packages landing, someone walking past, a vehicle's rumble. Samples the live heap (after a collection) every simulated
second and prints one JSON line with the peak, what the gateway received, and the time.
"""

import asyncio
import gc
import json
import sys
import time

sys.path.insert(0, ".")

from device.app import collect_often  # noqa: E402
from device.boards.sim import Board  # noqa: E402
from device.hal import VirtualClock  # noqa: E402
from device.node import Node  # noqa: E402
from tests.device.peer import GatewayPeer, identity  # noqa: E402
from tests.device.signals import AudioSignal, FenceSignal, ImpactSignal  # noqa: E402
from tests.device.stores import CountingStore  # noqa: E402

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 600
GROUND = len(sys.argv) > 2 and sys.argv[2] == "ground"


def main():
    collect_often()  # as the board's boot does
    baseline = gc.mem_alloc()
    peer = GatewayPeer()
    clock = VirtualClock(3)
    fence = FenceSignal(11, wind_mps=6).climb(120.0).cut(300.0).knock(450.0)
    audio = AudioSignal(12, noise_rms=300).drone(203, 1200, start_s=200, stop_s=230)
    impact = ImpactSignal(13).package(400.0)
    kind = Node
    if GROUND:  # imported only here: a module's objects take heap, and the full node has 8 KB spare
        from device.ground_node import GroundNode
        from tests.device.geophone import GeophoneSignal

        kind = GroundNode
        impact = GeophoneSignal(13).package(100.0, 450).package(300.0, 200).package(500.0, 900)
        impact = impact.walker(200.0, 30.0, 450).rumble(400.0, 40.0, 250)
    board = Board(clock, fence, audio, impact, uart=peer.node_uart)
    node = kind(board, dict(identity(), role="ground" if GROUND else "node"), CountingStore())
    node.settings.heartbeat_s = 60
    peak = [0]
    received = {}

    async def gateway_and_probe():
        tick = 0
        while True:
            await clock.sleep_ms(20)
            peer.poll()
            # The harness keeps counts, not the frames: its heap is not the node's.
            for name, fields, _ctr, _ack in peer.received:
                key = name if name not in ("FENCE", "ACOUSTIC") else "%s:%d" % (name, fields["class"])
                received[key] = received.get(key, 0) + 1
            peer.received.clear()
            tick += 1
            if tick % 50 == 0:
                gc.collect()
                used = gc.mem_alloc()
                if used > peak[0]:
                    peak[0] = used

    async def run():
        tasks = node.start()
        tasks.append(asyncio.create_task(gateway_and_probe()))
        await clock.run(SECONDS * 1000)
        for task in tasks:
            task.cancel()
        await asyncio.sleep(0)

    started = time.ticks_ms()
    asyncio.run(run())
    wall = time.ticks_diff(time.ticks_ms(), started) / 1000
    print(
        json.dumps(
            {
                "simulated_s": SECONDS,
                "wall_s": wall,
                "peak_heap_bytes": peak[0],
                "heap_before_node_bytes": baseline,
                "received": received,
                "queued_at_end": len(node.queue),
                "watchdog_feeds": board.watchdog.feeds,
                "fifo_samples_lost": board.i2c.lost,
            }
        )
    )


main()
