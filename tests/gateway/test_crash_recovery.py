"""`kill -9` under load: whatever was acked to a node reaches the broker after a restart."""

import asyncio
import os
import random
import signal
import statistics
import sys
import time
from pathlib import Path

from tests.gateway.harness import Broker, Collector, Pty, SimNode, serial, write_site

PERIMETER = str(Path(sys.executable).with_name("perimeter"))


async def test_every_acked_event_reaches_the_broker_across_repeated_kill_9(tmp_path: Path) -> None:
    broker = Broker(tmp_path)
    broker.start()
    pty = Pty(tmp_path / "ttyNODE")
    config = write_site(tmp_path, broker.port, transports=serial(("fence", pty.link)))
    node = SimNode(1)
    event_of_ctr: dict[int, int] = {}
    acked_events: set[int] = set()
    rng = random.Random(3)
    kills = 0
    recovered_after: list[float] = []  # from each restart to the first ACK of the new gateway

    async def gateway() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            PERIMETER,
            "gateway",
            "run",
            "--config",
            str(config),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

    try:
        async with Collector(broker.port, "perimeter/test/gw/node/+/event/fence") as mqtt:
            proc = await gateway()
            for _ in range(10):  # ten kills at random moments of the load
                started = time.time()
                first_ack = None
                run_until = time.time() + rng.uniform(0.8, 1.6)
                while time.time() < run_until or (kills and first_ack is None and time.time() - started < 10):
                    ctr = node.ctr
                    if pty.write(node.fence(), drop_when_full=True):
                        event_of_ctr[ctr] = node.event_no
                    for acked in node.take_acks(pty.read()):
                        acked_events.add(event_of_ctr[acked])
                        first_ack = first_ack or time.time()
                    await asyncio.sleep(0.004)
                if kills:
                    assert first_ack is not None, "the gateway never acked again after kill %d" % kills
                    recovered_after.append(first_ack - started)
                os.kill(proc.pid, signal.SIGKILL)  # mid-load, wherever it is
                await proc.wait()
                for acked in node.take_acks(pty.read()):  # what the dead gateway acked before dying
                    acked_events.add(event_of_ctr[acked])
                kills += 1
                proc = await gateway()
            deadline = time.time() + 5
            while time.time() < deadline:  # let the last gateway catch up, acks included
                for acked in node.take_acks(pty.read()):
                    acked_events.add(event_of_ctr[acked])
                await asyncio.sleep(0.05)
            await mqtt.wait_for(lambda: acked_events <= {e["fields"]["event_no"] for e in mqtt.events()}, timeout=20)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        broker.stop()
        pty.unplug()
    published = mqtt.events()
    assert kills == 10 and len(acked_events) > 500
    assert acked_events <= {e["fields"]["event_no"] for e in published}
    ids_by_event: dict[int, set[str]] = {}
    for event in published:
        ids_by_event.setdefault(event["fields"]["event_no"], set()).add(event["event_id"])
    assert all(len(ids) == 1 for ids in ids_by_event.values())  # a duplicate always carries the same id
    print(
        "kills %d, events acked %d, published %d (%d distinct), acking again %.2f s after a restart"
        " (median, max %.2f s)"
        % (
            kills,
            len(acked_events),
            len(published),
            len(ids_by_event),
            statistics.median(recovered_after),
            max(recovered_after),
        )
    )
    verify = await asyncio.create_subprocess_exec(
        PERIMETER, "journal", "verify", "--config", str(config), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await verify.communicate()
    assert verify.returncode == 0 and b"chain intact" in out
