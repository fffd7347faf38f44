"""The node's serial link: COBS frames with CRC32 over a UART or an RS-485 transceiver."""

from protocol.framing import Deframer, encode_frame


class SerialLink:
    """`uart` is a `machine.UART` (or anything with non-blocking `read()` and `write()`).

    On RS-485 the board passes `de`, the driver-enable pin: raised while a frame is written
    and lowered when `flush()` says it has left, so the node does not talk over the bus."""

    def __init__(self, uart, de=None):
        self._uart = uart
        self._de = de
        self._deframer = Deframer()
        self.sent = 0

    def airtime_ms(self, size):
        return 0  # a wired line has no duty-cycle limit

    async def send(self, packet):
        if self._de is not None:
            self._de.value(1)
        self._uart.write(encode_frame(packet))
        if self._de is not None:
            if hasattr(self._uart, "flush"):
                self._uart.flush()
            self._de.value(0)
        self.sent += 1

    def receive(self):
        data = self._uart.read()
        if data:
            self._deframer.feed(data)
        return self._deframer.next_packet()

    @property
    def bad_frames(self):
        return self._deframer.bad_crc + self._deframer.truncated + self._deframer.oversize
