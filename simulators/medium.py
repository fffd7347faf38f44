"""The medium between the simulated nodes and the real gateway, played by the runner.

Every frame a node sends, firmware or behavioural, passes through here on its way to the
gateway's real transport, and every downlink on its way back, so the runner counts what was
sent, heard and lost and knows when each frame's time on the air (or on the wire) ended.

- `SerialMedium`: the nodes share one RS-485 line, which reaches the gateway as a real
  pseudo-terminal (its `serial` transport opens the slave end). A frame takes its bytes at
  the line's baud rate; nothing is lost.
- `LoraMedium`: the radio channel of `radio.py` (path loss, shadowing, SNR floors, capture,
  jammers, time on air) between the nodes and one concentrator, which speaks GWMP v2 to the
  gateway's `semtech_udp` transport as a real packet forwarder would: PUSH_DATA for what it
  decodes (with RSSI and SNR), a CRC-failed `stat: -1` record whenever it triggers on a
  jammer's chirps, PULL_DATA to ask for downlinks, and PULL_RESP (ACKs, CONFIG) transmitted
  at the concentrator time the gateway asked for.

Times are scenario seconds, given by the caller (`now`), so the medium is clock-free.
"""

import asyncio
import random
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol import gwmp
from protocol.framing import Deframer, encode_frame
from protocol.messages import BY_NAME, ENVELOPE, PADDED_BODY
from protocol.packet import OVERHEAD, header_node_id
from simulators.pty_link import Pty
from simulators.radio import Jammer, RadioChannel, Transmission

GW = "gw"
EUI = bytes.fromhex("00800000a0001234")
# EU868's three default channels. Each node is installed on one of them (node id mod 3), as a
# site plan spreads a fleet, so a channel carries a third of the load.
CHANNELS_HZ = (868_100_000, 868_300_000, 868_500_000)
FREQ_HZ = CHANNELS_HZ[0]
BAUD = 115_200


def heartbeat_signature(uplinks: str) -> tuple[int, int]:
    """What a reactive jammer that has watched a node for a while knows its heartbeats by:
    their length on air (the LoRa PHY header says it) and the clear first byte (version,
    type, ack_req). Bare, a heartbeat is the only 29-byte type 2; in an envelope it is the
    longest type 9; padded, every uplink looks like it."""
    first = 0x40 | BY_NAME["HEARTBEAT"].type_id << 1
    if uplinks == "bare":
        return OVERHEAD + BY_NAME["HEARTBEAT"].size, first
    first = 0x40 | ENVELOPE.type_id << 1
    if uplinks == "padded":
        return OVERHEAD + PADDED_BODY, first
    return OVERHEAD + ENVELOPE.size + BY_NAME["HEARTBEAT"].size, first


JAM_TRIGGER_S = 0.5  # how often a jammed concentrator's demodulator fires on the jammer


@dataclass
class Traffic:
    """Frames per sender kind: sent, heard by the gateway's receiver, lost on the way."""

    sent: dict[int, int] = field(default_factory=dict)
    heard: dict[int, int] = field(default_factory=dict)
    airtime_s: dict[int, float] = field(default_factory=dict)

    def count(self, table: dict[int, int], node: int) -> None:
        table[node] = table.get(node, 0) + 1

    def summary(self, nodes: list[int], duration_s: float) -> dict[str, Any]:
        sent = sum(self.sent.get(n, 0) for n in nodes)
        heard = sum(self.heard.get(n, 0) for n in nodes)
        duty = [self.airtime_s.get(n, 0.0) / duration_s for n in nodes] or [0.0]
        losses = sorted(((self.sent.get(n, 0) - self.heard.get(n, 0), n) for n in nodes), reverse=True)
        return {
            "worst": {str(n): "%d of %d lost" % (lost, self.sent.get(n, 0)) for lost, n in losses[:3] if lost},
            "nodes": len(nodes),
            "sent": sent,
            "received": heard,
            "lost": sent - heard,
            "duty_cycle_mean": round(sum(duty) / len(duty), 5),
            "duty_cycle_max": round(max(duty), 5),
        }


