"""LoRa on the simulated radio: a node's uplinks reach the gateway and its ACKs come back
over the air, the EU868 duty-cycle budget holds transmissions back, and the bridge role
carries packets between the air and the gateway's serial line. Also: recorded samples
replay through a simulated bus, and a crash is logged. Runs on CPython and MicroPython."""

import os

from device.app import log_crash
from device.boards.sim import SimADC, uart_pair
from device.boards.sim_files import FileSource
from device.boards.sim_radio import RadioChannel, SimModem
from device.bridge import Bridge
from device.hal import VirtualClock
from protocol.body import encode_body
from protocol.bridge import decode_received, encode_transmit
from protocol.framing import decode_frame, encode_frame
from protocol.messages import BY_NAME
from protocol.packet import open_packet, seal_packet
from tests.device.nodesim import make_node, simulate
from tests.device.peer import SITE_ID, GatewayPeer
from tests.device.stores import CountingStore, _tmp

ACK = BY_NAME["ACK"].type_id


class RadioPeer(GatewayPeer):
    """The gateway behind a LoRa receiver on the same channel as the node."""

    def __init__(self, channel, clock):
        GatewayPeer.__init__(self)
        self.modem = SimModem(channel, clock)
        self.channel = channel

    def poll(self):
        while self.modem.inbox:
            packet = bytes(self.modem.inbox.pop(0))
            opened = open_packet(self.key, SITE_ID, packet, 0, self.last_ctr)
            self.last_ctr = opened.ctr
            self.received.append((BY_NAME_BY_ID[opened.type_id], opened.fields, opened.ctr, opened.ack_req))
            if opened.ack_req and self.ack:
                self.down_ctr += 1
                ack = seal_packet(
                    self.key, SITE_ID, ACK, self.node_id, self.down_ctr, encode_body(ACK, {"acked_ctr": opened.ctr})
                )
                self.channel.transmit(self.modem, ack, rssi=-97, snr=6)


BY_NAME_BY_ID = {m.type_id: name for name, m in BY_NAME.items()}


def radio_node(limit_ms=None):
    clock = VirtualClock(5)
    channel = RadioChannel()
    peer = RadioPeer(channel, clock)
    node = make_node(CountingStore(), peer, clock=clock, modem=SimModem(channel, clock))
    if limit_ms is not None:
        node.board.link.budget.limit_ms = limit_ms
    return node, peer


def test_a_lora_node_says_hello_and_hears_the_ack_over_the_air():
    node, peer = radio_node()
    simulate(node, peer, 3)
    assert peer.names() == ["HELLO"] and len(node.queue) == 0
    assert node.board.link.last_rssi == -97  # the downlink's RSSI, for the next heartbeat


def test_the_duty_cycle_budget_holds_back_what_it_cannot_pay_for():
    node, peer = radio_node(limit_ms=1000)  # one second of airtime left in the hour
    for _ in range(5):
        node.heartbeat()
    simulate(node, peer, 10)
    link = node.board.link
    assert link.held_back > 0 and len(node.queue) > 0, peer.names()
    assert link.budget.spent_ms(node.clock.now_ms()) <= 1000


def test_heartbeats_leave_the_last_fifth_of_the_budget_to_alarms():
    node, peer = radio_node(limit_ms=2500)  # 2.5 s of airtime left in the hour
    for _ in range(8):
        node.heartbeat()
    spent = []

    def tamper():
        spent.append(node.board.link.budget.spent_ms(node.clock.now_ms()))
        node._event("TAMPER", {"kind": 1, "state": 1}, 2)

    simulate(node, peer, 15, [(10000, tamper)])
    assert len(peer.of("HEARTBEAT")) < 8 and spent[0] <= 2500 - 500  # they stopped at 80 %
    assert peer.of("TAMPER")  # an alarm still had its fifth


def test_an_alarm_unanswered_three_times_goes_out_again_on_another_channel():
    node, peer = radio_node()
    peer.ack = False  # a jammer sits on the gateway's downlink, or on this channel
    simulate(node, peer, 30)
    sent_on = node.board.link._modem.sent_on
    assert sent_on[:3] == [868100] * 3 and sent_on[3] == 868300, sent_on  # the HELLO's fourth try
    assert node.board.link.hops >= 1


def test_the_bridge_carries_packets_between_the_air_and_the_gateway_line():
    clock = VirtualClock(1)
    channel = RadioChannel()
    bridge_uart, gateway_uart = uart_pair()
    bridge = Bridge(bridge_uart, SimModem(channel, clock), clock)
    node_modem = SimModem(channel, clock)
    uplink = GatewayPeer().seal("COMMAND", {"command": 1, "arg": 0})  # any packet will do
    channel.transmit(node_modem, uplink, rssi=-104, snr=-3)
    bridge.forward_up(bridge._modem.inbox.pop(0))
    packet, meta = decode_received(decode_frame(gateway_uart.read()))
    assert packet == uplink and meta["rssi_dbm"] == -104 and meta["snr_db"] == -3 and meta["sf"] == 10
    gateway_uart.write(encode_frame(encode_transmit(uplink, 868100000, 10)))

    async def one_round():

        tasks = bridge.start()
        await clock.run(100)
        for task in tasks:
            task.cancel()

    __import__("asyncio").run(one_round())
    assert [bytes(p) for p in node_modem.inbox] == [uplink] and bridge.down == 1


def test_recorded_samples_replay_through_a_simulated_bus_and_loop():
    path = _tmp("samples")
    with open(path, "wb") as f:
        f.write(bytes([0x00, 0x80, 0x01, 0x80, 0xFF, 0xFF]))  # 32768, 32769, 65535
    adc = SimADC(FileSource(path, signed=False), block=4)
    assert [adc.read_u16() for _ in range(4)] == [32768, 32769, 65535, 32768]
    os.remove(path)


def test_a_crash_is_written_to_the_crash_log():
    path = _tmp("crash")
    try:
        raise ValueError("sensor task died")
    except ValueError as exc:
        log_crash(exc, path)
    with open(path) as f:
        text = f.read()
    os.remove(path)
    assert "ValueError" in text and "sensor task died" in text
