"""Transports: the links frames arrive on, each reconnecting on its own.

Every transport runs `run()` forever: connect, read, and on any failure report itself down,
wait a jittered backoff and try again. None of them ever raises out of `run()`, so a serial
adapter pulled out of its socket or a broken TCP peer never stops the daemon. What a
transport hears goes to a `Receiver` (the daemon); downlinks come back through `send`.
"""

import asyncio
import base64
import json
import logging
import math
import random
import struct
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import serial
import serial_asyncio_fast

from gateway import clock
from gateway.backoff import backoff_delay
from gateway.config import SemtechUdpConfig
from gateway.ingest.pipeline import Reception
from protocol import bridge
from protocol.errors import FrameRejected
from protocol.framing import Deframer, encode_frame

log = logging.getLogger("perimeter.transport")

UP = "up"
DOWN = "down"
RETRY_FIRST_S = 0.05
RETRY_CAP_S = 1.0  # a reappearing port or peer is back within about a second


class Receiver(Protocol):
    """Where transports deliver what they hear."""

    def on_stream(self, data: bytes, reception: Reception) -> None: ...

    def on_packet(self, packet: bytes, reception: Reception) -> None: ...

    def on_transport_state(self, name: str, state: str, detail: str) -> None: ...

    def on_interference(self, name: str, at: float) -> None: ...


class Transport(ABC):
    """A link to nodes: reads frames in, writes downlinks out, reconnects by itself."""

    kind = "transport"

    def __init__(self, name: str, receiver: Receiver) -> None:
        self.name = name
        self.receiver = receiver
        self.state = DOWN
        self.reconnects = 0
        self._stopping = False

    def _set_state(self, state: str, detail: str = "") -> None:
        if state != self.state:
            self.state = state
            log.info("transport=%s kind=%s state=%s %s", self.name, self.kind, state, detail)
            self.receiver.on_transport_state(self.name, state, detail)

    async def run(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                await self.serve(lambda: self._connected())
                detail = "closed by peer"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any link failure: report, back off, retry
                detail = "%s: %s" % (type(exc).__name__, exc)
            if self.state == UP:
                attempt = 0
                self.reconnects += 1
            self._set_state(DOWN, detail)
            attempt += 1
            await asyncio.sleep(backoff_delay(attempt, RETRY_FIRST_S, RETRY_CAP_S))

    def _connected(self) -> None:
        self._set_state(UP)

    @abstractmethod
    async def serve(self, connected: Callable[[], None]) -> None:
        """Connect, call `connected()`, and handle traffic until the link fails."""

    @abstractmethod
    def send(self, packet: bytes, reception: Reception) -> bool:
        """Queue a downlink packet back the way `reception` came (never blocks); False if the
        link is down."""

    def stop(self) -> None:
        self._stopping = True


class StreamTransport(Transport):
    """A COBS-framed byte stream: a serial port or a TCP connection."""

    def __init__(self, name: str, receiver: Receiver) -> None:
        super().__init__(name, receiver)
        self._writer: asyncio.StreamWriter | None = None
        self._outgoing: list[bytes] = []  # frames written at the end of this loop turn

    @abstractmethod
    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]: ...

    async def serve(self, connected: Callable[[], None]) -> None:
        reader, writer = await self.open()
        self._writer = writer
        connected()
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    return
                self.deliver(data)
        finally:
            self._writer = None
            writer.close()

    def deliver(self, data: bytes) -> None:
        self.receiver.on_stream(data, Reception(self.name, clock.now()))

    def write_frame(self, payload: bytes) -> bool:
        writer = self._writer
        if writer is None or writer.is_closing():
            return False
        # The ACKs of one received batch go out in one write (one system call), not one each.
        self._outgoing.append(encode_frame(payload))
        if len(self._outgoing) == 1:
            asyncio.get_running_loop().call_soon(self._flush)
        return True

    def _flush(self) -> None:
        frames, self._outgoing = self._outgoing, []
        writer = self._writer
        if frames and writer is not None and not writer.is_closing():
            writer.write(b"".join(frames))

    def send(self, packet: bytes, reception: Reception) -> bool:
        return self.write_frame(packet)


class SerialTransport(StreamTransport):
    """A node, or an RS-485 bus of nodes, on a serial port (a real tty or a pty)."""

    kind = "serial"

    def __init__(self, name: str, receiver: Receiver, port: str, baudrate: int = 115200) -> None:
        super().__init__(name, receiver)
        self.port = port
        self.baudrate = baudrate

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await serial_asyncio_fast.open_serial_connection(url=self.port, baudrate=self.baudrate)
        except serial.SerialException as exc:
            raise ConnectionError("cannot open %s: %s" % (self.port, exc)) from None


