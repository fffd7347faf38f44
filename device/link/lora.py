"""The node's LoRa link, through a modem with micropython-lib's `lora` async API.

`modem` is e.g. `lora.AsyncSX1276(spi, cs, dio0, reset, lora_cfg)` on a board, or the
simulated modem on the unix port: `await modem.send(packet)` and
`modem.recv_continuous()`, an async iterator of received packets (bytearrays with `rssi`
and `snr`). Every transmission is charged to the EU868 duty-cycle budget; the node holds
back what the budget cannot pay for. `hop()` moves to the next of the site's channels (an
alarm that went unanswered several times tries another: a jammer may sit on this one); the
node then stays there, where the gateway's ACK comes back on the channel it was heard on.
"""

import asyncio

from device.dutycycle import DutyCycleBudget, time_on_air_us


class LoraLink:
    def __init__(self, modem, clock, sf=10, bw_hz=125000, per_mille=10, inbox=4, channels_khz=(868100, 868300, 868500)):
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
        self.channels_khz = channels_khz
        self.channel = 0  # index into channels_khz; the modem starts on the first
        self.hops = 0

    def airtime_ms(self, size):
        return (time_on_air_us(size, self.sf, self.bw_hz) + 999) // 1000

    def allows(self, size, low=False):
        """Whether the duty-cycle budget can pay for a packet of `size` bytes now. A `low`
        priority one (a heartbeat, a rattle, a faint climb) may not spend the last fifth of
        the hour's budget: in a storm the rain's reports would leave a drone's clear, or the
        next climb, waiting for airtime."""
        keep = self.budget.limit_ms // 5 if low else 0
        if self.budget.allows(self.airtime_ms(size), self._clock.now_ms(), keep):
            return True
        self.held_back += 1
        return False

    def hop(self):
        """Move to the next channel for this and later transmissions."""
        if len(self.channels_khz) < 2 or not hasattr(self._modem, "configure"):
            return
        self.channel = (self.channel + 1) % len(self.channels_khz)
        # The `lora` drivers refuse configure() while receiving: standby ends the continuous
        # receive, and the receive task starts it again on the new channel.
        if hasattr(self._modem, "standby"):
            self._modem.standby()
        self._modem.configure({"freq_khz": self.channels_khz[self.channel]})
        self.hops += 1

    async def send(self, packet):
        await self._modem.send(packet)
        self.budget.record(self.airtime_ms(len(packet)), self._clock.now_ms())
        self.sent += 1

    async def _receive_forever(self):
        while True:  # a hop's standby ends one continuous receive: start the next
            async for rx in self._modem.recv_continuous():
                if len(self._inbox) < self._inbox_size:
                    self._inbox.append(bytes(rx))
                    self.last_rssi = getattr(rx, "rssi", -128)
            await self._clock.sleep_ms(10)

    def start(self):
        if self._receiver is None:
            self._receiver = asyncio.create_task(self._receive_forever())

    def receive(self):
        return self._inbox.pop(0) if self._inbox else None
