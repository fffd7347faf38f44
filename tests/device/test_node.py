"""A whole node on the simulated board, talking to a gateway peer over a serial line:
HELLO at boot, alarms delivered and retransmitted until acked, heartbeats, the counter kept
across a reboot, CONFIG and COMMAND obeyed, replays and forgeries refused, the watchdog
starved by a dead task. Runs on CPython and MicroPython."""

import sys

from device.keyslot import MemoryBlocks, read_key
from device.node import FAULT_ACCELEROMETER, FAULT_MICROPHONE
from protocol import x25519
from protocol.key_agreement import agreed_key, offer_check, public_fields, public_from_fields
from protocol.keys import NodeKey, derive_node_key, key_fields
from tests.device.geophone import GeophoneSignal
from tests.device.nodesim import make_node, simulate
from tests.device.peer import GatewayPeer
from tests.device.signals import AudioSignal, ConstantSignal, FenceSignal, ImpactSignal
from tests.device.stores import CountingStore


def booted(store=None, **signals):
    peer = GatewayPeer()
    node = make_node(store if store is not None else CountingStore(), peer, **signals)
    return node, peer


def test_the_node_says_hello_at_boot_with_ack_req_and_the_ack_clears_it():
    node, peer = booted()
    simulate(node, peer, 2)
    hello = peer.of("HELLO")
    assert len(hello) == 1 and hello[0][3] is True, peer.received
    assert hello[0][1]["boot_count"] == 1 and hello[0][1]["heartbeat_s"] == 60
    assert len(node.queue) == 0


def test_a_climb_reaches_the_gateway_as_an_acked_climb_alarm():
    node, peer = booted(fence=FenceSignal(6).climb(3.0))
    simulate(node, peer, 10)
    fence = peer.of("FENCE")
    assert [f[1]["class"] for f in fence] == [1], peer.received
    assert fence[0][3] is True and fence[0][1]["event_no"] == 1
    assert len(node.queue) == 0


def test_a_drone_and_a_package_reach_the_gateway():
    node, peer = booted(audio=AudioSignal(3).drone(203, 1500), impact=ImpactSignal(3).package(4.0))
    simulate(node, peer, 8)
    drone = peer.of("ACOUSTIC")
    assert drone and drone[0][1]["class"] == 1 and abs(drone[0][1]["fundamental_hz"] - 203) <= 8, peer.received
    assert len(peer.of("IMPACT")) == 1, peer.received


def test_a_package_heard_landing_reaches_the_gateway_as_a_thud_with_its_level():
    node, peer = booted(audio=AudioSignal(3).thud(12.0, 8000))
    simulate(node, peer, 16)
    thud = peer.of("THUD")
    assert len(thud) == 1 and thud[0][3] is True, peer.received
    assert thud[0][1]["level_db"] >= thud[0][1]["floor_db"] + 10, thud


def test_a_ground_node_runs_its_geophone_alone_and_reports_a_landing_as_an_impact():
    # Its board has no accelerometer nor microphone: a dead one there must not matter.
    node, peer = booted(
        role="ground",
        audio=ConstantSignal(0),
        impact=GeophoneSignal(3).package(8.0, strength=450).walker(20.0, 10.0, strength=450),
    )

    def unplug_and_test():
        node.board.i2c.present = False
        peer.send("COMMAND", {"command": 3, "arg": 0})

    simulate(node, peer, 65, [(1000, unplug_and_test)])
    hello = peer.of("HELLO")[0][1]
    assert hello["capabilities"] & 0b111 == 0b100, hello  # the impact channel only
    impacts = peer.of("IMPACT")
    assert len(impacts) == 1 and impacts[0][3] is True, peer.received  # the landing, not the walker
    assert 1000 <= impacts[0][1]["peak"] <= 2000, impacts
    assert peer.of("FAULT") == [], peer.received
    beat = peer.of("HEARTBEAT")[-1][1]
    assert beat["fence_floor"] == 0 and beat["acoustic_floor"] == 0 and 5 <= beat["impact_floor"] <= 40, beat
    assert sorted(node.supervisor.names) == ["heartbeat", "housekeeping", "impact", "link"]


def test_an_unacked_alarm_is_retransmitted_with_fresh_counters_until_acked():
    node, peer = booted(fence=FenceSignal(6).climb(3.0))
    peer.ack = False

    def resume():
        peer.ack = True

    simulate(node, peer, 40, [(20000, resume)])
    fence = peer.of("FENCE")
    assert len(fence) >= 3, peer.received  # sent, then again after 2 s, 4 s, 8 s ...
    ctrs = [f[2] for f in fence]
    assert ctrs == sorted(set(ctrs)), ctrs  # every copy has its own, higher counter
    assert set(f[1]["event_no"] for f in fence) == {1}
    assert len(node.queue) == 0 and peer.rejected == 0


