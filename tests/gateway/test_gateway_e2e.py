"""The gateway end to end with real parts: pseudo-terminals, a real Mosquitto, SQLite files."""

import asyncio
import json
import logging
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway.clock import ScaledClock
from gateway.config import load
from gateway.daemon import Gateway
from gateway.evidence.journal import Journal
from gateway.ingest.pipeline import Reception
from tests.gateway.harness import Broker, Collector, Pty, SimNode, serial, start, stop, wait_until, write_site


@pytest.fixture
def pty(tmp_path: Path) -> Iterator[Pty]:
    p = Pty(tmp_path / "ttyNODE")
    yield p
    p.unplug()


@pytest.fixture
async def running(tmp_path: Path, broker: Broker, pty: Pty) -> AsyncIterator[tuple[Gateway, Path]]:
    config = write_site(tmp_path, broker.port, transports=serial(("fence", pty.link)))
    gateway, task = await start(config)
    yield gateway, config
    await stop(gateway, task)


async def test_frame_written_into_a_pty_reaches_mosquitto_sub_as_event_json(
    running: tuple[Gateway, Path], broker: Broker, pty: Pty
) -> None:
    gateway, _ = running
    sub = subprocess.Popen(
        [
            shutil.which("mosquitto_sub") or "mosquitto_sub",
            "-p",
            str(broker.port),
            "-v",
            "-C",
            "1",
            "-t",
            "perimeter/test/gw/node/+/event/#",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    await asyncio.sleep(0.3)  # let mosquitto_sub subscribe
    node = SimNode(2)
    pty.write(node.fence(peak=2345))
    out, _ = await asyncio.to_thread(sub.communicate, timeout=10)
    topic, _, payload = out.strip().partition(" ")
    event = json.loads(payload)
    assert topic == "perimeter/test/gw/node/2/event/fence"
    assert event["event_id"] == "test:2:0:1" and event["fields"]["peak"] == 2345
    assert event["labels"]["class"] == "climb" and event["schema"] == "perimeter.event/1"
    assert event["receptions"] == [{"transport": "fence"}]


async def test_ack_goes_back_down_the_pty_only_after_the_event_is_journalled(
    running: tuple[Gateway, Path], pty: Pty
) -> None:
    gateway, _ = running
    node = SimNode(1)
    pty.write(node.fence())
    acked: list[int] = []
    await wait_until(lambda: bool(acked.extend(node.take_acks(pty.read())) or acked), 5)
    assert acked == [1]
    assert Journal(gateway.config.journal).has_event("test:1:0:1")


async def test_retransmitted_event_is_acked_again_but_published_once(
    running: tuple[Gateway, Path], broker: Broker, pty: Pty
) -> None:
    gateway, _ = running
    node = SimNode(3)
    async with Collector(broker.port) as mqtt:
        pty.write(node.fence(event_no=7))
        pty.write(node.fence(event_no=7))  # same event, fresh ctr: a retransmission
        acked: list[int] = []
        await wait_until(lambda: bool(acked.extend(node.take_acks(pty.read()))) or len(acked) >= 2, 5)
        await mqtt.wait_for(lambda: len(mqtt.events()) >= 1)
        await wait_until(lambda: gateway.journal.outbox_depth() == 0)  # all it meant to publish is out
    assert acked == [1, 2]
    assert len(mqtt.events()) == 1 and gateway.counters["retransmits"] == 1
    assert [r.kind for r in gateway.journal.entries()].count("event") == 1


async def test_forged_replayed_and_unknown_frames_are_rejected_counted_and_reported(
    running: tuple[Gateway, Path], broker: Broker, pty: Pty
) -> None:
    gateway, _ = running
    node = SimNode(1)
    forger = SimNode(1, site_key=bytes(32))  # right id, wrong key: random tags
    stranger = SimNode(999)
    async with Collector(broker.port) as mqtt:
        genuine = node.fence()
        pty.write(genuine)
        await mqtt.wait_for(lambda: len(mqtt.events()) == 1)
        pty.write(genuine)  # replay of a captured frame
        pty.write(forger.fence())
        pty.write(stranger.fence())
        await mqtt.wait_for(lambda: len(mqtt.events("security")) >= 3)
    counters = gateway.pipeline.counters["fence"]
    assert (counters["replay"], counters["bad_tag"], counters["unknown_node"]) == (1, 1, 1)
    kinds = sorted(e["kind"] for e in mqtt.events("security"))
    assert kinds == ["bad_tag", "replay", "unknown_node"]
    assert len(mqtt.events()) == 1  # only the genuine event was published
    alarmed = sorted(a.detail["kind"] for a in gateway.alarms.book.open_alarms() if a.category == "security")
    assert alarmed == ["bad_tag", "replay", "unknown_node"]  # each is someone at work on the link
    metrics = gateway.metrics.text()
    assert 'perimeter_frames_total{result="bad_tag",transport="fence"} 1.0' in metrics


async def test_findings_about_two_nodes_in_one_read_are_both_journalled_with_their_messages(
    running: tuple[Gateway, Path], broker: Broker, pty: Pty
) -> None:
    gateway, config = running
    async with Collector(broker.port) as mqtt:
        # Forged frames claiming two of the site's nodes, back to back: one read, one batch.
        pty.write(SimNode(1, site_key=bytes(32)).fence() + SimNode(2, site_key=bytes(32)).fence())
        await mqtt.wait_for(lambda: len(mqtt.events("security")) >= 2)
    published = sorted((e["node_id"], e["event_id"]) for e in mqtt.events("security"))
    journal = Journal(config.parent / "journal.sqlite")
    rows = sorted((r.node_id, r.event_id) for r in journal.entries() if r.kind == "security")
    assert rows == published and len({event_id for _, event_id in rows}) == 2
    assert [node for node, _ in rows] == [1, 2]


def test_a_security_finding_carries_one_time_the_gateways_clock(tmp_path: Path, broker: Broker) -> None:
    # The scenario runner installs a simulated clock: the row, its data, its id and its
    # alarm all take their time from it, not one from it and one from the wall.
    clock = ScaledClock(1.0, origin=1_700_000_000.0)  # not started: it stands at its origin
    gateway = Gateway(load(write_site(tmp_path, broker.port)), clock).open()
    gateway.on_stream(SimNode(1, site_key=bytes(32)).fence(), Reception("fence", clock.now()))
    gateway.journal.close()
    journal = Journal(tmp_path / "journal.sqlite")
    row = next(r for r in journal.entries() if r.kind == "security")
    assert row.ts == row.data["ts"] == "2023-11-14T22:13:20.000Z"
    assert row.event_id == "test:security:bad_tag:1:fence:1700000000000"
    alarm = next(r for r in journal.entries() if r.kind == "alarm")
    assert alarm.ts == row.ts and alarm.data["alarm"]["raised_at"] == 1_700_000_000.0


async def test_repeated_bad_tags_for_one_node_raise_a_substitution_alarm(
    running: tuple[Gateway, Path], broker: Broker, pty: Pty
) -> None:
    forger = SimNode(2, site_key=bytes(32))
    async with Collector(broker.port) as mqtt:
        for _ in range(5):
            pty.write(forger.fence())
        await mqtt.wait_for(lambda: any(e["kind"] == "substitution" for e in mqtt.events("security")))
    alarm = next(e for e in mqtt.events("security") if e["kind"] == "substitution")
    assert alarm["alarm"] is True and alarm["node_id"] == 2


async def test_replay_is_rejected_across_a_gateway_restart(tmp_path: Path, broker: Broker, pty: Pty) -> None:
    config = write_site(tmp_path, broker.port, transports=serial(("fence", pty.link)))
    node = SimNode(1)
    captured = node.fence()
    gateway, task = await start(config)
    # Until the ACK comes back the frame may not be durable yet: a gateway stopped before its
    # commit rightly takes the node's retransmission as new. So restart only after the ACK,
    # retransmitting meanwhile as the node would (a slow commit on a loaded machine).
    acked: list[int] = []
    for _attempt in range(4):
        pty.write(captured)
        try:
            await wait_until(lambda: bool(acked.extend(node.take_acks(pty.read())) or acked), 5)
            break
        except AssertionError:
            continue
    assert acked, "no ACK after 4 transmissions: %s" % gateway.pipeline.counters["fence"]
    assert gateway.pipeline.counters["fence"]["frames_ok"] >= 1
    await stop(gateway, task)
    gateway, task = await start(config)
    pty.write(captured)
    await wait_until(lambda: gateway.pipeline.counters["fence"]["replay"] == 1)
    await stop(gateway, task)


async def test_silent_node_goes_comm_fail_within_its_window_and_is_restored(
    tmp_path: Path, broker: Broker, pty: Pty
) -> None:
    config = write_site(
        tmp_path, broker.port, transports=serial(("fence", pty.link)), nodes=[1], heartbeat_s=1, missed=2
    )
    node = SimNode(1)
    async with Collector(broker.port) as mqtt:
        gateway, task = await start(config)
        pty.write(node.heartbeat())
        await wait_until(lambda: gateway.registry.nodes[1].last_seen is not None)
        await mqtt.wait_for(lambda: len(mqtt.events("supervision")) == 1, timeout=6)
        pty.write(node.heartbeat())
        await mqtt.wait_for(lambda: len(mqtt.events("supervision")) == 2, timeout=5)
        await stop(gateway, task)
    states = [e["state"] for e in mqtt.events("supervision")]
    assert states == ["comm_fail", "ok"]
    # Silent for 2 missed heartbeats of 1 s, on the gateway's own clock (checked every 0.5 s).
    assert 2.0 <= mqtt.events("supervision")[0]["silent_s"] < 2.6
    availability = [p for t, p, _ in mqtt.messages if t == "perimeter/test/gw/node/1/availability"]
    assert b"offline" in availability and availability[-1] == b"online"


@pytest.mark.perf
async def test_serial_unplug_is_reported_and_reconnected_within_2_s_while_tcp_keeps_serving(
    tmp_path: Path, broker: Broker, pty: Pty, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="perimeter.transport")
    received: list[bytes] = []

    async def simulator(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tcp_writer.append(writer)
        while data := await reader.read(4096):
            received.append(data)

    tcp_writer: list[asyncio.StreamWriter] = []
    server = await asyncio.start_server(simulator, "127.0.0.1", 0)
    tcp_port = server.sockets[0].getsockname()[1]
    transports = dict(serial(("fence", pty.link)), tcp=[{"name": "sim", "host": "127.0.0.1", "port": tcp_port}])
    config = write_site(tmp_path, broker.port, transports=transports)
    async with Collector(broker.port) as mqtt:
        gateway, task = await start(config)
        pty.unplug()
        await wait_until(lambda: gateway.transports["fence"].state == "down", 5)
        assert 'perimeter_transport_up{kind="serial",transport="fence"} 0.0' in gateway.metrics.text()
        # Meanwhile the TCP transport still carries frames.
        tcp_node = SimNode(3)
        await wait_until(lambda: bool(tcp_writer))
        tcp_writer[0].write(tcp_node.fence())
        await mqtt.wait_for(lambda: any(e["node_id"] == 3 for e in mqtt.events()))
        await asyncio.sleep(1.5)  # stay unplugged a while: several reconnect attempts fail
        pty.plug()
        plugged = time.time()
        await wait_until(lambda: gateway.transports["fence"].state == "up", 5)
        reconnected_after = time.time() - plugged
        pty.write(SimNode(1).fence())
        await mqtt.wait_for(lambda: any(e["node_id"] == 1 for e in mqtt.events()))
        await mqtt.wait_for(
            lambda: any(t.endswith("bridge/transport/fence") and b'"down"' in p for t, p, _ in mqtt.messages)
        )
        await stop(gateway, task)
    server.close()
    print("serial back up %.2f s after the port reappeared" % reconnected_after)
    assert reconnected_after < 2.0
    assert gateway.transports["fence"].reconnects == 1
    logged = [r.getMessage() for r in caplog.records if r.name == "perimeter.transport"]
    assert any(m.startswith("transport=fence kind=serial state=down") for m in logged), logged
    assert any(m.startswith("transport=fence kind=serial state=up") for m in logged), logged


async def test_broker_outage_of_60_s_loses_no_event_and_delivers_in_order(
    tmp_path: Path, broker: Broker, pty: Pty
) -> None:
    config = write_site(tmp_path, broker.port, transports=serial(("fence", pty.link)))
    node = SimNode(1)
    async with Collector(broker.port, "perimeter/test/gw/node/+/event/fence") as mqtt:
        gateway, task = await start(config)
        await wait_until(lambda: gateway.sink.connected)
        for _ in range(20):
            pty.write(node.fence())
        await mqtt.wait_for(lambda: len(mqtt.events()) == 20)
        broker.stop()
        outage_started = time.time()
        sent_during_outage = 0
        while time.time() - outage_started < 60:
            pty.write(node.fence())
            sent_during_outage += 1
            await asyncio.sleep(0.5)
        await wait_until(lambda: gateway.journal.outbox_depth() == sent_during_outage, 5)
        broker.start()
        try:
            await mqtt.wait_for(lambda: len(mqtt.events()) >= 20 + sent_during_outage, timeout=30)
        except AssertionError as exc:
            got = sorted(e["fields"]["event_no"] for e in mqtt.events())
            raise AssertionError(
                "outbox depth %d, sink published %d, received %s"
                % (gateway.journal.outbox_depth(), gateway.sink.published, got)
            ) from exc
        await stop(gateway, task)
    events = mqtt.events()
    numbers = [e["fields"]["event_no"] for e in events]
    first_arrivals = list(dict.fromkeys(numbers))
    assert sent_during_outage >= 100
    assert first_arrivals == list(range(1, 21 + sent_during_outage)), first_arrivals  # none lost, in order
    # At-least-once: messages whose PUBACK was still on its way when the broker died come
    # again after it restarts, and a repeat always carries the event_id of the original.
    ids = {}
    for event in events:
        assert ids.setdefault(event["fields"]["event_no"], event["event_id"]) == event["event_id"]
    print(
        "before outage 20, during 60 s outage %d, delivered %d distinct, %d repeats"
        % (sent_during_outage, len(first_arrivals), len(numbers) - len(first_arrivals))
    )
    assert gateway.sink.reconnects >= 1


async def test_event_number_reused_for_a_different_event_is_not_taken_for_a_retransmission(
    running: tuple[Gateway, Path], broker: Broker, pty: Pty
) -> None:
    # The node rebooted and restarted its event numbers, and its HELLO was lost: event 1
    # again, but another event. It must be published, not dropped as a repeat.
    gateway, _ = running
    node = SimNode(2)
    async with Collector(broker.port) as mqtt:
        pty.write(node.fence(peak=1000, event_no=1))
        pty.write(node.fence(peak=1000, event_no=1))  # a true retransmission
        pty.write(node.fence(peak=4000, event_no=1))  # a new event with a reused number
        await mqtt.wait_for(lambda: len(mqtt.events()) == 2)
        await asyncio.sleep(0.3)
    events = mqtt.events()
    assert [e["fields"]["peak"] for e in events] == [1000, 4000] and len(events) == 2
    assert events[0]["event_id"] != events[1]["event_id"] and gateway.counters["retransmits"] == 1
