"""I2S MEMS microphone (INMP441, ICS-43434): 24-bit samples, left-justified in 32-bit slots.

The board builds `machine.I2S(..., mode=I2S.RX, bits=32, format=I2S.MONO, rate=8000)`; this
driver reads it with `readinto` into a reused buffer and keeps the top 16 bits of each
sample, which is more than the microphone's ~100 dB dynamic range needs after the frame's
own gain is normalised by the detector.
"""

try:
    import micropython
except ImportError:  # CPython: the function runs as plain Python; annotations are names

    class micropython:  # type: ignore[no-redef]
        @staticmethod
        def viper(function):
            return function

    ptr8 = ptr16 = None


@micropython.viper  # spelled out: the compiler recognises this exact decorator
def _top_halves(raw: ptr8, samples: ptr16, count: int):  # type: ignore[valid-type]
    # Little-endian 32-bit slots: the top 16 bits of slot i are bytes 4i+2 and 4i+3.
    for i in range(count):
        v = int(raw[4 * i + 2]) | (int(raw[4 * i + 3]) << 8)
        samples[i] = ((v & 0xFFFF) ^ 0x8000) - 0x8000


class Microphone:
    def __init__(self, i2s, frame_samples=512):
        self._i2s = i2s
        self._raw = bytearray(4 * frame_samples)
        self._half = memoryview(self._raw)
        self.frame_samples = frame_samples

    def read_frame(self, samples):
        """Fill `samples` (array 'h' of frame_samples) with one frame; True when complete."""
        got = 0
        while got < len(self._raw):
            n = self._i2s.readinto(self._half[got:])
            if not n:
                return False
            got += n
        _top_halves(self._raw, samples, self.frame_samples)
        return True

    def self_test(self, samples):
        """A dead microphone reads all zeros (or one stuck value)."""
        if not self.read_frame(samples):
            return False
        first = samples[0]
        for i in range(1, len(samples)):
            if samples[i] != first:
                return True
        return False