def test_heartbeats_come_at_the_configured_interval_with_the_noise_floors():
    node, peer = booted()
    node.settings.heartbeat_s = 20
    simulate(node, peer, 45)
    beats = peer.of("HEARTBEAT")
    assert len(beats) == 2, peer.names()
    assert beats[0][3] is False and beats[0][1]["battery_mv"] > 3800
    assert beats[0][1]["status"] & 2  # armed


def test_the_frame_counter_and_boot_count_survive_a_commanded_reboot():
    store = CountingStore()
    node, peer = booted(store)
    simulate(node, peer, 30, [(3000, lambda: peer.send("COMMAND", {"command": 2, "arg": 0}))])
    assert node.board.was_reset
    before = peer.last_ctr
    node = make_node(store, peer)  # the same stored state, a new process
    simulate(node, peer, 3)
    hello = peer.of("HELLO")
    assert [h[1]["boot_count"] for h in hello] == [1, 2], hello
    assert hello[-1][2] > before and peer.rejected == 0


def test_a_replayed_reboot_command_is_refused_after_the_reboot():
    store = CountingStore()
    node, peer = booted(store)
    captured = []

    def reboot():
        captured.append(peer.send("COMMAND", {"command": 2, "arg": 0}))

    simulate(node, peer, 10, [(2000, reboot)])
    assert node.board.was_reset
    node = make_node(store, peer)

    def replay():
        peer.uart.write(__import__("protocol.framing").framing.encode_frame(captured[0]))

    simulate(node, peer, 10, [(2000, replay)])
    assert not node.board.was_reset and node.downlinks.rejected == 1


def test_config_changes_thresholds_and_arming_and_survives_a_reboot():
    store = CountingStore()
    node, peer = booted(store, fence=FenceSignal(6).climb(5.0))
    config = {
        "config_id": 9,
        "set": 0b100001,  # heartbeat_s and armed
        "heartbeat_s": 15,
        "fence_threshold": 0,
        "cut_threshold": 0,
        "acoustic_snr_db": 0,
        "impact_threshold": 0,
        "armed": 0,
    }
    simulate(node, peer, 40, [(1000, lambda: peer.send("CONFIG", config))])
    assert node.settings.heartbeat_s == 15 and node.settings.armed == 0
    assert node.settings.fence_threshold == 48  # not in `set`: unchanged
    assert peer.of("FENCE") == [], peer.names()  # disarmed: the climb is not reported
    assert peer.of("HELLO")[-1][1]["config_id"] == 9
    assert len(peer.of("HEARTBEAT")) >= 2
    node = make_node(store, peer)
    assert node.settings.heartbeat_s == 15 and node.settings.armed == 0 and node.settings.config_id == 9


GATEWAY_SECRET = bytes(range(1, 33))


def offer(peer, epoch=1):
    public = x25519.public_key(GATEWAY_SECRET)
    return lambda: peer.send("KEYOFFER", dict(public_fields("g", public), epoch=epoch))


def agree_on_ack(peer, node_id=7, epoch=1):
    """The gateway's side: once it has acked the node's KEYX, it hears the node on the key
    both derive (what `gateway/ingest/recorder.py` does with the cryptography library)."""
    public = x25519.public_key(GATEWAY_SECRET)

    def after_ack(entry):
        if entry[0] == "KEYX":
            assert entry[1]["offer"] == offer_check(public) and entry[1]["epoch"] == epoch
            node_public = public_from_fields("n", entry[1])
            shared = x25519.shared_secret(GATEWAY_SECRET, node_public)
            peer.key = NodeKey(agreed_key(shared, node_id, epoch, public, node_public))

    peer.after_ack = after_ack


def test_a_key_offer_is_answered_and_the_node_moves_to_the_agreed_key_for_good():
    store = CountingStore()
    flash = MemoryBlocks()
    peer = GatewayPeer()
    node = make_node(store, peer, fence=FenceSignal(6).climb(6.0), key_blocks=flash)
    agree_on_ack(peer)
    simulate(node, peer, 14, [(1000, offer(peer)), (3000, offer(peer))])  # offered twice: answered once
    assert len(peer.of("KEYX")) == 1, peer.names()
    assert peer.of("FENCE") and peer.rejected == 0  # the climb came under the agreed key, and was acked
    assert len(node.queue) == 0 and read_key(flash) == (1, peer.key.k_enc + peer.key.k_mac)
    assert "key" not in store.values  # on flash outside the file system, not in state.json
    node = make_node(store, peer, key_blocks=flash)  # rebooted: still on the new key, never the deployed one
    assert node.key_epoch == 1 and node.queue._key.k_mac == peer.key.k_mac


def test_the_node_keeps_its_key_until_the_gateway_acknowledges_its_answer():
    flash = MemoryBlocks()
    peer = GatewayPeer(ack=False)  # the answer never acknowledged: the gateway may not hold the key
    node = make_node(CountingStore(), peer, key_blocks=flash)
    simulate(node, peer, 12, [(1000, offer(peer))])
    answers = peer.of("KEYX")
    assert len(answers) >= 2 and len({a[1]["n0"] for a in answers}) == 1  # sent again, the same half
    assert node.key_epoch == 0 and read_key(flash) is None and peer.rejected == 0


