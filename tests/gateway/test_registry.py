"""Node registry and supervision timers, on a clock the test holds."""

from gateway.ingest.registry import COMM_FAIL, OK, NodeRegistry
from protocol.messages import BY_NAME

HELLO, HEARTBEAT, TAMPER = (BY_NAME[n].type_id for n in ("HELLO", "HEARTBEAT", "TAMPER"))
HB = {
    "battery_mv": 3700,
    "temperature_dc": 200,
    "status": 0b10,
    "downlink_rssi_dbm": -90,
    "fence_floor": 1,
    "acoustic_floor": 2,
    "impact_floor": 3,
    "queued": 0,
    "uptime_s": 1,
}


def test_node_falls_into_comm_fail_after_k_missed_heartbeats_and_is_restored_by_the_next_frame() -> None:
    registry = NodeRegistry(missed_heartbeats=3, default_heartbeat_s=30)
    registry.add(7, "north-07", None, now=0.0)
    registry.heard(7, HEARTBEAT, HB, [{"transport": "tty"}], now=10.0)
    assert registry.check(99.9) == []
    (change,) = registry.check(100.0)
    assert (change.node_id, change.state, change.silent_s) == (7, COMM_FAIL, 90.0)
    assert registry.check(200.0) == []  # reported once
    _, restored, _ = registry.heard(7, HEARTBEAT, HB, [{"transport": "tty"}], now=250.0)
    assert [(c.state, c.silent_s) for c in restored] == [(OK, 240.0)]  # silent since the frame at 10 s


def test_a_node_that_never_speaks_fails_too() -> None:
    registry = NodeRegistry(missed_heartbeats=3, default_heartbeat_s=20)
    registry.add(1, "n1", None, now=1000.0)
    assert [c.node_id for c in registry.check(1060.0)] == [1]


def test_hello_sets_the_heartbeat_interval_unless_the_config_fixes_it() -> None:
    registry = NodeRegistry(missed_heartbeats=2, default_heartbeat_s=30)
    registry.add(1, "n1", None, now=0.0)
    registry.add(2, "n2", 60, now=0.0)
    hello = {
        "fw_major": 1,
        "fw_minor": 2,
        "fw_patch": 3,
        "boot_count": 9,
        "reset_cause": 3,
        "capabilities": 1,
        "heartbeat_s": 10,
        "config_id": 0,
    }
    node, _, changes = registry.heard(1, HELLO, hello, [], now=0.0)
    registry.heard(2, HELLO, hello, [], now=0.0)
    assert node.heartbeat_s == 10 and registry.nodes[2].heartbeat_s == 60
    assert (node.firmware, node.boot_count, node.reset_cause) == ("1.2.3", 9, "watchdog")
    assert set(changes) == {"firmware", "boot_count"}
    assert [c.node_id for c in registry.check(20.0)] == [1]


def test_tamper_from_heartbeat_flags_or_tamper_events_is_a_state_change() -> None:
    registry = NodeRegistry()
    registry.add(1, "n1", None, now=0.0)
    _, _, changes = registry.heard(1, HEARTBEAT, dict(HB, status=0b11), [], now=1.0)
    assert "tamper" in changes and registry.nodes[1].tamper
    _, _, changes = registry.heard(1, TAMPER, {"event_no": 1, "age_ds": 0, "kind": 1, "state": 0}, [], now=2.0)
    assert changes == ["tamper"] and not registry.nodes[1].tamper
