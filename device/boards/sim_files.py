"""Recorded samples for the simulated board's buses (`device/boards/sim.py`): the simulators
write each node's signals to files, and the buses replay them."""


class FileSource:
    """Raw little-endian 16-bit samples from a file, looped (interleaved x,y,z for the
    accelerometer: the caller's count is in samples of `channels` values each)."""

    def __init__(self, path, channels=1, signed=True):
        self._file = open(path, "rb")
        self._channels = channels
        self._signed = signed
        self._two = bytearray(2)

    def fill(self, buf, count):
        wanted = count * self._channels
        if wanted == len(buf) and getattr(buf, "itemsize", 2) == 2:
            # The whole block at once: the file holds the samples as the array does.
            got = self._file.readinto(memoryview(buf)) // 2
            if got < wanted:  # the end of the recording: carry on from its start
                self._file.seek(0)
                for i in range(got, wanted):
                    self._file.readinto(self._two)
                    v = self._two[0] | (self._two[1] << 8)
                    buf[i] = v - 65536 if self._signed and v & 0x8000 else v
            return
        for i in range(wanted):
            if self._file.readinto(self._two) < 2:
                self._file.seek(0)
                self._file.readinto(self._two)
            v = self._two[0] | (self._two[1] << 8)
            buf[i] = v - 65536 if self._signed and v & 0x8000 else v


class SlotFileSource:
    """A recording already laid out as the microphone's 32-bit I2S slots (the simulators
    write it so): the bytes go straight into the driver's buffer, looped at the end. The
    per-sample conversion of `SimI2S` cost more than the acoustic detector itself."""

    def __init__(self, path):
        self._file = open(path, "rb")

    def read_slots(self, buf):
        view = memoryview(buf)
        got = self._file.readinto(view)
        if got < len(buf):
            self._file.seek(0)
            got += self._file.readinto(view[got:])
        return got - got % 4