class TcpTransport(StreamTransport):
    """A remote serial server or a simulator speaking the same COBS framing over TCP."""

    kind = "tcp"

    def __init__(self, name: str, receiver: Receiver, host: str, port: int) -> None:
        super().__init__(name, receiver)
        self.host = host
        self.port = port

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port)


class LoraBridgeTransport(SerialTransport):
    """A serial-attached LoRa radio; each frame is a bridge envelope (protocol.bridge)."""

    kind = "lora_bridge"

    def __init__(self, name: str, receiver: Receiver, port: str, baudrate: int = 115200) -> None:
        super().__init__(name, receiver, port, baudrate)
        self._deframer = Deframer()
        self.bad_envelopes = 0

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self._deframer = Deframer()  # nothing half-received before a reconnect is kept
        return await super().open()

    def deliver(self, data: bytes) -> None:
        self._deframer.feed(data)
        while (envelope := self._deframer.next_packet()) is not None:
            try:
                packet, meta = bridge.decode_received(envelope)
            except FrameRejected as exc:
                self.bad_envelopes += 1
                log.warning("transport=%s bad bridge envelope: %s", self.name, exc)
                continue
            reception = Reception(
                self.name,
                clock.now(),
                rssi_dbm=meta["rssi_dbm"],
                snr_db=meta["snr_db"],
                frequency_hz=int(meta["frequency_hz"]),
                sf=int(meta["sf"]),
                reply_to=(int(meta["frequency_hz"]), int(meta["sf"]), int(meta["bw_khz"])),
            )
            self.receiver.on_packet(packet, reception)

    def send(self, packet: bytes, reception: Reception) -> bool:
        frequency, sf, bw = reception.reply_to or (869_525_000, 9, 125)
        return self.write_frame(bridge.encode_transmit(packet, frequency, sf, bw))


# Semtech UDP packet forwarder protocol (GWMP), version 2.
GWMP_VERSION = 2
PUSH_DATA, PUSH_ACK, PULL_DATA, PULL_RESP, PULL_ACK, TX_ACK = 0, 1, 2, 3, 4, 5


# What a malformed datagram raises on its way through `_datagram`; anything else is a bug.
BAD_DATAGRAM = (ValueError, KeyError, TypeError, struct.error)


