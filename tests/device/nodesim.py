"""Runs a simulated node and a gateway peer together on the node's virtual clock."""

import asyncio

from device.boards.sim import Board
from device.ground_node import GroundNode
from device.hal import VirtualClock
from device.node import Node
from tests.device.peer import identity
from tests.device.signals import AudioSignal, FenceSignal, ImpactSignal


def make_node(
    store,
    peer,
    fence=None,
    audio=None,
    impact=None,
    seed=1,
    start_ms=0,
    clock=None,
    modem=None,
    key_blocks=None,
    role="node",
):
    """A node on the simulated board: on a serial line to `peer`, or on LoRa through `modem`
    (whose channel the peer listens to)."""
    clock = clock or VirtualClock(seed, start_ms)
    board = Board(
        clock,
        fence or FenceSignal(seed),
        audio or AudioSignal(seed),
        impact or ImpactSignal(seed),
        link="serial" if modem is None else "lora",
        uart=getattr(peer, "node_uart", None),
        modem=modem,
    )
    kind = GroundNode if role == "ground" else Node
    return kind(board, dict(identity(peer.node_id), role=role), store, key_blocks)


def simulate(node, peer, seconds, actions=None):
    """Run for `seconds` of simulated time (or until the node resets). `actions` is a list of
    (time ms since start, function) run by the gateway side at that time."""
    actions = list(actions or [])
    clock = node.clock
    start = clock.now_ms()

    async def gateway():
        while True:
            await clock.sleep_ms(20)
            peer.poll()
            while actions and actions[0][0] <= clock.now_ms() - start:
                actions.pop(0)[1]()

    async def main():
        tasks = node.start()
        tasks.append(asyncio.create_task(gateway()))
        until = start + seconds * 1000
        while clock.now_ms() < until and not node.board.was_reset:
            await clock.run(min(until, clock.now_ms() + 500))
        for task in tasks:
            task.cancel()
        await asyncio.sleep(0)

    asyncio.run(main())
    return node
