"""The node's delivery queue: alarms are retransmitted with fresh counters until acked, and
a full queue gives up heartbeats and rattles before alarms. Runs on CPython and MicroPython."""

from device.counter import FrameCounter
from device.delivery import ALARM, HEARTBEAT, LOW, DeliveryQueue
from protocol.keys import NodeKey
from protocol.messages import BY_NAME, UP
from protocol.packet import open_packet
from tests.device.stores import CountingStore

SITE_ID = 4242
KEY = NodeKey.for_node(bytes(range(32)), 7)
FENCE = BY_NAME["FENCE"].type_id
HEARTBEAT_TYPE = BY_NAME["HEARTBEAT"].type_id


def climb(event_no):
    return {
        "event_no": event_no,
        "age_ds": 0,
        "class": 1,
        "peak": 900,
        "noise_floor": 30,
        "pulses": 8,
        "duration_ds": 20,
    }


def rattle(event_no):
    return {
        "event_no": event_no,
        "age_ds": 0,
        "class": 3,
        "peak": 200,
        "noise_floor": 30,
        "pulses": 1,
        "duration_ds": 1,
    }


def heartbeat():
    return {
        "battery_mv": 3700,
        "temperature_dc": 100,
        "status": 0,
        "downlink_rssi_dbm": -128,
        "fence_floor": 1,
        "acoustic_floor": 2,
        "impact_floor": 3,
        "queued": 0,
        "uptime_s": 1,
    }


def queue(capacity=8, jitter=0):
    return DeliveryQueue(
        KEY,
        SITE_ID,
        7,
        FrameCounter(CountingStore()),
        lambda limit: min(jitter, limit - 1),
        capacity=capacity,
        base_ms=1000,
        max_ms=8000,
    )


def opened(packet):
    return open_packet(KEY, SITE_ID, packet, UP)


def test_an_alarm_goes_out_again_with_a_fresh_counter_until_it_is_acked():
    q = queue()
    q.submit(FENCE, climb(1), ALARM, True, now_ms=0)
    first = opened(q.next_frame(0))
    assert first.ack_req and first.fields["event_no"] == 1
    assert q.next_frame(999) is None  # waiting for the ACK
    second = opened(q.next_frame(1000))
    assert second.ctr > first.ctr and second.fields["event_no"] == 1
    assert q.on_ack(second.ctr) and len(q) == 0
    assert q.next_frame(100000) is None


def test_an_ack_of_an_earlier_transmission_also_delivers_the_event():
    q = queue()
    q.submit(FENCE, climb(1), ALARM, True, now_ms=0)
    first = opened(q.next_frame(0))
    q.next_frame(1000)
    assert q.on_ack(first.ctr) and len(q) == 0
    assert not q.on_ack(first.ctr)  # a late duplicate ACK is harmless


def test_backoff_doubles_up_to_its_cap_with_jitter_on_top():
    q = queue(jitter=300)
    q.submit(FENCE, climb(1), ALARM, True, now_ms=0)
    sent_at = []
    now = 0
    while len(sent_at) < 6:
        if q.next_frame(now) is not None:
            sent_at.append(now)
        now += 10
    gaps = [sent_at[i + 1] - sent_at[i] for i in range(len(sent_at) - 1)]
    assert gaps == [1300, 2300, 4300, 8300, 8300]  # 1, 2, 4, 8 s, capped at 8 s; +300 ms jitter


def test_age_at_transmission_grows_while_the_event_waits():
    q = queue()
    q.submit(FENCE, climb(1), ALARM, True, now_ms=5000)
    assert opened(q.next_frame(5000)).fields["age_ds"] == 0
    assert opened(q.next_frame(6500)).fields["age_ds"] == 15


def test_heartbeats_go_out_once_and_are_not_kept():
    q = queue()
    q.submit(HEARTBEAT_TYPE, heartbeat(), HEARTBEAT, False, now_ms=0)
    assert not opened(q.next_frame(0)).ack_req
    assert len(q) == 0 and q.wake_ms() is None


def test_alarms_go_before_heartbeats_and_rattles():
    q = queue()
    q.submit(HEARTBEAT_TYPE, heartbeat(), HEARTBEAT, False, now_ms=0)
    q.submit(FENCE, rattle(1), LOW, False, now_ms=0)
    q.submit(FENCE, climb(2), ALARM, True, now_ms=0)
    order = [opened(q.next_frame(0)).type_id for _ in range(3)]
    assert order == [FENCE, FENCE, HEARTBEAT_TYPE]


def test_a_full_queue_drops_heartbeats_and_rattles_before_any_alarm():
    q = queue(capacity=3)
    assert q.submit(HEARTBEAT_TYPE, heartbeat(), HEARTBEAT, False, now_ms=0)
    assert q.submit(FENCE, rattle(1), LOW, False, now_ms=0)
    assert q.submit(FENCE, climb(2), ALARM, True, now_ms=0)
    assert q.submit(FENCE, climb(3), ALARM, True, now_ms=0)  # pushes out the heartbeat
    assert q.submit(FENCE, climb(4), ALARM, True, now_ms=0)  # pushes out the rattle
    assert not q.submit(FENCE, climb(5), ALARM, True, now_ms=0)  # alarms never push out alarms
    assert not q.submit(FENCE, rattle(6), LOW, False, now_ms=0)
    assert q.dropped == 4
    numbers = sorted(opened(q.next_frame(0)).fields["event_no"] for _ in range(3))
    assert numbers == [2, 3, 4]


def test_wake_time_is_the_earliest_due_message():
    q = queue()
    assert q.wake_ms() is None
    q.submit(FENCE, climb(1), ALARM, True, now_ms=100)
    q.next_frame(100)
    assert q.wake_ms() == 1100
