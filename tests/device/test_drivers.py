"""The drivers on simulated buses: the ADXL345 is configured as its datasheet says and its
FIFO is read at 800 Hz of clock time, the I2S microphone's 32-bit slots become the source's
samples, the impact ring fills and drains, tamper is debounced, the battery divider is
scaled. Runs on CPython and MicroPython."""

from device.boards.sim import SimADC, SimADXL345Bus, SimI2S, SimPin
from device.detect.kernels import zeros
from device.drivers.adxl345 import ADXL345, AccelerometerFault
from device.drivers.analog import BatteryMonitor, ImpactChannel, TamperSwitch
from device.drivers.microphone import Microphone
from device.hal import VirtualClock


class Ramp:
    """A source whose n-th value is n (per channel value: 3n, 3n+1, 3n+2 for x, y, z)."""

    def __init__(self, channels=1, offset=0):
        self.n = 0
        self.channels = channels
        self.offset = offset

    def fill(self, buf, count):
        for i in range(count * self.channels):
            buf[i] = self.offset + self.n
            self.n += 1


class Clock(VirtualClock):
    def advance(self, ms):
        self._now += ms


def test_adxl345_is_identified_and_set_to_800hz_full_resolution_stream_fifo():
    bus = SimADXL345Bus(Clock(), Ramp(3))
    ADXL345(bus)
    assert bus.registers[0x2C] == 0x0D  # BW_RATE: 800 Hz
    assert bus.registers[0x31] == 0x0B  # DATA_FORMAT: full resolution, +-16 g
    assert bus.registers[0x38] == 0x9F  # FIFO_CTL: stream mode, watermark 31
    assert bus.registers[0x2D] == 0x08  # POWER_CTL: measure


def test_a_missing_accelerometer_is_a_fault_not_a_crash():
    try:
        ADXL345(SimADXL345Bus(Clock(), Ramp(3), present=False))
    except AccelerometerFault:
        return
    raise AssertionError("no fault raised")


def test_adxl345_fifo_delivers_the_samples_in_order_at_800_hz():
    clock = Clock()
    sensor = ADXL345(SimADXL345Bus(clock, Ramp(3, offset=-100)))
    xyz = zeros("h", 3 * 40)
    assert sensor.read_fifo(xyz, 0, 40) == 0  # no time has passed
    clock.advance(25)
    assert sensor.read_fifo(xyz, 0, 40) == 20
    clock.advance(25)
    assert sensor.read_fifo(xyz, 20, 20) == 20
    assert list(xyz) == list(range(-100, 20))  # negative values come through signed


def test_adxl345_fifo_overflow_loses_the_oldest_samples_only():
    clock = Clock()
    bus = SimADXL345Bus(clock, Ramp(3))
    sensor = ADXL345(bus)
    clock.advance(100)  # 80 samples due, the FIFO holds 32
    xyz = zeros("h", 3 * 40)
    assert sensor.read_fifo(xyz, 0, 40) == 32 and bus.lost == 48


def test_the_microphone_keeps_the_top_16_bits_of_each_slot():
    mic = Microphone(SimI2S(Ramp(offset=-256)), frame_samples=512)
    samples = zeros("h", 512)
    assert mic.read_frame(samples)
    assert samples[0] == -256 and samples[511] == 255
    assert mic.self_test(samples)


def test_a_dead_microphone_fails_its_self_test():
    class Flat:
        def fill(self, buf, count):
            for i in range(count):
                buf[i] = 0

    assert not Microphone(SimI2S(Flat())).self_test(zeros("h", 512))


def test_the_impact_ring_fills_from_the_timer_and_drains_in_blocks():
    channel = ImpactChannel(SimADC(Ramp(offset=1000)), ring_samples=64)
    block = zeros("H", 50)
    for _ in range(49):
        channel.tick()
    assert not channel.drain(block, 50)  # not a whole block yet
    channel.tick()
    assert channel.drain(block, 50) and block[0] == 1000 and block[49] == 1049
    for _ in range(70):
        channel.tick()
    assert channel.overruns == 7  # the ring keeps 63; the rest are counted, not written over


def test_tamper_must_hold_three_polls_before_it_counts():
    pin = SimPin(0)
    tamper = TamperSwitch(pin)
    pin.value(1)
    assert not tamper.poll() and not tamper.poll()
    assert tamper.poll() and tamper.open
    pin.value(0)
    assert not tamper.poll()
    pin.value(1)  # a bounce resets the count
    assert not tamper.poll() and tamper.open


def test_battery_voltage_is_scaled_through_the_divider():
    battery = BatteryMonitor(SimADC(value=32768), reference_mv=3300, divider=2, low_mv=3400)
    assert battery.millivolts() == 3300 and battery.is_low()
    assert not BatteryMonitor(SimADC(value=40000)).is_low()
