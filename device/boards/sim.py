"""The unix-port board: simulated buses under the real drivers, on a virtual clock.

Nothing above the bus is simulated: the ADXL345 driver talks I2C to a register model whose
FIFO fills at 800 Hz of simulated time, the microphone driver reads 32-bit I2S slots, the
impact channel reads an ADC. Each bus replays a sample source: any object with
`fill(buf, count)` (the signal synthesizers of the specs and simulators, or `FileSource`
for recorded samples, in `sim_files`). The LoRa modem is in `sim_radio`. Both are modules of
their own so that a node on this board carries only what it uses (the full-node run's heap).
"""

from device.detect.kernels import zeros
from device.drivers.adxl345 import ADXL345
from device.drivers.analog import BatteryMonitor, ImpactChannel, TamperSwitch
from device.drivers.microphone import Microphone
from device.hal import VirtualClock
from device.keyslot import MemoryBlocks


def key_blocks():
    """The unix port keeps no flash: the key slot lives as long as the process."""
    return MemoryBlocks()


class SimADXL345Bus:
    """An I2C bus with an ADXL345 on it: the registers the driver uses and a 32-entry FIFO
    that fills at 800 Hz of the clock's time (older samples are lost when it overflows)."""

    RATE = 800

    def __init__(self, clock, source, address=0x53, present=True):
        self._clock = clock
        self._source = source
        self._address = address
        self.present = present
        self._block = zeros("h", 3 * 32)
        self._bytes = bytes(192)
        self._in_block = 0
        self._next = 0
        self._produced = 0
        self._start_ms = clock.now_ms()
        self.registers = bytearray(64)
        self.registers[0] = 0xE5
        self.lost = 0

    def _check(self, address):
        if not self.present or address != self._address:
            raise OSError(19)  # ENODEV, as a missing device NAKs

    def _due(self):
        return (self._clock.now_ms() - self._start_ms) * self.RATE // 1000 - self._produced

    def _sample(self):
        if self._next >= self._in_block:
            self._source.fill(self._block, 32)
            self._bytes = bytes(self._block)  # the registers' little-endian layout, as on x86 and ARM
            self._in_block = 32
            self._next = 0
        base = 3 * self._next
        self._next += 1
        self._produced += 1
        return base

    def writeto_mem(self, address, register, data):
        self._check(address)
        self.registers[register] = data[0]

    def readfrom_mem_into(self, address, register, buf):
        self._check(address)
        if register == 0x39:  # FIFO_STATUS
            due = self._due()
            while due > 32:  # stream mode: overflowed samples are gone
                self._sample()
                self.lost += 1
                due -= 1
            buf[0] = due
        elif register == 0x32:  # DATAX0..DATAZ1: pops one FIFO entry
            base = 2 * self._sample()
            buf[0:6] = self._bytes[base : base + 6]
        else:
            for i in range(len(buf)):
                buf[i] = self.registers[register + i]


class SimI2S:
    """An I2S receiver with a 24-bit microphone: each int16 source sample arrives as a
    32-bit little-endian slot with the sample in its top bits."""

    def __init__(self, source, block=256):
        self._source = source
        self._block = zeros("h", block)
        self._left = 0
        self._size = block

    def readinto(self, buf):
        if hasattr(self._source, "read_slots"):
            return self._source.read_slots(buf)
        count = len(buf) // 4
        for i in range(count):
            if self._left == 0:
                self._source.fill(self._block, self._size)
                self._left = self._size
            v = self._block[self._size - self._left] & 0xFFFF
            self._left -= 1
            buf[4 * i] = 0
            buf[4 * i + 1] = 0x80  # the low 8 of 24 bits: dither the driver discards
            buf[4 * i + 2] = v & 0xFF
            buf[4 * i + 3] = v >> 8
        return 4 * count


class SimADC:
    """`read_u16` from a source, a block at a time (or a constant)."""

    def __init__(self, source=None, value=32768, block=50):
        self._source = source
        self.value = value
        self._block = zeros("H", block)
        self._size = block
        self._left = 0

    def read_u16(self):
        if self._source is None:
            return self.value
        if self._left == 0:
            self._source.fill(self._block, self._size)
            self._left = self._size
        v = self._block[self._size - self._left]
        self._left -= 1
        return v


class SimPin:
    def __init__(self, value=0):
        self._value = value

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = v


class SimWatchdog:
    """Records feeds; a simulation checks `starved(now_ms)` where a board would reset."""

    def __init__(self, clock, timeout_ms=8000):
        self._clock = clock
        self.timeout_ms = timeout_ms
        self.last_feed_ms = clock.now_ms()
        self.feeds = 0

    def feed(self):
        self.last_feed_ms = self._clock.now_ms()
        self.feeds += 1

    def starved(self):
        return self._clock.now_ms() - self.last_feed_ms > self.timeout_ms


class Pipe:
    """One direction of an in-memory serial line."""

    def __init__(self):
        self.data = bytearray()


class SimUART:
    """A UART on two pipes (see `uart_pair`): `write` appends, `read` takes what is there."""

    def __init__(self, rx, tx):
        self._rx = rx
        self._tx = tx

    def write(self, data):
        self._tx.data.extend(data)
        return len(data)

    def read(self, n=-1):
        if not self._rx.data:
            return None
        data = bytes(self._rx.data)
        self._rx.data = bytearray()
        return data


def uart_pair():
    """Two UARTs wired to each other (node side, gateway side)."""
    a, b = Pipe(), Pipe()
    return SimUART(a, b), SimUART(b, a)


class SimReset(Exception):
    """A board reset: the simulation restarts the node from its stored state."""


class Board:
    """A node's hardware on the unix port."""

    def __init__(self, clock, fence_source, audio_source, impact_source, link="serial", uart=None, modem=None, sf=10):
        self.clock = clock
        self.i2c = SimADXL345Bus(clock, fence_source)
        self.accelerometer = ADXL345(self.i2c)
        self.microphone = Microphone(SimI2S(audio_source))
        self.impact_adc = SimADC(impact_source)
        self.impact = ImpactChannel(self.impact_adc)
        self.tamper_pin = SimPin(0)
        self.tamper = TamperSwitch(self.tamper_pin)
        self.battery_adc = SimADC(value=3900 * 65536 // 6600)  # 3.9 V through a 1:2 divider
        self.battery = BatteryMonitor(self.battery_adc)
        self.link_kind = link
        self.sf = sf
        self.link = self._link(uart, modem)
        self.watchdog = SimWatchdog(clock)
        self.reset_cause = 1  # power_on
        self.logged = []
        self.was_reset = False

    def _link(self, uart, modem):
        # Imported here: the driver specs load this module in a 64 KB heap without links.
        if self.link_kind == "serial":
            from device.link.serial import SerialLink

            return SerialLink(uart)
        from device.link.lora import LoraLink

        return LoraLink(modem, self.clock, sf=self.sf)

    def read_impact(self, channel, samples, count):
        return channel.read_block(samples, count)

    def temperature_dc(self):
        return 150

    def reset(self):
        self.was_reset = True
        raise SimReset()

    def log(self, message):
        if len(self.logged) < 20:
            self.logged.append(message)


__all__ = ["Board", "VirtualClock", "uart_pair", "SimReset"]