class Medium(ABC):
    """What both media share: the firmware hosts' connections and the bookkeeping."""

    def __init__(self) -> None:
        self.traffic = Traffic()
        self.downlinks = 0
        # Told of every packet the gateway's receiver got, with the end of its airtime.
        self.on_heard: Callable[[bytes, float], None] = lambda packet, end_s: None
        self._hosts: list[asyncio.StreamWriter] = []
        self._host_deframers: list[Deframer] = []
        self.uplink_lengths: dict[int, int] = {}  # packet (LoRa payload) length -> firmware frames

    def attach_host(self, writer: asyncio.StreamWriter) -> int:
        """A firmware host's connection (there is one per process); its number."""
        self._hosts.append(writer)
        self._host_deframers.append(Deframer())
        return len(self._hosts) - 1

    def from_host(self, data: bytes, now: float, host: int = 0) -> None:
        """Bytes from a firmware host: its nodes' frames, as they start."""
        deframer = self._host_deframers[host]
        deframer.feed(data)
        while (packet := deframer.next_packet()) is not None:
            if len(packet) >= OVERHEAD:
                self.uplink_lengths[len(packet)] = self.uplink_lengths.get(len(packet), 0) + 1
                self.uplink(packet, now)

    @abstractmethod
    def uplink(self, packet: bytes, now: float) -> None:
        """A node starts transmitting `packet` at `now` (a behavioural node's scheduled time,
        which may be a moment ago if the runner was busy)."""

    @abstractmethod
    def pump(self, now: float) -> None:
        """Deliver what has finished by `now`."""

    def _heard(self, packet: bytes, end_s: float) -> None:
        self.traffic.count(self.traffic.heard, header_node_id(packet))
        self.on_heard(packet, end_s)

    def _to_host(self, frame: bytes) -> None:
        # Every host gets it; each hands it to its node of that id, if it has one.
        for host in self._hosts:
            if not host.is_closing():
                host.write(frame)

    @abstractmethod
    def close(self) -> None:
        """Let go of the pty or the socket."""


class SerialMedium(Medium):
    """One RS-485 line for every node, reaching the gateway as a pseudo-terminal."""

    def __init__(self, link: Path) -> None:
        super().__init__()
        self.pty = Pty(link)
        self._gateway_deframer = Deframer()

    def uplink(self, packet: bytes, now: float) -> None:
        node = header_node_id(packet)
        frame = encode_frame(packet)
        on_wire = len(frame) * 10 / BAUD
        self.traffic.count(self.traffic.sent, node)
        self.traffic.airtime_s[node] = self.traffic.airtime_s.get(node, 0.0) + on_wire
        if self.pty.write(frame, drop_when_full=True):
            self._heard(packet, now + on_wire)

    def pump(self, now: float) -> None:
        data = self.pty.read()
        if data:
            self._gateway_deframer.feed(data)
            while (packet := self._gateway_deframer.next_packet()) is not None:
                self.downlinks += 1
                self._to_host(encode_frame(packet))

    def close(self) -> None:
        self.pty.unplug()


