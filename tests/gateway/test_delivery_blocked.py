"""A selective jammer lets a node's heartbeats through and jams its events: supervision stays
"ok". The heartbeats give it away (they report the frames the node holds, and their counters
skip what was never heard), and the gateway raises a `delivery_blocked` security alarm naming
the node. Frames are built as a node builds them and fed to a gateway on a real journal."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import load
from gateway.daemon import Gateway
from gateway.evidence.journal import Journal
from gateway.ingest.delivery_watch import DeliveryWatch
from gateway.ingest.pipeline import Reception
from tests.gateway.harness import SimNode, write_site


def test_three_heartbeats_holding_frames_with_no_event_between_are_a_finding() -> None:
    watch = DeliveryWatch(heartbeats=3)
    beat = {"queued": 1}
    assert watch.heard(7, "HEARTBEAT", beat, 10) is None
    assert watch.heard(7, "HEARTBEAT", beat, 16) is None  # 5 transmissions unheard between
    detail = watch.heard(7, "HEARTBEAT", beat, 22)
    assert detail == "3 heartbeats in a row report 1 frame(s) held, and no event arrived; 10 transmissions unheard"
    assert watch.heard(7, "HEARTBEAT", beat, 23) is None  # nothing new unheard: no row per heartbeat
    assert watch.heard(7, "FENCE", {}, 24) is None  # an event got through: a new run may start
    assert [watch.heard(7, "HEARTBEAT", beat, c) for c in (25, 26, 27)][-1] is not None


def test_each_new_stretch_the_gateway_never_heard_is_a_finding_again() -> None:
    # Reported once per run, a jammer only had to outlast one operator's clear: every later
    # climb of the run went unseen until the node's queue filled (issue 31, point 4).
    watch = DeliveryWatch(heartbeats=3)
    assert [watch.heard(7, "HEARTBEAT", {"queued": 1}, c) for c in (10, 11, 12)][-1] is not None
    again = watch.heard(7, "HEARTBEAT", {"queued": 1}, 20)  # seven more transmissions jammed
    assert (
        again == "still blocked: 4 heartbeats in a row report 1 frame(s) held, and no event arrived; "
        "7 transmissions unheard"
    )
    assert watch.heard(7, "HEARTBEAT", {"queued": 2}, 21) is not None  # a new frame held (a second climb)
    assert watch.heard(7, "HEARTBEAT", {"queued": 2}, 22) is None
    assert watch.heard(7, "HEARTBEAT", {"queued": 1}, 23) is None  # fewer held: nothing new


def test_heartbeats_that_hold_nothing_or_events_that_arrive_never_raise_it() -> None:
    watch = DeliveryWatch(heartbeats=3)
    for ctr in range(1, 200, 2):
        assert watch.heard(3, "HEARTBEAT", {"queued": 0}, ctr) is None
    for ctr in range(200, 300, 2):  # an event in flight at each heartbeat, delivered each time
        assert watch.heard(3, "HEARTBEAT", {"queued": 1}, ctr) is None
        assert watch.heard(3, "FENCE", {}, ctr + 1) is None
    assert watch.heard(3, "HEARTBEAT", {"queued": 2}, 300) is None
    assert watch.heard(3, "HELLO", {}, 301) is None  # a reboot empties the node's queue
    assert watch.heard(3, "HEARTBEAT", {"queued": 2}, 302) is None


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    gateway = Gateway(load(write_site(tmp_path, 1883))).open()
    yield gateway
    gateway.journal.close()


def test_the_gateway_raises_a_security_alarm_naming_the_node(gateway: Gateway) -> None:
    node = SimNode(2)
    now = time.time()
    for beat in range(4):
        node.fence()  # built and sent, and jammed: the gateway never hears it
        node.fence()
        gateway.on_stream(node.heartbeat(queued=1), Reception("fence", now + 30 * beat))
    (alarm,) = gateway.alarms.book.open_alarms()
    assert alarm.category == "security" and (alarm.detail["kind"], alarm.detail["node_id"]) == ("delivery_blocked", 2)
    row, again = [r.data for r in Journal(gateway.config.journal).entries() if r.kind == "security"]
    assert row["node_id"] == 2 and row["alarm"] is True
    assert row["detail"].endswith("4 transmissions unheard")  # two jammed frames before each of the last two
    assert again["detail"].startswith("still blocked: ") and again["detail"].endswith("6 transmissions unheard")
    assert gateway.registry.nodes[2].supervision == "ok"  # what the jammer wanted everyone to believe


def test_a_cleared_finding_is_raised_afresh_by_the_next_stretch_of_the_jam(gateway: Gateway) -> None:
    node = SimNode(2)
    now = time.time()
    for beat in range(3):
        node.fence()  # jammed
        gateway.on_stream(node.heartbeat(queued=1), Reception("fence", now + 30 * beat))
    (first,) = gateway.alarms.book.open_alarms()
    book = gateway.alarms.book
    book.acknowledge(first.alarm_id, "j.smith", "seen", now + 70)
    book.clear(
        first.alarm_id, "j.smith", "radio checked", now + 70, "nuisance_unknown"
    )  # as if approved by a second account
    book.commit()
    node.fence()  # the next climb, jammed too
    gateway.on_stream(node.heartbeat(queued=2), Reception("fence", now + 120))
    (second,) = gateway.alarms.book.open_alarms()
    assert second.alarm_id != first.alarm_id and second.detail["kind"] == "delivery_blocked"
