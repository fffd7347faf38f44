"""Transports: the links frames arrive on, each reconnecting on its own.

Every transport runs `run()` forever: connect, read, and on any failure report itself down,
wait a jittered backoff and try again. None of them ever raises out of `run()`, so a serial
adapter pulled out of its socket or a broken TCP peer never stops the daemon. What a
transport hears goes to a `Receiver` (the daemon); downlinks come back through `send`.
"""

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Protocol

import serial
import serial_asyncio_fast

from gateway.backoff import backoff_delay
from gateway.clock import WALL, Clock
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

    def __init__(self, name: str, receiver: Receiver, *, clock: Clock = WALL) -> None:
        self.name = name
        self.receiver = receiver
        self.clock = clock  # when a reception happened
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

    def __init__(self, name: str, receiver: Receiver, *, clock: Clock = WALL) -> None:
        super().__init__(name, receiver, clock=clock)
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
        self.receiver.on_stream(data, Reception(self.name, self.clock.now()))

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

    def __init__(
        self, name: str, receiver: Receiver, port: str, baudrate: int = 115200, *, clock: Clock = WALL
    ) -> None:
        super().__init__(name, receiver, clock=clock)
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

    def __init__(self, name: str, receiver: Receiver, host: str, port: int, *, clock: Clock = WALL) -> None:
        super().__init__(name, receiver, clock=clock)
        self.host = host
        self.port = port

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port)


class LoraBridgeTransport(SerialTransport):
    """A serial-attached LoRa radio; each frame is a bridge envelope (protocol.bridge)."""

    kind = "lora_bridge"

    def __init__(
        self, name: str, receiver: Receiver, port: str, baudrate: int = 115200, *, clock: Clock = WALL
    ) -> None:
        super().__init__(name, receiver, port, baudrate, clock=clock)
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
                self.clock.now(),
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
