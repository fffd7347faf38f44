"""The node's LoRa link, through a modem with micropython-lib's `lora` async API.

`modem` is e.g. `lora.AsyncSX1276(spi, cs, dio0, reset, lora_cfg)` on a board, or the
simulated modem on the unix port: `await modem.send(packet)` and
`modem.recv_continuous()`, an async iterator of received packets (bytearrays with `rssi`
and `snr`). Every transmission is charged to the EU868 duty-cycle budget; the node holds
back what the budget cannot pay for.
"""

import asyncio

from device.dutycycle import DutyCycleBudget, time_on_air_us


class LoraLink:
    def __init__(self, modem, clock, sf=10, bw_hz=125000, per_mille=10, inbox=4):
        self._modem = modem
        self._clock = clock
        self.sf = sf
        self.bw_hz = bw_hz
        self.budget = DutyCycleBudget(per_mille)
        self._inbox = []
        self._inbox_size = inbox
        self.last_rssi = -128
        self.sent = 0
        self.held_back = 0
        self._receiver = None

    def airtime_ms(self, size):
        return (time_on_air_us(size, self.sf, self.bw_hz) + 999) // 1000

    def allows(self, size):
        """Whether the duty-cycle budget can pay for a packet of `size` bytes now."""
        if self.budget.allows(self.airtime_ms(size), self._clock.now_ms()):
            return True
        self.held_back += 1
        return False

    async def send(self, packet):
        await self._modem.send(packet)
        self.budget.record(self.airtime_ms(len(packet)), self._clock.now_ms())
        self.sent += 1

    async def _receive_forever(self):
        async for rx in self._modem.recv_continuous():
            if len(self._inbox) < self._inbox_size:
                self._inbox.append(bytes(rx))
                self.last_rssi = getattr(rx, "rssi", -128)

    def start(self):
        if self._receiver is None:
            self._receiver = asyncio.create_task(self._receive_forever())

    def receive(self):
        return self._inbox.pop(0) if self._inbox else None
