"""ADXL345 3-axis accelerometer on I2C (Analog Devices datasheet Rev. G).

Run at 800 Hz output data rate in full resolution (+-16 g, 3.9 mg/LSB), with the 32-entry
FIFO in stream mode, so the node reads bursts every 50 ms instead of every sample.
"""

try:
    from micropython import const
except ImportError:  # CPython, for specs

    def const(value):  # type: ignore[misc]  # the stubs' const is generic
        return value


_ADDRESS = const(0x53)  # SDO/ALT ADDRESS low
_REG_DEVID = const(0x00)  # reads 0xE5 (Table 19)
_REG_BW_RATE = const(0x2C)  # output data rate (Table 7)
_REG_POWER_CTL = const(0x2D)
_REG_DATA_FORMAT = const(0x31)
_REG_DATAX0 = const(0x32)  # X0 X1 Y0 Y1 Z0 Z1, little-endian two's complement
_REG_FIFO_CTL = const(0x38)
_REG_FIFO_STATUS = const(0x39)  # bits 5:0 = entries in the FIFO
_DEVID = const(0xE5)
_RATE_800HZ = const(0x0D)
_MEASURE = const(0x08)
_FULL_RES_16G = const(0x0B)
_FIFO_STREAM = const(0x80)


class AccelerometerFault(Exception):
    pass


class ADXL345:
    def __init__(self, i2c, address=_ADDRESS):
        self._i2c = i2c
        self._address = address
        self._one = bytearray(1)
        self._six = bytearray(6)
        self.configure()

    def _write(self, register, value):
        self._one[0] = value
        self._i2c.writeto_mem(self._address, register, self._one)

    def _read(self, register):
        self._i2c.readfrom_mem_into(self._address, register, self._one)
        return self._one[0]

    def configure(self):
        """Identify the chip and start measuring; AccelerometerFault if it does not answer."""
        try:
            devid = self._read(_REG_DEVID)
        except OSError:
            raise AccelerometerFault("no ADXL345 on the bus") from None
        if devid != _DEVID:
            raise AccelerometerFault("device id 0x%02x is not an ADXL345" % devid)
        self._write(_REG_BW_RATE, _RATE_800HZ)
        self._write(_REG_DATA_FORMAT, _FULL_RES_16G)
        self._write(_REG_FIFO_CTL, _FIFO_STREAM | 31)
        self._write(_REG_POWER_CTL, _MEASURE)

    def self_test(self):
        try:
            return self._read(_REG_DEVID) == _DEVID
        except OSError:
            return False

    def read_fifo(self, xyz, start, limit):
        """Move up to `limit` samples from the FIFO into xyz[3*start:], as x,y,z; returns how
        many. Allocation-free: one 6-byte read per sample into a reused buffer."""
        entries = self._read(_REG_FIFO_STATUS) & 0x3F
        if entries > limit:
            entries = limit
        six = self._six
        for i in range(entries):
            self._i2c.readfrom_mem_into(self._address, _REG_DATAX0, six)
            base = 3 * (start + i)
            for axis in range(3):
                v = six[2 * axis] | (six[2 * axis + 1] << 8)
                xyz[base + axis] = v - 65536 if v & 0x8000 else v
        return entries
