"""What the node's frames say on air: sealed in an ENVELOPE with the node's boot and its clock
at each transmission, padded to one length where the site asks, and an alarm that goes
unanswered escalated. Runs on CPython and MicroPython."""

from device.counter import FrameCounter
from device.delivery import ALARM, HEARTBEAT, LOW, DeliveryQueue
from protocol.keys import NodeKey
from protocol.messages import BY_NAME, UP
from protocol.packet import open_packet
from tests.device.stores import CountingStore
from tests.device.test_delivery import climb, heartbeat

SITE_ID = 4242
KEY = NodeKey.for_node(bytes(range(32)), 7)
FENCE = BY_NAME["FENCE"].type_id
TAMPER = BY_NAME["TAMPER"].type_id
HEARTBEAT_TYPE = BY_NAME["HEARTBEAT"].type_id
ENVELOPE_TYPE = BY_NAME["ENVELOPE"].type_id


def queue(uplinks="enveloped", boot=3):
    return DeliveryQueue(
        KEY, SITE_ID, 7, FrameCounter(CountingStore()), lambda limit: 0, base_ms=1000, uplinks=uplinks, boot=boot
    )


def looks(packet):
    """What a jammer sees as the frame starts: its length and the clear first byte."""
    return len(packet), packet[0]


def test_every_frame_goes_in_an_envelope_with_the_boot_and_the_clock_at_transmission():
    q = queue()
    q.submit(FENCE, climb(1), ALARM, True, now_ms=5000)
    first = q.next_frame(5000)
    assert (first[0] >> 1) & 0x1F == ENVELOPE_TYPE and first[0] & 1 == 0  # type and ack_req hidden
    opened = open_packet(KEY, SITE_ID, first, UP)
    assert opened.type_id == FENCE and opened.ack_req and (opened.boot, opened.sent_ds) == (3, 50)
    again = open_packet(KEY, SITE_ID, q.next_frame(6000), UP)  # retransmitted: sealed afresh
    assert again.sent_ds == 60 and again.fields["event_no"] == 1


def test_enveloped_unpadded_a_heartbeat_is_still_told_from_a_climb_by_its_length():
    q = queue()
    q.submit(HEARTBEAT_TYPE, heartbeat(), HEARTBEAT, False, now_ms=0)
    q.submit(FENCE, climb(1), ALARM, True, now_ms=0)
    climb_frame, beat = q.next_frame(0), q.next_frame(0)
    assert looks(climb_frame) != looks(beat)


def test_padded_every_uplink_looks_the_same_on_air():
    q = queue("padded")
    q.submit(HEARTBEAT_TYPE, heartbeat(), HEARTBEAT, False, now_ms=0)
    q.submit(FENCE, climb(1), ALARM, True, now_ms=0)
    q.submit(TAMPER, {"event_no": 2, "age_ds": 0, "kind": 1, "state": 1}, ALARM, True, now_ms=0)
    frames = [q.next_frame(0) for _ in range(3)]
    assert len(set(looks(f) for f in frames)) == 1
    kinds = sorted(open_packet(KEY, SITE_ID, f, UP).type_id for f in frames)
    assert kinds == sorted([HEARTBEAT_TYPE, FENCE, TAMPER])


def test_bare_frames_are_as_firmware_0_4_sent_them():
    q = queue("bare")
    q.submit(FENCE, climb(1), ALARM, True, now_ms=0)
    frame = q.next_frame(0)
    assert (frame[0] >> 1) & 0x1F == FENCE and open_packet(KEY, SITE_ID, frame, UP).sent_ds is None


def test_an_alarm_unanswered_three_times_is_escalated_before_newer_alarms():
    q = queue()
    q.submit(FENCE, climb(1), ALARM, True, now_ms=0)
    sent = []
    now = 0
    while len(sent) < 4:
        frame = q.next_frame(now)
        if frame is not None:
            sent.append(q.escalated)
        now += 100
    assert sent == [False, False, False, True]  # the fourth try goes escalated (another channel)
    now += 10000  # the first climb is due again, and two newer ones came meanwhile
    q.submit(FENCE, climb(2), ALARM, True, now_ms=now)
    q.submit(FENCE, climb(3), ALARM, True, now_ms=now)
    first = open_packet(KEY, SITE_ID, q.next_frame(now), UP)
    assert first.fields["event_no"] == 1 and q.escalated  # the old, unanswered climb goes first


def test_a_rattle_unanswered_is_never_escalated():
    q = queue()
    q.submit(FENCE, dict(climb(1), **{"class": 3}), LOW, True, now_ms=0)
    now, sent = 0, []
    while len(sent) < 5:
        if q.next_frame(now) is not None:
            sent.append(q.escalated)
        now += 100
    assert sent == [False] * 5
