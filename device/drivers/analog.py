"""Analog channels: the impact geophone/piezo, and the battery through a divider.

The board passes `machine.ADC` objects; only `read_u16()` is called (0..65535).
"""


class ImpactChannel:
    """The impact sensor, biased to mid-rail, sampled at 1 kHz.

    On a board a 1 kHz `machine.Timer` calls `tick` (allocation-free, so it may run as a hard
    interrupt) which fills a ring; the impact task drains it in 50-sample blocks. A
    simulation calls `read_block`, which samples the ADC directly.
    """

    def __init__(self, adc, ring_samples=256):
        self._adc = adc
        self._ring = bytearray(2 * ring_samples)
        self._size = ring_samples
        self._head = 0
        self._tail = 0
        self.overruns = 0

    def tick(self, _timer=None):
        v = self._adc.read_u16()
        nxt = (self._head + 1) % self._size
        if nxt == self._tail:
            self.overruns += 1
            return
        self._ring[2 * self._head] = v & 0xFF
        self._ring[2 * self._head + 1] = v >> 8
        self._head = nxt

    def available(self):
        return (self._head - self._tail) % self._size

    def drain(self, samples, count):
        """Copy `count` samples from the ring into `samples` if that many are there."""
        if self.available() < count:
            return False
        for i in range(count):
            t = self._tail
            samples[i] = self._ring[2 * t] | (self._ring[2 * t + 1] << 8)
            self._tail = (t + 1) % self._size
        return True

    def read_block(self, samples, count):
        """Sample the ADC `count` times (simulation: the simulated ADC paces itself)."""
        adc = self._adc
        for i in range(count):
            samples[i] = adc.read_u16()
        return True

    def self_test(self):
        v = self._adc.read_u16()
        return 1024 < v < 64512  # a cut cable or a short rails the input


class BatteryMonitor:
    """Battery voltage through a resistor divider into the ADC."""

    def __init__(self, adc, reference_mv=3300, divider=2, low_mv=3400):
        self._adc = adc
        self._scale = reference_mv * divider
        self.low_mv = low_mv

    def millivolts(self):
        return self._adc.read_u16() * self._scale >> 16

    def is_low(self):
        return self.millivolts() < self.low_mv


class TamperSwitch:
    """The enclosure lid switch: pulled up, closed (0) while the lid is shut. A reading must
    hold for `debounce` polls before it counts, so vibration does not flap it."""

    def __init__(self, pin, debounce=3):
        self._pin = pin
        self._debounce = debounce
        self._count = 0
        self.open = bool(pin.value())

    def poll(self):
        """True when the debounced state changed; read `open` for the new state."""
        reading = bool(self._pin.value())
        if reading == self.open:
            self._count = 0
            return False
        self._count += 1
        if self._count < self._debounce:
            return False
        self._count = 0
        self.open = reading
        return True
