"""Alarms end to end with real parts: a climb framed into a pseudo-terminal becomes a
retained alarm on a real Mosquitto; an operator acknowledges, clears and masks over the
request/response topics; a new climb escalates an acknowledged alarm; an expired mask is
itself alarmed; every step is in the hash-chained journal with the operator's name, and
`perimeter journal verify` fails once any row is edited or deleted."""

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main as cli
from gateway.daemon import Gateway
from gateway.evidence.export import export_text
from gateway.evidence.journal import Journal
from protocol.messages import BY_ID, DOWN
from protocol.packet import open_packet
from tests.gateway.harness import (
    NODES,
    PERIMETER,
    SITE_ID,
    Broker,
    Console,
    Pty,
    SimNode,
    retained,
    serial,
    start,
    stop,
    wait_until,
    write_site,
)


class Desk:
    """The security office on MQTT: an operator, a supervisor and an engineer, each at a
    console of their own."""

    def __init__(self, operator: Console, supervisor: Console, engineer: Console) -> None:
        self.operator, self.supervisor, self.engineer = operator, supervisor, engineer

    async def request(self, command: str, /, **fields: Any) -> dict[str, Any]:
        return await self.operator.request(command, **fields)

    async def approved(self, asked: dict[str, Any]) -> dict[str, Any]:
        """A supervisor approves what waits for a second account."""
        assert asked["status"] == "pending", asked
        return await self.supervisor.request("approve", request_id=asked["data"]["request_id"])


@pytest.fixture
async def site(tmp_path: Path, broker: Broker) -> AsyncIterator[tuple[Gateway, Pty, Desk, Path]]:
    pty = Pty(tmp_path / "ttyFENCE")
    config = write_site(tmp_path, broker.port, transports=serial(("fence", pty.link)), nodes=NODES, extra=PERIMETER)
    gateway, task = await start(config)
    async with (
        Console(broker.port, "j.smith") as operator,
        Console(broker.port, "s.jones") as supervisor,
        Console(broker.port, "e.wright") as engineer,
    ):
        await wait_until(lambda: gateway.sink.listening, 10)
        yield gateway, pty, Desk(operator, supervisor, engineer), config
    await stop(gateway, task)
    pty.unplug()


async def one_alarm(port: int, state: str) -> dict[str, Any]:
    deadline = time.time() + 10
    while True:
        alarms = [a for a in (await retained(port)).values() if a["state"] == state]
        if alarms or time.time() > deadline:
            assert len(alarms) == 1, alarms
            return alarms[0]


async def test_the_alarm_lifecycle_is_visible_on_retained_topics_and_in_the_journal(
    site: tuple[Gateway, Pty, Desk, Path], broker: Broker
) -> None:
    gateway, pty, desk, config = site
    node = SimNode(2)  # at 45 m, zone "north"
    pty.write(node.fence(peak=3000))
    alarm = await one_alarm(broker.port, "active")
    assert alarm["category"] == "intrusion" and alarm["zone"] == "north" and alarm["location_m"] == 45.0

    refused = await desk.request("ack", alarm_id=alarm["alarm_id"])  # no note
    assert refused["status"] == "error" and "note" in refused["error"]
    acked = await desk.request("ack", alarm_id=alarm["alarm_id"], note="camera 3: man on the fence")
    assert acked["status"] == "ok" and acked["transaction"] == "j.smith-t2"
    alarm = await one_alarm(broker.port, "acknowledged")
    assert alarm["acknowledged_by"] == "j.smith"

    pty.write(node.fence(peak=3100))  # he climbs again
    alarm = await one_alarm(broker.port, "active")
    assert alarm["escalations"] == 1 and len(alarm["evidence"]) == 2

    assert (await desk.request("ack", alarm_id=alarm["alarm_id"], note="response team sent"))["status"] == "ok"
    # Escalated, it is severity 1 now: clearing it takes a second account.
    assert alarm["severity"] == 1
    assert (
        await desk.approved(
            await desk.request("clear", alarm_id=alarm["alarm_id"], note="detained", reason="intrusion")
        )
    )["status"] == "ok"
    deadline = time.time() + 10
    while await retained(broker.port) and time.time() < deadline:
        pass  # each look takes half a second
    assert await retained(broker.port) == {}  # the cleared alarm's retained message is gone

    asked = await desk.request("mask", zone="north", reason="fence repair, works order 5521", minutes=0.03)
    assert asked["status"] == "pending" and await retained(broker.port) == {}  # nothing masked yet
    masked = await desk.approved(asked)
    assert masked["status"] == "ok" and masked["data"]["result"]["approved_by"] == "s.jones"
    pty.write(node.fence(peak=3000))  # the repair crew shakes the fence: recorded, not alarmed
    await asyncio.sleep(0.8)
    assert await retained(broker.port) == {}
    expired = await one_alarm(broker.port, "active")  # the mask ran out, nobody lifted it
    assert expired["category"] == "mask_expired" and expired["zone"] == "north"

    journal = Journal(gateway.config.journal, durable=False)
    rows = list(journal.entries())
    operator = [r.data for r in rows if r.kind == "operator"]
    assert [(o["command"], o["status"], o["operator"]) for o in operator] == [
        ("ack", "error", "j.smith"),
        ("ack", "ok", "j.smith"),
        ("ack", "ok", "j.smith"),
        ("clear", "pending", "j.smith"),
        ("approve", "ok", "s.jones"),
        ("mask", "pending", "j.smith"),
        ("approve", "ok", "s.jones"),
    ]
    assert operator[-1]["requested_by"] == "j.smith" and operator[-1]["approved_by"] == "s.jones"
    actions = [r.data["action"] for r in rows if r.kind == "alarm"]
    assert actions == ["raised", "acknowledged", "escalated", "acknowledged", "cleared", "raised"]
    assert sum(1 for r in rows if r.kind == "event") == 3  # the masked climb is journalled too

    # The export hands an incident over whole: alarms, their evidence, who did what, the chain.
    lines = [json.loads(line) for line in export_text(journal).splitlines()]
    exported_events = {line["event_id"] for line in lines if line.get("kind") == "event"}
    alarm_rows = [line for line in lines if line.get("kind") == "alarm"]
    assert alarm_rows and all(set(r["data"]["alarm"]["evidence"]) <= exported_events for r in alarm_rows)
    assert sum(1 for line in lines if line.get("kind") == "operator") == 7
    assert lines[-1] == {"chain_head": journal.head, "rows": len(lines) - 1}
    journal.close()


