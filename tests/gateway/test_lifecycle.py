"""The gateway owns its tasks as aiomqtt's client owns its connection: building one touches
nothing, `async with` opens the journal, restores state and starts every task, and leaving
the block stops them all and closes the journal, with both ends journalled."""

from pathlib import Path

from gateway.config import load
from gateway.daemon import Gateway
from gateway.evidence.journal import Journal
from tests.gateway.harness import Broker, Pty, serial, wait_until, write_site


async def test_building_a_gateway_touches_nothing_and_the_block_owns_its_tasks(tmp_path: Path, broker: Broker) -> None:
    pty = Pty(tmp_path / "ttyFENCE")
    config = load(write_site(tmp_path, broker.port, transports=serial(("fence", pty.link))))
    gateway = Gateway(config)
    assert not config.journal.exists() and gateway.transports == {}
    async with gateway:
        await wait_until(lambda: gateway.transports["fence"].state == "up" and gateway.sink.connected)
        await wait_until(lambda: gateway.metrics.address is not None)
        tasks = set(gateway._tasks)
        assert len(tasks) >= 5 and not any(t.done() for t in tasks)  # transport, sink, supervision, ...
    assert all(t.done() for t in tasks) and not gateway._tasks
    rows = [(r.kind, r.data.get("action")) for r in Journal(config.journal).entries()]
    assert ("gateway", "start") in rows and rows[-1] == ("gateway", "stop")


async def test_stop_ends_a_running_gateway(tmp_path: Path, broker: Broker) -> None:
    gateway = Gateway(load(write_site(tmp_path, broker.port)))
    async with gateway:
        gateway.stop()
        await gateway.stopped()  # returns at once: stop() was called
    assert not gateway._tasks
