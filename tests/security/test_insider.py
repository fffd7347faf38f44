"""An insider against a site as `perimeter site init` writes it: a real Mosquitto with the
site's password file and ACL, the real gateway, accounts added with `perimeter operator add`.
Each attack issue 18 reproduced against the earlier gateway is tried again here and is now
refused, alarmed or journalled:

- an anonymous client cannot publish a request at all; an operator cannot publish under
  another account's name, nor name another operator inside a request;
- a request left retained on the broker is refused, at once and again after a restart;
- disarming a node and a walk test wait for a supervisor; a tamper and a climb meanwhile
  raise their alarms; an approved walk test still never hides a tamper;
- an approved mask silences the zone's fence alarms but not a tamper;
- a heartbeat interval beyond the site's limit is refused, and a node reporting one in its
  HELLO raises a security alarm and is supervised at the limit;
- a note holding a lone surrogate is refused with its reason and changes nothing;
- a mask written into the retained-state table by hand is not obeyed at the next start, and
  an open alarm deleted from it is back; a counter rewound or a heartbeat raised in the
  saved state by hand changes nothing.
"""

import asyncio
import json
import sqlite3
import time
from typing import Any

import aiomqtt
import pytest

from gateway.alarming.request_guard import fresh
from tests.gateway.harness import SimNode, start, stop, wait_until
from tests.security.secured_site import PASSWORD, PREFIX, SITE_ID, SecuredSite, heard, tamper


async def test_an_anonymous_client_cannot_even_connect_and_nobody_acts_under_another_name(site: SecuredSite) -> None:
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client("127.0.0.1", site.port, identifier="anonymous") as client:
            await client.publish(PREFIX + "/bridge/request/s.jones/mask", b"{}", qos=1)
    async with site.console("j.smith") as smith:
        # Under the supervisor's name: the broker's ACL drops it; the gateway never hears it.
        await smith.send("mask", fresh({"zone": "north", "minutes": 60, "reason": "x"}, time.time()), "s.jones")
        # Naming the supervisor inside a request on his own topic: refused, under his own name.
        answer = await smith.request("ack", operator="s.jones", alarm_id="x", note="seen")
        assert answer["error"] == "this request comes from j.smith: it cannot act as 's.jones'"
    rows = site.operator_rows()
    assert [(r["operator"], r["command"], r["status"]) for r in rows] == [("j.smith", "ack", "error")]


async def test_a_retained_request_is_never_carried_out_not_even_after_a_restart(site: SecuredSite) -> None:
    async with site.console("m.chief") as chief:
        body = fresh({"zone": "north", "minutes": 60, "reason": "left retained"}, time.time())
        await chief.send("mask", body, retain=True)
        await wait_until(lambda: len(site.operator_rows()) == 1, 10)
    assert site.gateway is not None and site.task is not None
    await stop(site.gateway, site.task)
    site.gateway, site.task = await start(site.config)  # the broker hands the retained request over again
    await wait_until(lambda: len(site.operator_rows()) == 2, 10)
    first, again = site.operator_rows()
    # Heard live, a retained publish looks like any other (MQTT clears the flag for subscribers
    # already there): fresh and from its own account, it was asked for, and waited for approval.
    assert first["status"] == "pending"
    # What the broker hands over at every later connection is refused: before, it masked the zone.
    assert again["error"] == "a retained request is never carried out: publish requests without retain"
    assert site.gateway.alarms.book.masks == {} and site.gateway.desk.approvals.pending == {}


