"""LoRa paths: a concentrator's Semtech UDP forwarder and a serial LoRa bridge, with
multi-receiver de-duplication."""

import asyncio
import json
import os
import socket
from pathlib import Path
from typing import Any

from gateway.daemon import Gateway
from gateway.evidence.journal import Journal
from gateway.ingest.semtech_udp import SemtechUdpTransport
from protocol import bridge, gwmp
from protocol.framing import Deframer, encode_frame
from tests.gateway.harness import Broker, Collector, Pty, SimNode, free_port, start, stop, wait_until, write_site

EUI = bytes.fromhex("aa555a0000000101")


class Forwarder:
    """A Semtech packet forwarder (GWMP v2) as a concentrator gateway runs it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.token = 0

    def _send(self, ident: int, body: Any = None) -> bytes:
        self.token += 1
        token = self.token.to_bytes(2, "big")
        self.sock.sendto(gwmp.encode(ident, token, EUI, body), ("127.0.0.1", self.port))
        return token

    def push(self, packet: bytes, tmst: int = 1_000_000, rssi: int = -87, lsnr: float = 7.5) -> bytes:
        rxpk = gwmp.rxpk(
            packet,
            tmst=tmst,
            chan=0,
            rfch=0,
            freq=868.1,
            stat=1,
            modu="LORA",
            datr="SF10BW125",
            codr="4/5",
            rssi=rssi,
            lsnr=lsnr,
        )
        return self._send(gwmp.PUSH_DATA, {"rxpk": [rxpk]})

    def push_noise(self, size: int = 20) -> bytes:
        """A packet the concentrator demodulated with a failed CRC: what a jammer produces."""
        rxpk = gwmp.rxpk(bytes(size), tmst=0, freq=868.1, stat=-1, modu="LORA", datr="SF10BW125", rssi=-60, lsnr=-12.0)
        return self._send(gwmp.PUSH_DATA, {"rxpk": [rxpk]})

    def pull(self) -> bytes:
        return self._send(gwmp.PULL_DATA)

    async def receive(self, timeout: float = 5.0) -> bytes:
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.sock_recv(self.sock, 2048), timeout)


async def test_push_data_is_acked_decoded_and_its_ack_goes_out_as_pull_resp(tmp_path: Path, broker: Broker) -> None:
    udp_port = free_port(socket.SOCK_DGRAM)
    transports = {"semtech_udp": [{"name": "conc", "host": "127.0.0.1", "port": udp_port}]}
    gateway, task = await start(write_site(tmp_path, broker.port, transports=transports))
    forwarder = Forwarder(udp_port)
    node = SimNode(2)
    async with Collector(broker.port) as mqtt:
        token = forwarder.pull()
        assert await forwarder.receive() == gwmp.encode(gwmp.PULL_ACK, token)
        token = forwarder.push(
            node.packet(
                "FENCE",
                {
                    "event_no": 1,
                    "age_ds": 0,
                    "class": 2,
                    "peak": 3000,
                    "noise_floor": 20,
                    "pulses": 5,
                    "duration_ds": 3,
                },
                True,
            )
        )
        assert await forwarder.receive() == gwmp.encode(gwmp.PUSH_ACK, token)
        resp = await forwarder.receive()
        await mqtt.wait_for(lambda: len(mqtt.events()) == 1)
    await stop(gateway, task)
    datagram = gwmp.decode(resp)
    assert datagram.ident == gwmp.PULL_RESP
    txpk = datagram.json()["txpk"]
    assert node.take_acks(encode_frame(gwmp.packet_of(txpk))) == [1]
    assert (txpk["freq"], txpk["datr"], txpk["tmst"], txpk["imme"]) == (868.1, "SF10BW125", 2_000_000, False)
    event = mqtt.events()[0]
    assert event["receptions"] == [
        {"transport": "conc", "rssi_dbm": -87, "snr_db": 7.5, "frequency_hz": 868_100_000, "sf": 10}
    ]


async def test_garbage_datagrams_are_counted_and_the_forwarder_keeps_working(tmp_path: Path, broker: Broker) -> None:
    udp_port = free_port(socket.SOCK_DGRAM)
    transports = {"semtech_udp": [{"name": "conc", "host": "127.0.0.1", "port": udp_port}]}
    gateway, task = await start(write_site(tmp_path, broker.port, transports=transports))
    forwarder = Forwarder(udp_port)
    for junk in (b"", b"\x02", os.urandom(40), b"\x02\x00\x01\x00" + EUI + b"{not json", b"\x02\x00\x01\x09" + EUI):
        forwarder.sock.sendto(junk, ("127.0.0.1", udp_port))
    token = forwarder.push(SimNode(1).fence_packet())
    while (reply := await forwarder.receive())[3] != 1 or reply[1:3] != token:
        pass
    transport = gateway.transports["conc"]
    await wait_until(lambda: gateway.pipeline.counters["conc"]["frames_ok"] == 1)
    await stop(gateway, task)
    assert transport.bad_datagrams >= 4  # type: ignore[attr-defined]


async def test_one_frame_heard_by_two_receivers_is_one_event_with_both_receptions(
    tmp_path: Path, broker: Broker
) -> None:
    udp_port = free_port(socket.SOCK_DGRAM)
    radio = Pty(tmp_path / "ttyLORA")
    transports = {
        "semtech_udp": [{"name": "conc", "host": "127.0.0.1", "port": udp_port}],
        "lora_bridge": [{"name": "bridge", "port": str(radio.link)}],
    }
    gateway, task = await start(write_site(tmp_path, broker.port, transports=transports))
    forwarder = Forwarder(udp_port)
    forwarder.pull()
    node = SimNode(1)
    packet = node.packet(
        "FENCE",
        {"event_no": 5, "age_ds": 0, "class": 1, "peak": 900, "noise_floor": 30, "pulses": 9, "duration_ds": 20},
        True,
    )
    async with Collector(broker.port) as mqtt:
        forwarder.push(packet, rssi=-110, lsnr=-3.0)
        radio.write(
            encode_frame(bridge.encode_received(packet, rssi_dbm=-72, snr_qdb=38, frequency_hz=868_100_000, sf=10))
        )
        await mqtt.wait_for(lambda: len(mqtt.events()) == 1)
        await asyncio.sleep(0.4)
        downlink = radio.read()
    await stop(gateway, task)
    radio.unplug()
    assert len(mqtt.events()) == 1
    receptions = mqtt.events()[0]["receptions"]
    assert sorted(r["transport"] for r in receptions) == ["bridge", "conc"]
    assert gateway.pipeline.counters["bridge"]["duplicate"] + gateway.pipeline.counters["conc"]["duplicate"] == 1
    # The ACK goes back through the receiver that heard the node best: the bridge (-72 dBm).
    deframer = Deframer()
    deframer.feed(downlink)
    envelope = deframer.next_packet()
    assert envelope is not None
    ack, radio_settings = bridge.decode_transmit(envelope)
    assert node.take_acks(encode_frame(ack)) == [1]
    assert (radio_settings["frequency_hz"], radio_settings["sf"]) == (868_100_000, 10)


async def test_lora_bridge_envelope_carries_rssi_snr_frequency_and_sf(tmp_path: Path, broker: Broker) -> None:
    radio = Pty(tmp_path / "ttyLORA")
    transports = {"lora_bridge": [{"name": "bridge", "port": str(radio.link)}]}
    gateway: Gateway
    gateway, task = await start(write_site(tmp_path, broker.port, transports=transports))
    async with Collector(broker.port) as mqtt:
        radio.write(
            encode_frame(
                bridge.encode_received(
                    SimNode(3).packet(
                        "HEARTBEAT",
                        {
                            "battery_mv": 3600,
                            "temperature_dc": -50,
                            "status": 0,
                            "downlink_rssi_dbm": -100,
                            "fence_floor": 1,
                            "acoustic_floor": 2,
                            "impact_floor": 3,
                            "queued": 0,
                            "uptime_s": 9,
                        },
                    ),
                    -101,
                    -30,
                    869_525_000,
                    12,
                )
            )
        )
        await mqtt.wait_for(lambda: any(t.endswith("/node/3/state") for t, _, _ in mqtt.messages))
    await stop(gateway, task)
    radio.unplug()
    state = json.loads(next(p for t, p, _ in mqtt.messages if t.endswith("/node/3/state")))
    assert state["via"]["bridge"]["rssi_dbm"] == -101 and state["via"]["bridge"]["snr_db"] == -7.5
    assert state["via"]["bridge"]["sf"] == 12 and state["battery_mv"] == 3600


async def test_a_steady_stream_of_failed_crcs_is_a_jamming_alarm(tmp_path: Path, broker: Broker) -> None:
    udp_port = free_port(socket.SOCK_DGRAM)
    transports = {"semtech_udp": [{"name": "conc", "host": "127.0.0.1", "port": udp_port}]}
    # The EN 50131-5-3 figures (30 s within 60 s) scaled down to keep the test short.
    rules = {"alarms": {"jamming_accumulated_s": 2.0, "jamming_window_s": 4.0}}
    gateway, task = await start(write_site(tmp_path, broker.port, transports=transports, extra=rules))
    forwarder = Forwarder(udp_port)
    try:
        forwarder.push_noise()  # one collision is not jamming
        await asyncio.sleep(1.5)
        forwarder.push_noise()
        conc = gateway.transports["conc"]
        assert isinstance(conc, SemtechUdpTransport)
        await wait_until(lambda: conc.crc_failures == 2)  # both reported, on the gateway's side
        assert gateway.alarms.book.open_alarms() == []
        for _ in range(12):  # then 2.4 s of continuous garbage
            forwarder.push_noise()
            await asyncio.sleep(0.2)
        await wait_until(lambda: len(gateway.alarms.book.open_alarms()) == 1, 5)
        alarm = gateway.alarms.book.open_alarms()[0]
        assert alarm.category == "jamming" and alarm.detail["transport"] == "conc"
        for _ in range(5):  # still jammed: no new journal row per bad packet
            forwarder.push_noise()
            await asyncio.sleep(0.2)
    finally:
        await stop(gateway, task)
    journal = Journal(tmp_path / "journal.sqlite", durable=False)
    assert [r.data["action"] for r in journal.entries() if r.kind == "alarm"] == ["raised"]
    journal.close()