def test_journal_verify_fails_after_an_alarm_row_is_edited_or_deleted(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite", durable=False)
    for action in ("raised", "acknowledged", "cleared"):
        journal.append("alarm", {"action": action, "operator": "j.smith", "alarm": {"alarm_id": "a1"}})
    journal.commit()
    journal.close()
    assert cli(["journal", "verify", "--journal", str(tmp_path / "j.sqlite")]) == 0
    edited = tmp_path / "edited.sqlite"
    deleted = tmp_path / "deleted.sqlite"
    for copy in (edited, deleted):
        copy.write_bytes((tmp_path / "j.sqlite").read_bytes())
    with sqlite3.connect(edited) as db:
        db.execute("UPDATE journal SET data = replace(data, 'j.smith', 'nobody') WHERE seq = 2")
    with sqlite3.connect(deleted) as db:
        db.execute("DELETE FROM journal WHERE seq = 2")
    assert cli(["journal", "verify", "--journal", str(edited)]) == 1
    assert cli(["journal", "verify", "--journal", str(deleted)]) == 1


def downlinks(node: SimNode, data: bytes) -> list[tuple[str, dict[str, int]]]:
    """What the gateway sent a node, verified and decrypted with the node's own key."""
    node.deframer.feed(data)
    got = []
    while (packet := node.deframer.next_packet()) is not None:
        opened = open_packet(node.key, SITE_ID, packet, DOWN)
        got.append((BY_ID[opened.type_id].name, opened.fields))
    return got


async def test_operators_configure_nodes_and_start_a_walk_test_by_downlink(
    site: tuple[Gateway, Pty, Desk, Path], broker: Broker
) -> None:
    gateway, pty, desk, _ = site
    node = SimNode(3)
    pty.write(node.heartbeat())
    await wait_until(lambda: gateway.registry.nodes[3].last_seen is not None, 10)
    pty.read()

    walk = await desk.approved(await desk.engineer.request("walk_test", node_id=3, minutes=30))
    assert walk["status"] == "ok", walk
    got: list[tuple[str, dict[str, int]]] = []
    await wait_until(lambda: bool(got.extend(downlinks(node, pty.read())) or got), 5)
    assert got == [("COMMAND", {"command": 4, "arg": 1800})]
    pty.write(node.fence(peak=3000))  # the installer climbs the fence to test it
    await wait_until(lambda: any(name == "ACK" for name, _ in downlinks(node, pty.read())), 5)
    await asyncio.sleep(0.5)  # past the fence window
    gateway.check_supervision()
    assert gateway.alarms.book.open_alarms() == []  # a test, not an alarm
    journal = Journal(gateway.config.journal, durable=False)
    assert [r.data.get("test") for r in journal.entries() if r.kind == "event"] == [True]
    journal.close()

    config = await desk.approved(await desk.engineer.request("node_config", node_id=3, armed=False, heartbeat_s=60))
    assert config["status"] == "ok", config
    got.clear()
    await wait_until(lambda: bool(got.extend(downlinks(node, pty.read())) or got), 5)
    name, fields = got[0]
    assert name == "CONFIG" and fields["set"] == 0b100001 and fields["armed"] == 0 and fields["heartbeat_s"] == 60

    silent = await desk.engineer.request("node_command", node_id=4, command="ping")  # never heard: no route
    assert silent["status"] == "error" and "not been heard" in silent["error"]
    bad = await desk.engineer.request("node_config", node_id=3, fence_threshold=70000)
    assert bad["status"] == "error" and "fence_threshold" in bad["error"]
    journal = Journal(gateway.config.journal, durable=False)
    commands = [(r.data["command"], r.data["status"]) for r in journal.entries() if r.kind == "operator"]
    journal.close()
    assert commands == [
        ("walk_test", "pending"),
        ("approve", "ok"),
        ("node_config", "pending"),
        ("approve", "ok"),
        ("node_command", "error"),
        ("node_config", "error"),
    ]