async def test_disarming_and_a_walk_test_wait_for_a_supervisor_and_a_tamper_is_never_a_test(
    site: SecuredSite,
) -> None:
    node = SimNode(2)  # at 45 m, zone "north"
    await heard(site, node.heartbeat())
    async with site.console("e.wright") as wright, site.console("m.chief") as chief:
        disarm = await wright.request("node_config", node_id=2, armed=False)
        walk = await wright.request("walk_test", node_id=2, minutes=30)
        assert disarm["status"] == walk["status"] == "pending"
        assert "CONFIG" not in downlinked(node, site) and "COMMAND" not in downlinked(node, site)  # nothing sent
        await heard(site, tamper(node), node.fence(peak=3000))
        assert site.alarms() == [("intrusion", "north"), ("tamper", "north")]  # the old attack: 0 alarms

        approved = await chief.request("approve", request_id=walk["data"]["request_id"])
        assert approved["status"] == "ok" and approved["data"]["result"]["type"] == "command"
    assert site.gateway is not None
    for alarm in site.gateway.alarms.book.open_alarms():  # the office deals with both
        site.gateway.alarms.book.acknowledge(alarm.alarm_id, "m.chief", "x", time.time())
        site.gateway.alarms.book.clear(alarm.alarm_id, "m.chief", "x", time.time(), "test")
    site.gateway.alarms.book.commit()
    await heard(site, node.fence(peak=3000))  # the installer climbs to test: a test, no alarm
    assert site.alarms() == []
    await heard(site, tamper(node))  # the box opened: always an alarm
    assert site.alarms() == [("tamper", "north")]


def downlinked(node: SimNode, site: SecuredSite) -> list[str]:
    from protocol.messages import BY_ID, DOWN
    from protocol.packet import open_packet

    node.deframer.feed(site.pty.read())
    names = []
    while (packet := node.deframer.next_packet()) is not None:
        names.append(BY_ID[open_packet(node.key, SITE_ID, packet, DOWN).type_id].name)
    return names


async def test_an_approved_mask_silences_the_fence_but_never_a_tamper(site: SecuredSite) -> None:
    events: list[dict[str, Any]] = []
    async with (
        aiomqtt.Client("127.0.0.1", site.port, identifier="watch", username="v.brown", password=PASSWORD) as watch,
        site.console("j.smith") as smith,
        site.console("s.jones") as jones,
    ):
        await watch.subscribe(PREFIX + "/bridge/event/supervisory", qos=1)
        asked = await smith.request("mask", zone="north", minutes=60, reason="fence repair, works order 5521")
        assert (await jones.request("approve", request_id=asked["data"]["request_id"]))["status"] == "ok"
        async with asyncio.timeout(10):
            async for message in watch.messages:  # published as it happens, with both names
                events.append(json.loads(message.payload))  # type: ignore[arg-type]
                break
    assert events[0]["what"] == "mask_started" and (events[0]["by"], events[0]["approved_by"]) == ("j.smith", "s.jones")
    node = SimNode(1)
    await heard(site, node.fence(peak=3000))
    assert site.alarms() == []  # the repair crew shakes the fence
    await heard(site, tamper(node))
    assert site.alarms() == [("tamper", "north")]
    rows = site.operator_rows()
    assert (rows[-1]["operator"], rows[-1]["requested_by"], rows[-1]["approved_by"]) == (
        "s.jones",
        "j.smith",
        "s.jones",
    )


async def test_limits_and_text_an_insider_could_abuse_are_refused(site: SecuredSite) -> None:
    node = SimNode(3)
    await heard(site, node.heartbeat(), node.fence(peak=3000))
    assert site.gateway is not None
    (alarm,) = site.gateway.alarms.book.open_alarms()
    async with site.console("e.wright") as wright, site.console("j.smith") as smith:
        slow = await wright.request("node_config", node_id=3, heartbeat_s=65535)
        assert "'heartbeat_s' above 300 s" in slow["error"]  # 54.6 h unsupervised, before
        long_mask = await smith.request("mask", zone="east", minutes=7 * 24 * 60, reason="x")
        assert "up to 720 (the site's limit)" in long_mask["error"]
        body = fresh({"alarm_id": alarm.alarm_id, "note": "\ud800", "transaction": "bad"}, time.time())
        await smith.client.publish(PREFIX + "/bridge/request/j.smith/ack", json.dumps(body).encode(), qos=1)
        await wait_until(lambda: "bad" in smith.responses, 10)
        assert smith.responses["bad"]["error"] == "request.note holds text that is not valid Unicode"
    assert site.gateway.alarms.book.alarms[alarm.alarm_id].state == "active"
    assert site.gateway.journal.verify().ok
    # A node re-configured round the gateway (over USB) says so in its HELLO: alarmed, and
    # supervised at the site's limit all the same.
    await heard(site, SimNode(4).hello(heartbeat_s=65535))
    assert ("security", "east") in site.alarms() and site.gateway.registry.nodes[4].heartbeat_s == 300
    (finding,) = [e.data for e in site.gateway.journal.entries() if e.kind == "security"]
    assert finding["kind"] == "heartbeat_over_limit" and "above the site's 300 s" in finding["detail"]