def _number(value: Any, name: str) -> float | None:
    """A forwarder's metadata number: absent is None; anything but a finite number is refused
    (it would end in the journal, the alarm's evidence and the dashboard)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("%s is not a finite number" % name)
    return value


class SemtechUdpTransport(Transport):
    """A LoRa concentrator's packet forwarder: uplinks in PUSH_DATA, downlinks as PULL_RESP."""

    kind = "semtech_udp"

    def __init__(self, config: SemtechUdpConfig, receiver: Receiver) -> None:
        super().__init__(config.name, receiver)
        self.config = config
        self._udp: asyncio.DatagramTransport | None = None
        self._pull_addr: dict[bytes, Any] = {}  # gateway EUI -> address its PULL_DATA came from
        self.bad_datagrams = 0
        # The forwarders' last answers to our downlinks, for inspection; bounded, since a
        # forwarder answers every one of them for as long as the gateway runs.
        self.tx_acks: deque[Any] = deque(maxlen=256)
        self._closed: asyncio.Future[None] | None = None

    @property
    def local_address(self) -> tuple[str, int] | None:
        if self._udp is None:
            return None
        address: tuple[str, int] = self._udp.get_extra_info("sockname")
        return address

    async def serve(self, connected: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        self._closed = loop.create_future()
        owner = self

        class _Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                owner.datagram(data, addr)

            def error_received(self, exc: Exception) -> None:
                log.warning("transport=%s udp error: %s", owner.name, exc)

            def connection_lost(self, exc: Exception | None) -> None:
                if owner._closed and not owner._closed.done():
                    owner._closed.set_result(None)

        transport, _ = await loop.create_datagram_endpoint(_Protocol, local_addr=(self.config.host, self.config.port))
        self._udp = transport
        connected()
        try:
            await self._closed
        finally:
            self._udp = None
            transport.close()

    def datagram(self, data: bytes, addr: Any) -> None:
        """One datagram from a packet forwarder (never raises: a bad datagram is counted)."""
        try:
            self._datagram(data, addr)
        except BAD_DATAGRAM as exc:
            self.bad_datagrams += 1
            log.warning("transport=%s bad GWMP datagram from %s: %s", self.name, addr, exc)

    def _datagram(self, data: bytes, addr: Any) -> None:
        if len(data) < 4 or data[0] != GWMP_VERSION:
            raise ValueError("not GWMP v2")
        token, ident = data[1:3], data[3]
        udp = self._udp
        if ident == PUSH_DATA:
            if len(data) < 12:
                raise ValueError("PUSH_DATA too short")
            if udp is not None:
                udp.sendto(bytes([GWMP_VERSION]) + token + bytes([PUSH_ACK]), addr)
            eui = data[4:12]
            payload = json.loads(data[12:] or b"{}")
            if not isinstance(payload, dict) or not isinstance(payload.get("rxpk", []), list):
                raise ValueError("PUSH_DATA is not an object with an rxpk list")
            for rxpk in payload.get("rxpk", []):
                if not isinstance(rxpk, dict):
                    raise ValueError("an rxpk entry is not an object")
                self._rxpk(rxpk, eui)
        elif ident == PULL_DATA:
            if len(data) < 12:
                raise ValueError("PULL_DATA too short")
            self._pull_addr[data[4:12]] = addr
            if udp is not None:
                udp.sendto(bytes([GWMP_VERSION]) + token + bytes([PULL_ACK]), addr)
        elif ident == TX_ACK:
            body = json.loads(data[12:]) if len(data) > 12 else {}
            self.tx_acks.append(body)
            error = body.get("txpk_ack", {}).get("error", "NONE") if isinstance(body, dict) else "NONE"
            if error not in ("NONE", ""):
                log.warning("transport=%s downlink refused by forwarder: %s", self.name, error)
        else:
            raise ValueError("GWMP identifier %d not expected from a forwarder" % ident)

    def _rxpk(self, rxpk: dict[str, Any], eui: bytes) -> None:
        if rxpk.get("modu", "LORA") == "LORA" and rxpk.get("stat", 1) == -1:
            # The radio demodulated something whose CRC failed. Now and then that is a
            # collision; a steady stream of it is someone transmitting over the channel.
            self.receiver.on_interference(self.name, clock.now())
            return
        if rxpk.get("modu", "LORA") != "LORA" or rxpk.get("stat", 1) != 1:
            return  # FSK, or no CRC: not ours to judge
        packet = base64.b64decode(rxpk["data"], validate=True)
        datr = str(rxpk.get("datr", "SF7BW125"))
        sf = int(datr[2 : datr.index("BW")]) if datr.startswith("SF") and "BW" in datr else None
        freq = _number(rxpk.get("freq"), "freq")
        if freq is not None and not 0 < freq < 10_000:
            raise ValueError("freq %r is not a frequency in MHz" % freq)
        frequency_hz = None if freq is None else int(round(freq * 1_000_000))
        tmst = rxpk.get("tmst")
        if tmst is not None and (not isinstance(tmst, int) or isinstance(tmst, bool) or not 0 <= tmst < 2**32):
            raise ValueError("tmst is not a 32-bit count of microseconds")
        reply = {
            "eui": eui,
            "tmst": tmst,
            "freq": rxpk.get("freq"),
            "datr": datr,
            "codr": rxpk.get("codr", "4/5"),
            "rfch": rxpk.get("rfch", 0),
        }
        reception = Reception(
            self.name,
            clock.now(),
            rssi_dbm=_number(rxpk.get("rssi"), "rssi"),
            snr_db=_number(rxpk.get("lsnr"), "lsnr"),
            frequency_hz=frequency_hz,
            sf=sf,
            reply_to=reply,
        )
        self.receiver.on_packet(packet, reception)

    def send(self, packet: bytes, reception: Reception) -> bool:
        reply = reception.reply_to
        udp = self._udp
        if udp is None or not isinstance(reply, dict):
            return False
        addr = self._pull_addr.get(reply["eui"])
        if addr is None:
            log.warning(
                "transport=%s no PULL_DATA from gateway %s yet: downlink dropped", self.name, reply["eui"].hex()
            )
            return False
        txpk: dict[str, Any] = {
            "freq": reply["freq"],
            "rfch": reply["rfch"],
            "powe": self.config.downlink_power_dbm,
            "modu": "LORA",
            "datr": reply["datr"],
            "codr": reply["codr"],
            "ipol": True,
            "size": len(packet),
            "data": base64.b64encode(packet).decode(),
        }
        if reply.get("tmst") is not None:
            txpk["imme"] = False
            txpk["tmst"] = (int(reply["tmst"]) + self.config.downlink_delay_ms * 1000) & 0xFFFFFFFF
        else:
            txpk["imme"] = True
        token = random.getrandbits(16).to_bytes(2, "big")
        udp.sendto(bytes([GWMP_VERSION]) + token + bytes([PULL_RESP]) + json.dumps({"txpk": txpk}).encode(), addr)
        return True
