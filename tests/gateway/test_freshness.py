"""Withheld frames: an attacker jams the gateway while he records a node's frames, then plays
them back. The counter cannot tell (nobody heard them), but the envelope carries the node's
boot and clock at transmission, and the gateway anchors each node's clock to its own: a frame
played late is journalled as late, raises a `late_frame` security alarm and never restores
the node from comm-fail. A frame the node itself sent late (an event that waited in its
queue) is not late: it was sealed afresh when it went out."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import load
from gateway.daemon import Gateway
from gateway.evidence.journal import Journal
from gateway.ingest.freshness import Freshness
from gateway.ingest.pipeline import Reception
from tests.gateway.harness import SimNode, write_site


def test_a_frame_is_late_when_its_offset_rises_above_the_anchor() -> None:
    fresh = Freshness(late_after_s=30)
    assert fresh.check(4, 1, 0, 1000.0) is None  # the first frame anchors: offset 1000 s
    assert fresh.check(4, 1, 600, 1060.5) is None  # 60 s later by both clocks, 0.5 s on air
    assert fresh.check(4, 1, 1200, 1400.0) == pytest.approx(280.0, abs=0.1)  # played 280 s late
    assert fresh.check(4, 1, 3000, 1300.0) is None  # the late frame did not move the anchor


def test_frames_without_an_envelope_are_never_judged() -> None:
    fresh = Freshness()
    assert fresh.check(4, None, None, 1000.0) is None
    assert fresh.check(4, None, None, 99999.0) is None


def test_a_reboot_anchors_afresh() -> None:
    fresh = Freshness(late_after_s=30)
    assert fresh.check(4, 1, 864000, 1000.0) is None  # a day since boot
    assert fresh.check(4, 2, 50, 1010.0) is None  # rebooted: its clock starts again


def test_a_node_clock_running_slow_by_100_ppm_for_a_week_is_never_late() -> None:
    fresh = Freshness(late_after_s=30, drift_ppm=200)
    for beat in range(7 * 24 * 60):  # a heartbeat a minute
        gateway_s = 1000.0 + 60 * beat
        node_ds = int(beat * 600 * (1 - 100e-6))
        assert fresh.check(4, 1, node_ds, gateway_s + 0.4) is None, beat


def test_delays_under_the_limit_cannot_walk_the_anchor_forward() -> None:
    fresh = Freshness(late_after_s=30, drift_ppm=200)
    fresh.check(4, 1, 0, 1000.0)
    late = None
    for k in range(1, 20):  # each frame held 25 s more than the one before
        late = fresh.check(4, 1, 600 * k, 1000.0 + 60 * k + 25 * k)
        if late is not None:
            break
    assert late is not None and k == 2


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    gateway = Gateway(load(write_site(tmp_path, 1883, heartbeat_s=30))).open()
    yield gateway
    gateway.journal.close()


def _beat(gateway: Gateway, node: SimNode, t0: float, node_s: float, delay_s: float = 0.3) -> None:
    node.clock_s = node_s
    gateway.on_stream(node.heartbeat(), Reception("fence", t0 + node_s + delay_s))


def test_withheld_frames_played_back_raise_an_alarm_and_do_not_restore_the_node(gateway: Gateway) -> None:
    node = SimNode(2)
    node.boot = 5
    t0 = time.time()
    node.clock_s = 0.0
    gateway.on_stream(node.hello(boot_count=5), Reception("fence", t0 + 0.3))
    for k in range(1, 4):
        _beat(gateway, node, t0, 30.0 * k)
    # The jammer starts: the node goes on sending, the attacker records, nobody hears.
    recorded = []
    for k in range(4, 12):
        node.clock_s = 30.0 * k
        recorded.append(node.heartbeat())
        if k == 6:
            node.clock_s = 200.0
            recorded.append(node.fence())  # a climb at 200 s
    gateway.check_supervision(t0 + 400)
    assert gateway.registry.nodes[2].supervision == "comm_fail"
    # Ten minutes later he plays them back, to pass off a dead node as alive.
    for i, data in enumerate(recorded):
        gateway.on_stream(data, Reception("fence", t0 + 900 + i))
    assert gateway.registry.nodes[2].supervision == "comm_fail"  # not restored by old news
    rows = list(Journal(gateway.config.journal).entries())
    (finding,) = [r.data for r in rows if r.kind == "security"]  # one report per node a minute
    assert finding["kind"] == "late_frame" and finding["node_id"] == 2 and finding["alarm"] is True
    assert "played 780 s after node 2 sent it" in finding["detail"]  # the first: sent at 120 s
    (event,) = [r.data for r in rows if r.kind == "event"]
    assert event["late_s"] == pytest.approx(702.7, abs=0.5)  # the climb, recorded as late (less drift allowed)
    gateway.check_supervision(t0 + 910)  # the climb's fence window has closed
    open_kinds = {(a.category, a.detail.get("kind")) for a in gateway.alarms.book.open_alarms()}
    assert ("security", "late_frame") in open_kinds and ("intrusion", "climb") in open_kinds
    # The node itself, heard again, is restored.
    _beat(gateway, node, t0, 900.0)
    assert gateway.registry.nodes[2].supervision == "ok"


def test_an_event_the_node_sent_late_is_not_late(gateway: Gateway) -> None:
    node = SimNode(3)
    node.boot = 1
    t0 = time.time()
    _beat(gateway, node, t0, 0.0)
    node.clock_s = 600.0  # held in the node's queue for 10 min (the link was down), then sent
    packet = node.fence_packet()
    gateway.on_packet(packet, Reception("fence", t0 + 600.4))
    rows = list(Journal(gateway.config.journal).entries())
    assert [r for r in rows if r.kind == "security"] == []
    (event,) = [r.data for r in rows if r.kind == "event"]
    assert "late_s" not in event


def test_a_gateway_restart_gives_withheld_frames_no_free_pass(tmp_path: Path) -> None:
    config = load(write_site(tmp_path, 1883, heartbeat_s=30))
    node = SimNode(2)
    node.boot = 1
    t0 = time.time()
    gateway = Gateway(config).open()
    _beat(gateway, node, t0, 0.0)
    _beat(gateway, node, t0, 30.0)
    gateway.journal.close()
    node.clock_s = 60.0
    recorded = node.heartbeat()  # sent while the gateway was down (or jammed), and recorded
    restarted = Gateway(config).open()  # the anchor comes back with the node's saved state
    try:
        restarted.on_stream(recorded, Reception("fence", t0 + 600))
        rows = [r.data for r in Journal(config.journal).entries() if r.kind == "security"]
        assert [r["kind"] for r in rows] == ["late_frame"]
    finally:
        restarted.journal.close()