class LoraMedium(Medium):
    """The radio channel between the nodes and one concentrator speaking GWMP v2."""

    def __init__(
        self,
        positions: dict[int, tuple[float, float]],
        gateway_at: tuple[float, float],
        forwarder_to: tuple[str, int],
        sf: int,
        jams: list[tuple[float, float]],
        firmware: list[int],
        seed: int = 1,
        noise_rise_db: float = 60.0,  # a jammer near the mast: -57 dBm of noise, no node gets through
        selective: list[tuple[float, float, int]] | None = None,  # (from, to, node): a reactive jammer
        heartbeat_looks: tuple[int, int] = heartbeat_signature("enveloped"),  # what it lets through
    ) -> None:
        super().__init__()
        places = {"n%d" % n: p for n, p in positions.items()}
        places[GW] = gateway_at
        self.channel = RadioChannel(places, seed=seed)
        self.channel.jammers = [Jammer(a, b, None, noise_rise_db) for a, b in jams]
        self.jams = jams
        self.selective = selective or []
        self.selectively_jammed = 0
        self.heartbeat_looks = heartbeat_looks
        self.sf = sf
        self.firmware = set(firmware)
        self.rng = random.Random(seed)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.connect(forwarder_to)
        self._scheduled: list[tuple[float, bytes, int]] = []  # downlinks waiting for their tmst
        self._next_pull = 0.0
        self._next_trigger = 0.0
        self.crc_errors = 0

    def _datr(self) -> str:
        return "SF%dBW125" % self.sf

    def uplink(self, packet: bytes, now: float) -> None:
        node = header_node_id(packet)
        looks = (len(packet), packet[0])
        if looks != self.heartbeat_looks and any(a <= now < b and n == node for a, b, n in self.selective):
            # A reactive jammer: it reads the length in the PHY header and the first byte as
            # the frame starts, and transmits over the rest of anything that does not look
            # like the node's heartbeats. Heartbeats pass; every other frame is destroyed.
            self.selectively_jammed += 1
            self.traffic.count(self.traffic.sent, node)
            return
        tx = self.channel.transmit("n%d" % node, packet, now, self.sf, CHANNELS_HZ[node % len(CHANNELS_HZ)])
        self.traffic.count(self.traffic.sent, node)
        self.traffic.airtime_s[node] = self.traffic.airtime_s.get(node, 0.0) + tx.airtime_s

    def _listeners(self, tx: Transmission) -> list[str]:
        if tx.sender != GW:
            return [GW]
        node = header_node_id(tx.packet)
        return ["n%d" % node] if node in self.firmware else []

    def _gwmp(self, ident: int, body: Any = None) -> None:
        token = self.rng.getrandbits(16).to_bytes(2, "big")
        try:
            self.sock.send(gwmp.encode(ident, token, EUI, body))
        except OSError:
            pass  # the gateway is not listening yet: a forwarder just tries again

    @staticmethod
    def _tmst(t: float) -> int:
        return int(t * 1_000_000) & 0xFFFFFFFF

    def pump(self, now: float) -> None:
        if now >= self._next_pull:  # a forwarder's keep-alive, which opens the downlink path
            self._gwmp(gwmp.PULL_DATA)
            self._next_pull = now + 5.0
        self._read_gateway(now)
        due = [(p, hz) for at, p, hz in self._scheduled if at <= now]
        self._scheduled = [s for s in self._scheduled if s[0] > now]
        for packet, hz in due:
            self.channel.transmit(GW, packet, now, self.sf, hz)
        rxpk = []
        for r in self.channel.deliver(self._listeners, now):
            if r.receiver == GW:
                self._heard(r.packet, r.at_s)
                rxpk.append(
                    gwmp.rxpk(
                        r.packet,
                        tmst=self._tmst(r.at_s),
                        freq=r.channel_hz / 1e6,
                        chan=0,
                        rfch=0,
                        stat=1,
                        modu="LORA",
                        datr=self._datr(),
                        codr="4/5",
                        rssi=round(r.rssi_dbm),
                        lsnr=r.snr_db,
                    )
                )
            else:
                self.downlinks += 1
                rssi = max(-128, min(127, round(r.rssi_dbm)))
                snr = max(-128, min(127, round(r.snr_db)))
                self._to_host(encode_frame(bytes([rssi & 0xFF, snr & 0xFF]) + r.packet))
        if any(a <= now < b for a, b in self.jams) and now >= self._next_trigger:
            # The jammer's chirps look like preambles: the demodulator locks on, and the CRC fails.
            self._next_trigger = now + JAM_TRIGGER_S
            self.crc_errors += 1
            rxpk.append(
                gwmp.rxpk(
                    b"",
                    tmst=self._tmst(now),
                    freq=FREQ_HZ / 1e6,
                    stat=-1,
                    modu="LORA",
                    datr=self._datr(),
                    codr="4/5",
                    rssi=-60,
                    lsnr=-15.0,
                )
            )
        if rxpk:
            self._gwmp(gwmp.PUSH_DATA, {"rxpk": rxpk})

    def _read_gateway(self, now: float) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return
            try:
                datagram = gwmp.decode(data)
                if datagram.ident != gwmp.PULL_RESP:
                    continue  # PUSH_ACK, PULL_ACK: nothing to do
                txpk = datagram.json()["txpk"]
                packet = gwmp.packet_of(txpk)
                float(txpk.get("freq", 0))
            except (ValueError, KeyError, TypeError):
                continue
            at = now
            if not txpk.get("imme") and "tmst" in txpk:  # at the concentrator time asked for
                ahead = ((int(txpk["tmst"]) - self._tmst(now)) & 0xFFFFFFFF) / 1e6
                at = now + (ahead if ahead < 60 else 0.0)
            hz = int(round(float(txpk.get("freq", FREQ_HZ / 1e6)) * 1e6))
            self._scheduled.append((at, packet, hz))
            self._gwmp(gwmp.TX_ACK, {"txpk_ack": {"error": "NONE"}})

    def close(self) -> None:
        self.sock.close()
