"""A node's half of a key agreement (X25519, `protocol/x25519.py`) on the RP2040 image:

    .venv/bin/python bench/key_agreement_bench.py     # boots the image on rp2040js, runs this there

One multiplication (a node makes two: its public key, then the shared secret) timed whole
and in the slices the node runs it in (`device/node.py`: `_LADDER_SLICE` steps between
yields to the detectors; the longest slice is the longest a detector waits), on a fresh heap
and on a heap crowded with small objects (the collector then runs often and scans them all).
The emulator counts Cortex-M0+ cycles at 125 MHz, so ticks_us() gives a real Pico's time.
"""

import sys

if sys.implementation.name != "micropython":
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    from gateway.tools import node_image
    from simulators.emulated_pico import EmulatedPico

    with EmulatedPico(node_image.build("rp2")) as pico:
        pico.raw_repl()
        pico.write_file("key_agreement_bench.py", Path(__file__).read_bytes())
        print(pico.run("import key_agreement_bench", timeout=1800), end="")
    sys.exit(0)

import gc  # noqa: E402
import time  # noqa: E402

from device.node import _LADDER_SLICE  # noqa: E402
from protocol import x25519  # noqa: E402

SECRET = bytes(range(1, 33))
THEIRS = x25519.public_key(bytes(range(33, 65)))


def multiply(size):
    """(whole time, longest slice) in microseconds, yielding every `size` steps."""
    longest = 0
    n = 0
    start = slice_start = time.ticks_us()
    for _ in x25519.steps(SECRET, THEIRS):
        n += 1
        if n % size == 0:
            now = time.ticks_us()
            longest = max(longest, time.ticks_diff(now, slice_start))
            slice_start = now
    return time.ticks_diff(time.ticks_us(), start), longest


def report(heap):
    for size in sorted({1, _LADDER_SLICE, 4}):
        whole, longest = multiply(size)
        print(
            "%-38s one multiplication %8d us, slices of %d step(s): the longest %6d us" % (heap, whole, size, longest)
        )


gc.collect()
report("fresh heap (%d bytes free)" % gc.mem_free())
hog = []
try:
    while gc.mem_free() > 24000:  # the collector runs every 24 KB allocated, and scans these
        hog.append(bytearray(200))
except MemoryError:
    pass
gc.collect()
report("crowded (%d objects, %d free)" % (len(hog), gc.mem_free()))
