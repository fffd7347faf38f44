"""The LoRa bridge role: a board with a LoRa modem on a UART to the gateway.

Everything heard on the air goes up wrapped in the bridge envelope with its RSSI, SNR and
radio settings (protocol/bridge.py); every transmit envelope from the gateway goes out on
the air. The bridge holds no keys and verifies nothing: the gateway does.
"""

import asyncio

from protocol.bridge import decode_transmit, encode_received
from protocol.errors import FrameRejected
from protocol.framing import Deframer, encode_frame


class Bridge:
    def __init__(self, uart, modem, clock, frequency_hz=868100000, sf=10, bw_khz=125):
        self._uart = uart
        self._modem = modem
        self._clock = clock
        self.frequency_hz = frequency_hz
        self.sf = sf
        self.bw_khz = bw_khz
        self._deframer = Deframer()
        self.up = 0
        self.down = 0
        self.refused = 0

    def forward_up(self, rx):
        """One received LoRa packet to the gateway."""
        snr_qdb = max(-128, min(127, int(getattr(rx, "snr", 0) * 4)))
        rssi = getattr(rx, "rssi", -128)
        envelope = encode_received(bytes(rx), rssi, snr_qdb, self.frequency_hz, self.sf, self.bw_khz)
        self._uart.write(encode_frame(envelope))
        self.up += 1

    async def _uplink(self):
        async for rx in self._modem.recv_continuous():
            self.forward_up(rx)

    async def _downlink(self):
        while True:
            await self._clock.sleep_ms(10)
            data = self._uart.read()
            if data:
                self._deframer.feed(data)
            envelope = self._deframer.next_packet()
            while envelope is not None:
                try:
                    packet, _settings = decode_transmit(envelope)
                except FrameRejected:
                    self.refused += 1
                else:
                    await self._modem.send(packet)
                    self.down += 1
                envelope = self._deframer.next_packet()

    def start(self):
        return [asyncio.create_task(self._uplink()), asyncio.create_task(self._downlink())]
