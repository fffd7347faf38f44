"""Downlinks on the node: forged and replayed commands are refused, across reboots too.
Runs on CPython and MicroPython."""

from device.downlink import DownlinkGuard
from protocol.body import encode_body
from protocol.keys import NodeKey
from protocol.messages import BY_NAME
from protocol.packet import seal_packet
from tests.device.stores import CountingStore

SITE_ID = 4242
KEY = NodeKey.for_node(bytes(range(32)), 7)
ACK, CONFIG, COMMAND = (BY_NAME[n].type_id for n in ("ACK", "CONFIG", "COMMAND"))
DISARM = {
    "config_id": 3,
    "set": 0b100000,
    "heartbeat_s": 0,
    "fence_threshold": 0,
    "cut_threshold": 0,
    "acoustic_snr_db": 0,
    "impact_threshold": 0,
    "armed": 0,
}


def downlink(type_id, fields, ctr, key=KEY):
    return seal_packet(key, SITE_ID, type_id, 7, ctr, encode_body(type_id, fields))


def test_a_config_is_accepted_once_and_its_replay_refused_even_after_a_reboot():
    store = CountingStore()
    disarm = downlink(CONFIG, DISARM, ctr=10)
    guard = DownlinkGuard(KEY, SITE_ID, store)
    assert guard.open(disarm).fields["armed"] == 0
    assert guard.open(disarm) is None
    rebooted = DownlinkGuard(KEY, SITE_ID, store)
    assert rebooted.open(disarm) is None and rebooted.rejected == 1


def test_acks_advance_the_counter_without_writing_flash():
    store = CountingStore()
    guard = DownlinkGuard(KEY, SITE_ID, store)
    for ctr in range(1, 6):
        assert guard.open(downlink(ACK, {"acked_ctr": 100 + ctr}, ctr)).fields["acked_ctr"] == 100 + ctr
    assert store.writes == 0 and guard.last_ctr == 5
    assert guard.open(downlink(ACK, {"acked_ctr": 1}, ctr=3)) is None  # replayed ACK
    assert guard.open(downlink(COMMAND, {"command": 2, "arg": 0}, ctr=6)).fields["command"] == 2
    assert store.values["down"] == 6


def test_forged_and_uplink_frames_are_refused():
    guard = DownlinkGuard(KEY, SITE_ID, CountingStore())
    other_key = NodeKey.for_node(bytes(32), 7)
    assert guard.open(downlink(COMMAND, {"command": 2, "arg": 0}, 1, key=other_key)) is None
    uplink = seal_packet(
        KEY,
        SITE_ID,
        BY_NAME["TAMPER"].type_id,
        7,
        2,
        encode_body(BY_NAME["TAMPER"].type_id, {"event_no": 1, "age_ds": 0, "kind": 1, "state": 1}),
    )
    assert guard.open(uplink) is None  # a node's own uplink reflected back at it
    assert guard.open(b"\x00" * 5) is None
    assert guard.rejected == 3 and guard.last_ctr is None
