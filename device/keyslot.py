"""The node's own key, in two flash blocks that the file system does not cover.

On a board the key no longer sits in `identity.json`: a listing of the file system at the
REPL (`os.listdir()`, `open(...).read()`, `mpremote fs cat`) does not show it. This hides it
from a casual look, nothing more: anyone at the REPL can still read raw flash (README: what a
board without secure boot can and cannot protect).

Each block holds at most one record in its first flash page: b"PKEY", a sequence number,
the site-key epoch the key belongs to, the 32-byte key (encryption and MAC halves) and a
check word; erased flash reads 0xFF.
A new key goes into the block that does not hold the newest record, so a power cut while it
is written leaves the key in use readable.

`blocks` is a block device as MicroPython's file systems use it (`readblocks`,
`writeblocks(n, buf, offset)` that only programs, `ioctl(6, n)` that erases): `rp2.Flash`,
the ESP32 board's NVS adapter, or `MemoryBlocks` in simulation. `perimeter node deploy` still
writes the key into identity.json; the node moves it here at its first boot (`device/app.py`).
"""

import struct

try:
    from micropython import const
except ImportError:  # CPython, for specs and simulations

    def const(value):  # type: ignore[misc]  # the stubs' const is generic
        return value


_MAGIC = b"PKEY"
_RECORD = "<4sIB32s"  # magic, sequence, epoch, key: 41 bytes, then the u32 check
_CHECKED = const(41)
_PAGE = const(256)  # the RP2040 programs flash a 256-byte page at a time
_ERASE = const(6)  # the block-device ioctl that erases a block


def _check(data):
    """FNV-1a over the record: tells a whole record from erased or half-written flash."""
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


# Functions rather than a class over `blocks`: a node keeps no object for a key it reads
# once at boot and writes once a site-key epoch (the full-node run's heap has no room to spare).


def _records(blocks):
    """(sequence, epoch, key, block) of each whole record."""
    found = []
    page = bytearray(_PAGE)
    for n in (0, 1):
        blocks.readblocks(n, page)
        magic, seq, epoch, key = struct.unpack_from(_RECORD, page)
        (check,) = struct.unpack_from("<I", page, _CHECKED)
        if magic == _MAGIC and check == _check(memoryview(page)[:_CHECKED]):
            found.append((seq, epoch, bytes(key), n))
    return found


def read_key(blocks):
    """(epoch, key) of the newest record, or None: this node holds no key."""
    records = _records(blocks)
    if not records:
        return None
    newest = max(records)
    return newest[1], newest[2]


def write_key(blocks, epoch, key):
    """Keep `key` (of site-key `epoch`) on flash, the previous one untouched until it reads back."""
    if len(key) != 32:
        raise ValueError("a node key is 32 bytes")
    records = _records(blocks)
    newest = max(records) if records else None
    seq = 0 if newest is None else newest[0] + 1
    block = 0 if newest is None else 1 - newest[3]
    page = bytearray(b"\xff" * _PAGE)
    struct.pack_into(_RECORD, page, 0, _MAGIC, seq, epoch, key)
    struct.pack_into("<I", page, _CHECKED, _check(memoryview(page)[:_CHECKED]))
    blocks.ioctl(_ERASE, block)
    blocks.writeblocks(block, page, 0)
    if read_key(blocks) != (epoch, bytes(key)):
        raise OSError("the key did not read back from flash")


class MemoryBlocks:
    """Two flash blocks in RAM, with flash's rules (erase sets every bit, programming only
    clears bits): the simulated board's key slot, and the specs'. A block takes RAM only once
    written: erased flash reads 0xFF and costs a node's heap nothing."""

    def __init__(self, size=_PAGE):  # only the first page of a block is ever used
        self.size = size
        self.data = {}

    def _block(self, n):
        if n not in self.data:
            self.data[n] = bytearray(b"\xff" * self.size)
        return self.data[n]

    def readblocks(self, n, buf, offset=0):
        block = self.data.get(n)
        for i in range(len(buf)):
            buf[i] = 0xFF if block is None else block[offset + i]

    def writeblocks(self, n, buf, offset=0):
        block = self._block(n)
        for i in range(len(buf)):
            block[offset + i] &= buf[i]

    def ioctl(self, op, arg):
        if op == _ERASE:
            self.data[arg] = bytearray(b"\xff" * self.size)
        return 0
