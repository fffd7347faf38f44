"""The simulated board's LoRa modem (`device/boards/sim.py`): the async API of micropython-lib's
`lora` drivers over an in-process channel."""


class RxPacket(bytearray):
    """What micropython-lib's `lora` modems return: the payload plus link metadata."""

    def __init__(self, payload, rssi, snr):
        super().__init__(payload)
        self.rssi = rssi
        self.snr = snr


class RadioChannel:
    """An in-process radio: every modem hears every other's transmissions (the simulators'
    channel adds path loss, collisions and time on air)."""

    def __init__(self):
        self.modems = []

    def transmit(self, sender, packet, rssi=-90, snr=8):
        for modem in self.modems:
            if modem is not sender:
                modem.inbox.append(RxPacket(packet, rssi, snr))


class SimModem:
    """A LoRa modem with the async API of micropython-lib's `lora` drivers."""

    def __init__(self, channel, clock):
        self._channel = channel
        self._clock = clock
        self.inbox = []
        self.sent = []
        self.freq_khz = 868100
        self.sent_on = []  # the frequency of each packet in `sent`
        channel.modems.append(self)

    def configure(self, lora_cfg):
        self.freq_khz = lora_cfg.get("freq_khz", self.freq_khz)

    def standby(self):
        pass  # nothing to cancel: this modem's receive is its inbox

    async def send(self, packet, tx_at_ms=None):
        self.sent.append(bytes(packet))
        self.sent_on.append(self.freq_khz)
        self._channel.transmit(self, bytes(packet))

    def recv_continuous(self):
        return self  # MicroPython has no async generators: the modem is its own iterator

    def __aiter__(self):
        return self

    async def __anext__(self):
        while not self.inbox:
            await self._clock.sleep_ms(10)
        return self.inbox.pop(0)
