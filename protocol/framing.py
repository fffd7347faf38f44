"""Serial framing: `COBS(packet || CRC32(packet) u32 LE) || 0x00`, and a streaming deframer.

COBS leaves no 0x00 inside a frame, so a receiver that joins mid-stream, or loses bytes to
noise, is back in sync after the next 0x00. A bad CRC is line noise and is only counted;
whether the packet is authentic is the tag's business, one layer up.
"""

import binascii
import struct
import sys

from .errors import CRC, OVERSIZE, TRUNCATED, FrameRejected
from .packet import MAX_PACKET, OVERHEAD

CRC_SIZE = 4
DELIMITER = 0
# COBS adds one byte per 254 and one at the start: 255 + 4 bytes encode to at most 261.
MAX_FRAME = MAX_PACKET + CRC_SIZE + (MAX_PACKET + CRC_SIZE) // 254 + 1


def _cobs_encode_py(data: bytes) -> bytes:
    n = len(data)
    out = bytearray(n + n // 254 + 1)
    code_at = 0  # where the current block's code byte goes
    code = 1
    o = 1
    for i in range(n):
        byte = data[i]
        if byte == 0:
            out[code_at] = code
            code_at = o
            o += 1
            code = 1
        else:
            out[o] = byte
            o += 1
            code += 1
            # A full block of 254 data bytes ends without an implied zero; a new block is
            # opened only if data follows, as the COBS paper (and the `cobs` package) do.
            if code == 0xFF and i + 1 < n:
                out[code_at] = code
                code_at = o
                o += 1
                code = 1
    out[code_at] = code
    return bytes(out[:o])


def _cobs_decode_py(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if code == 0 or i + code > n:
            raise ValueError("bad COBS code byte at %d" % i)
        block = data[i + 1 : i + code]
        if DELIMITER in block:
            raise ValueError("0x00 inside a COBS frame")
        out.extend(block)
        i += code
        if code < 0xFF and i < n:
            out.append(0)
    return bytes(out)


if sys.implementation.name == "micropython":
    cobs_encode = _cobs_encode_py
    cobs_decode = _cobs_decode_py
else:
    # On the gateway the C implementation from the `cobs` package does the same work an
    # order of magnitude faster; tests prove both give the same bytes.
    from cobs import cobs as _cobs

    def cobs_encode(data: bytes) -> bytes:
        return bytes(_cobs.encode(data))

    def cobs_decode(data: bytes) -> bytes:
        try:
            return bytes(_cobs.decode(data))
        except _cobs.DecodeError as exc:
            raise ValueError(str(exc)) from None


def crc32(data: bytes) -> int:
    """CRC-32 (IEEE 802.3, as zlib and binascii compute it)."""
    return binascii.crc32(data) & 0xFFFFFFFF


def encode_frame(packet: bytes) -> bytes:
    """The serial frame of a packet, delimiter included."""
    return bytes(cobs_encode(packet + struct.pack("<I", crc32(packet)))) + b"\x00"


def decode_frame(frame: bytes) -> bytes:
    """The packet inside one serial frame (its trailing 0x00 optional).

    Raises `FrameRejected`: "crc" for line noise (bad COBS, a 0x00 inside, bad CRC32),
    "truncated" for a frame too short to hold a packet, "oversize" for one too long.
    """
    if frame and frame[-1] == DELIMITER:
        frame = frame[:-1]
    if DELIMITER in frame:
        raise FrameRejected(CRC, "0x00 inside the frame")
    if len(frame) > MAX_FRAME:
        raise FrameRejected(OVERSIZE, "frame of %d bytes exceeds %d" % (len(frame), MAX_FRAME))
    try:
        data = bytes(cobs_decode(frame))
    except ValueError as exc:
        raise FrameRejected(CRC, "bad COBS: %s" % exc) from None
    if len(data) < CRC_SIZE:
        raise FrameRejected(TRUNCATED, "frame holds %d bytes, not even a CRC" % len(data))
    packet = data[:-CRC_SIZE]
    if struct.unpack_from("<I", data, len(data) - CRC_SIZE)[0] != crc32(packet):
        raise FrameRejected(CRC, "CRC32 mismatch")
    if len(packet) < OVERHEAD:
        raise FrameRejected(TRUNCATED, "packet is %d bytes, the smallest is %d" % (len(packet), OVERHEAD))
    if len(packet) > MAX_PACKET:
        raise FrameRejected(OVERSIZE, "packet of %d bytes exceeds %d" % (len(packet), MAX_PACKET))
    return packet


class Deframer:
    """Turns a byte stream, fed in chunks of any size, into packets.

    `feed(data)` takes bytes as they arrive; `next_packet()` returns the next packet whose
    frame had a good CRC, or None when more data is needed. It never raises on what it is
    fed: garbage, split frames and frames run together are all handled. The buffer holds at
    most one frame (`max_frame` bytes); a longer run without a delimiter is dropped and
    counted as oversize. Counters: `packets`, `bad_crc`, `truncated`, `oversize`.
    """

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._overflowed = False  # dropping bytes until the next delimiter
        self._ready: list[bytes] = []
        self.packets = 0
        self.bad_crc = 0
        self.truncated = 0
        self.oversize = 0

    def feed(self, data: bytes) -> None:
        """Take the next chunk of the stream."""
        start = 0
        n = len(data)
        while start < n:
            end = data.find(b"\x00", start)
            if end < 0:
                self._append(data, start, n)
                return
            self._append(data, start, end)
            if self._overflowed:
                self._overflowed = False
            elif self._buf:
                self._frame(bytes(self._buf))
            self._buf = bytearray()
            start = end + 1

    def next_packet(self) -> bytes | None:
        """The next good packet, or None if the stream so far holds no more."""
        if self._ready:
            return self._ready.pop(0)
        return None

    def stats(self) -> dict[str, int]:
        """The counters, for health reports and metrics."""
        return {
            "packets": self.packets,
            "bad_crc": self.bad_crc,
            "truncated": self.truncated,
            "oversize": self.oversize,
        }

    def _append(self, data: bytes, start: int, end: int) -> None:
        if self._overflowed or start == end:
            return
        if len(self._buf) + end - start > self.max_frame:
            self.oversize += 1
            self._overflowed = True
            self._buf = bytearray()
            return
        self._buf.extend(data[start:end])

    def _frame(self, frame: bytes) -> None:
        try:
            packet = decode_frame(frame)
        except FrameRejected as exc:
            if exc.kind == TRUNCATED:
                self.truncated += 1
            elif exc.kind == OVERSIZE:
                self.oversize += 1
            else:
                self.bad_crc += 1
            return
        self.packets += 1
        self._ready.append(packet)
