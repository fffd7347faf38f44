"""The serial cable pulled and pushed back twenty times while a node keeps detecting: the
transport comes back each time on its own, and every event the node was acked for reaches
the broker, once; what was sent into an unplugged cable is retransmitted and arrives too."""

import asyncio
import statistics
import time
from pathlib import Path

from tests.gateway.harness import Broker, Collector, Pty, serial, start, stop, wait_until, write_site
from tests.resilience.node import RetryingNode


async def test_twenty_unplugs_lose_no_acked_event(tmp_path: Path) -> None:
    broker = Broker(tmp_path)
    broker.start()
    pty = Pty(tmp_path / "ttyNODE")
    config = write_site(tmp_path, broker.port, transports=serial(("fence", pty.link)))
    node = RetryingNode(1, pty)
    back_after: list[float] = []
    try:
        async with Collector(broker.port, "perimeter/test/gw/node/+/event/fence") as mqtt:
            gateway, task = await start(config)
            fence = gateway.transports["fence"]
            for _ in range(20):
                for _ in range(3):
                    node.detect()
                    await asyncio.sleep(0.05)
                    node.tick()
                pty.unplug()
                await wait_until(lambda: fence.state == "down", 5)  # noqa: B023
                node.detect()  # into a dead cable
                await asyncio.sleep(0.2)
                pty.plug()
                plugged = time.time()
                await wait_until(lambda: fence.state == "up", 5)  # noqa: B023
                back_after.append(time.time() - plugged)
            deadline = time.time() + 15
            while node.pending and time.time() < deadline:
                await asyncio.sleep(0.1)
                node.tick()
            assert not node.pending, sorted(node.pending)
            await mqtt.wait_for(lambda: {e["fields"]["event_no"] for e in mqtt.events()} >= node.acked, 20)
            await stop(gateway, task)
    finally:
        pty.unplug()
        broker.stop()
    published = [e["fields"]["event_no"] for e in mqtt.events()]
    print(
        "20 unplugs: %d events, back up after %.2f s median, %.2f s at most; reconnects %d"
        % (len(node.detected), statistics.median(back_after), max(back_after), fence.reconnects)
    )
    assert set(published) == node.acked == node.detected and len(published) == len(set(published))
    assert fence.reconnects == 20  # (how fast it comes back is the perf stage's: test_gateway_e2e)