def test_a_key_handed_over_in_a_rekey_is_ignored():
    node, peer = booted()
    handed = dict(key_fields(derive_node_key(bytes(range(100, 132)), 7)), epoch=1)
    simulate(node, peer, 4, [(1000, lambda: peer.send("REKEY", handed))])
    assert node.key_epoch == 0 and node.queue._key.k_mac == peer.key.k_mac and peer.of("KEYX") == []


def test_a_forged_config_is_ignored():
    node, peer = booted()
    forged = bytearray(
        peer.seal(
            "CONFIG",
            {
                "config_id": 1,
                "set": 32,
                "heartbeat_s": 0,
                "fence_threshold": 0,
                "cut_threshold": 0,
                "acoustic_snr_db": 0,
                "impact_threshold": 0,
                "armed": 0,
            },
        )
    )
    forged[-1] ^= 1

    def inject():
        peer.uart.write(__import__("protocol.framing").framing.encode_frame(bytes(forged)))

    simulate(node, peer, 3, [(1000, inject)])
    assert node.settings.armed == 1 and node.downlinks.rejected == 1


def test_ping_is_answered_with_a_heartbeat():
    node, peer = booted()
    simulate(node, peer, 5, [(2000, lambda: peer.send("COMMAND", {"command": 1, "arg": 0}))])
    assert len(peer.of("HEARTBEAT")) == 1


def test_walk_test_reports_every_detection_even_disarmed_and_even_a_rattle():
    node, peer = booted(fence=FenceSignal(8).knock(6.0))
    node.settings.armed = 0
    simulate(node, peer, 15, [(1000, lambda: peer.send("COMMAND", {"command": 4, "arg": 60}))])
    fence = peer.of("FENCE")
    assert [f[1]["class"] for f in fence] == [3] and fence[0][3] is True, peer.received


def test_self_test_reports_a_dead_accelerometer_as_a_fault():
    node, peer = booted()

    def unplug_and_test():
        node.board.i2c.present = False
        peer.send("COMMAND", {"command": 3, "arg": 0})

    simulate(node, peer, 4, [(1000, unplug_and_test)])
    faults = peer.of("FAULT")
    assert faults and faults[0][1]["code"] == FAULT_ACCELEROMETER and faults[0][1]["state"] == 1, peer.received


def test_a_dead_microphone_is_reported_once_as_a_fault_and_never_as_a_drone():
    node, peer = booted(audio=ConstantSignal(0))
    simulate(node, peer, 6)
    faults = peer.of("FAULT")
    assert [(f[1]["code"], f[1]["state"], f[1]["detail"]) for f in faults] == [(FAULT_MICROPHONE, 1, 1)], peer.received
    assert peer.of("ACOUSTIC") == [], peer.received


def test_opening_the_enclosure_is_reported_as_tamper_even_when_disarmed():
    node, peer = booted()
    node.settings.armed = 0

    def open_lid():
        node.board.tamper_pin.value(1)

    simulate(node, peer, 5, [(1000, open_lid)])
    tamper = peer.of("TAMPER")
    assert [t[1]["state"] for t in tamper] == [1] and tamper[0][3] is True, peer.received


def test_the_watchdog_is_fed_while_every_task_lives_and_starves_when_one_dies():
    node, peer = booted()
    simulate(node, peer, 5)
    assert node.board.watchdog.feeds >= 4 and not node.board.watchdog.starved()

    def broken(xyz, start, limit):
        raise RuntimeError("driver bug")

    node, peer = booted()
    node.board.accelerometer.read_fifo = broken
    simulate(node, peer, 12)
    assert node.board.watchdog.starved()
    assert "fence" in node.board.logged[-1], node.board.logged


class _Allocating:
    """A detector with a bug: it allocates on every block (a new bytearray)."""

    def __init__(self):
        self.blocks = 0

    def process(self, samples):
        self.blocks += 1
        return len(bytearray(8)) - 8  # NONE, after allocating


def test_detectors_run_with_the_heap_locked_and_one_that_allocates_loses_only_its_blocks():
    # On MicroPython each block runs with the heap locked (device/node.py, _unlocked): an
    # allocation raises MemoryError there, which costs that block and is counted, while the
    # node and its other detectors go on (the watchdog fed, a climb still delivered). CPython
    # has no heap lock: the same detector just runs.
    node, peer = booted(fence=FenceSignal(6).climb(3.0))
    node.impact = _Allocating()
    simulate(node, peer, 10)
    assert node.impact.blocks >= 150, node.impact.blocks
    locked = sys.implementation.name == "micropython"
    assert node.heap_misses == (node.impact.blocks if locked else 0), (node.heap_misses, node.impact.blocks)
    assert [f[1]["class"] for f in peer.of("FENCE")] == [1], peer.received
    assert not node.board.watchdog.starved()