async def test_a_mask_written_into_the_retained_table_by_hand_is_not_obeyed(site: SecuredSite) -> None:
    async with site.console("j.smith") as smith, site.console("s.jones") as jones:
        asked = await smith.request("mask", zone="east", minutes=60, reason="fence repair, works order 5521")
        assert (await jones.request("approve", request_id=asked["data"]["request_id"]))["status"] == "ok"
    assert site.gateway is not None and site.task is not None
    await stop(site.gateway, site.task)
    forged = {"zone": "north", "operator": "governor.smith", "reason": "x", "until": time.time() + 86400}
    with sqlite3.connect(site.journal_path) as db:  # as an insider on the gateway host would
        db.execute(
            "INSERT INTO retained (topic, payload, version) VALUES (?, ?, 999999)",
            (PREFIX + "/mask/north", json.dumps(forged).encode()),
        )
    site.gateway, site.task = await start(site.config)
    now = time.time()
    assert not site.gateway.alarms.book.masked("north", now)  # before: the zone was silenced
    assert site.gateway.alarms.book.masked("east", now)  # the approved one, which the chain holds
    found = [e.data for e in site.gateway.journal.entries() if e.kind == "security"]
    assert [(f["kind"], f["zone"]) for f in found] == [("untrusted_mask", "north")]
    await heard(site, SimNode(1).fence(peak=3000))
    assert site.alarms() == [("intrusion", "north")]


async def test_an_open_alarm_deleted_from_the_retained_table_is_back_at_the_next_start(site: SecuredSite) -> None:
    await heard(site, SimNode(2).fence(peak=3000))
    assert site.alarms() == [("intrusion", "north")]
    assert site.gateway is not None and site.task is not None
    await stop(site.gateway, site.task)
    with sqlite3.connect(site.journal_path) as db:  # the insider hides the alarm
        db.execute("DELETE FROM retained WHERE topic LIKE ?", (PREFIX + "/alarm/%",))
    site.gateway, site.task = await start(site.config)
    assert site.alarms() == [("intrusion", "north")]  # rebuilt from the chain ...
    with sqlite3.connect(site.journal_path) as db:  # ... and published again
        assert db.execute("SELECT COUNT(*) FROM retained WHERE topic LIKE ?", (PREFIX + "/alarm/%",)).fetchone() == (1,)


async def test_a_counter_lowered_or_a_heartbeat_raised_by_hand_changes_nothing(site: SecuredSite) -> None:
    climb = SimNode(3).fence(peak=3000)
    await heard(site, climb)
    assert site.gateway is not None and site.task is not None
    await stop(site.gateway, site.task)
    with sqlite3.connect(site.journal_path) as db:  # the insider rewinds node 3's counter ...
        db.execute("UPDATE counters SET last_up = 0 WHERE node_id = 3")
        saved = json.loads(db.execute("SELECT state FROM nodes WHERE node_id = 3").fetchone()[0])
        saved["heartbeat_s"] = 65535  # ... and makes it unsupervised for 18 h in the saved node state
        db.execute("UPDATE nodes SET state = ? WHERE node_id = 3", (json.dumps(saved),))
    site.gateway, site.task = await start(site.config)
    counters = site.gateway.pipeline.counters["fence"]
    assert site.gateway.registry.nodes[3].heartbeat_s <= 300
    site.pty.write(climb)  # recorded off the air earlier, played again
    await wait_until(lambda: counters["replay"] == 1, 10)
    assert counters["frames_ok"] == 0
