"""Detector throughput and the cost of the link's crypto, on the node interpreter:

    .venv/bin/python bench/device_bench.py         # both builds: unix32, then the RP2040 image
    micropython bench/device_bench.py              # this interpreter only (what the first runs)

For each detector: microseconds of processing per second of input signal (8 kHz audio,
800 Hz 3-axis accelerometer, 1 kHz impact channel; a ground node's geophone at 1 kHz) and
the real-time factor, then a fence node's three together (target on the RP2040: >= 10x
real time, <= 10 % of the CPU), and the heap the detectors and their buffers hold. The
signals carry activity (a climb, a drone, a thud) so the decision paths run too. Then the
time to seal one event frame (HMAC-SHA256 + AES-CTR) and to open one ACK.

Run by CPython, it runs itself on the 32-bit node interpreter and on the RP2040 image booted
on the rp2040js emulator, whose clock counts the Cortex-M0+ cycles at 125 MHz, so the board's
ticks_us() gives what a real Pico would take.
"""

import gc
import sys
import time

if sys.implementation.name != "micropython":
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.device_bench_host import main as host_main

    host_main()
    sys.exit(0)

# After the frozen modules: the interpreter's own frozen node is what is measured.
sys.path.append(__file__.rsplit("/", 2)[0] if __file__.count("/") >= 2 else ".")

import micropython  # noqa: E402

from device.detect import acoustic, acoustic_evidence, fence, ground, impact  # noqa: E402
from device.detect.kernels import zeros  # noqa: E402
from protocol.body import encode_body  # noqa: E402
from protocol.envelope import ENVELOPE_TYPE, wrap  # noqa: E402
from protocol.keys import NodeKey  # noqa: E402
from protocol.messages import BY_NAME, DOWN  # noqa: E402
from protocol.packet import open_packet, seal_packet  # noqa: E402
from tests.device.geophone import GeophoneSignal  # noqa: E402
from tests.device.signals import AudioSignal, FenceSignal, ImpactSignal  # noqa: E402

SECONDS = 4  # of signal, precomputed so synthesis is not timed
ROUNDS = 5


def blocks(signal, typecode, count, per_block, width=1):
    out = []
    for _ in range(count):
        buf = zeros(typecode, per_block * width)
        signal.fill(buf, per_block)
        out.append(buf)
    return out


def timed(process, frames, locked=True):
    """Microseconds per signal second, each block processed with the heap locked as the node
    runs its detectors (device/node.py, `_unlocked`): else MicroPython takes each call's frame
    from the heap, and on a crowded heap (this bench's own 4-second signals crowd it) finding
    that room costs more than the detectors' work."""
    lock, unlock = (micropython.heap_lock, micropython.heap_unlock) if locked else (_nothing, _nothing)
    start = time.ticks_us()
    for _ in range(ROUNDS):
        for frame in frames:
            lock()
            process(frame)
            unlock()
    return time.ticks_diff(time.ticks_us(), start) / (ROUNDS * SECONDS)  # us per signal second


def _nothing():
    pass


def main():
    audio = blocks(
        AudioSignal(1).drone(203, 800), "h", SECONDS * 8000 // acoustic.FRAME_SAMPLES, acoustic.FRAME_SAMPLES
    )
    accel = blocks(FenceSignal(2, wind_mps=8).climb(1.0), "h", SECONDS * 20, fence.BLOCK_SAMPLES, 3)
    geo = blocks(ImpactSignal(3).package(1.0), "H", SECONDS * 20, impact.BLOCK_SAMPLES)
    gc.collect()
    before = gc.mem_alloc()
    detectors = (
        ("fence (800 Hz x 3 axes)", fence.FenceDetector(), accel),
        ("acoustic (8 kHz)", acoustic.AcousticDetector(), audio),
        ("impact (1 kHz)", impact.ImpactDetector(), geo),
    )
    gc.collect()
    held = gc.mem_alloc() - before
    total = 0.0
    acoustic_us = 0.0
    for name, detector, frames in detectors:
        us = timed(detector.process, frames)
        total += us
        if frames is audio:
            acoustic_us = us
        print("%-26s %9.0f us per signal second   %7.0fx real time" % (name, us, 1e6 / us))
    print(
        "%-26s %9.0f us per signal second   %7.1fx real time (target >= 10x on the RP2040)"
        % ("all three", total, 1e6 / total)
    )
    print("detectors and their buffers hold %d bytes of heap" % held)
    unlocked = sum(timed(detector.process, frames, False) for _, detector, frames in detectors)
    print(
        "%-26s %9.0f us per signal second   %7.1fx real time (each call's frame taken from the heap)"
        % ("all three, heap not locked", unlocked, 1e6 / unlocked)
    )
    # The physics-first drone detector under validation (issue 29), on a four-rotor drone. The
    # signals above go first: two 4-second recordings at once fill most of the RP2040's heap,
    # and a collector working hard slows everything measured after it.
    detectors = audio = accel = geo = None
    gc.collect()
    rotors = blocks(
        AudioSignal(1).multirotor(203, 800), "h", SECONDS * 8000 // acoustic.FRAME_SAMPLES, acoustic.FRAME_SAMPLES
    )
    gc.collect()
    before = gc.mem_alloc()
    evidence = acoustic_evidence.AcousticDetector()
    gc.collect()
    held = gc.mem_alloc() - before
    us = timed(evidence.process, rotors)
    print("%-26s %9.0f us per signal second   %7.0fx real time" % ("acoustic, physics-first", us, 1e6 / us))
    others = total - acoustic_us
    print(
        "%-26s %9.0f us per signal second   %7.1fx real time (it holds %d bytes of heap)"
        % ("all three with it", others + us, 1e6 / (others + us), held)
    )
    evidence = rotors = None
    gc.collect()
    # A ground node (device/ground_node.py) runs only its geophone's detector: a landing and
    # someone walking past in the signal, so every path of it runs.
    buried = blocks(GeophoneSignal(4).package(0.5, 450).walker(2.0, 2.0, 450), "H", SECONDS * 20, ground.BLOCK_SAMPLES)
    gc.collect()
    before = gc.mem_alloc()
    detector = ground.GroundDetector()
    gc.collect()
    held = gc.mem_alloc() - before
    us = timed(detector.process, buried)
    print(
        "%-26s %9.0f us per signal second   %7.0fx real time (target >= 10x; it holds %d bytes of heap)"
        % ("ground node (1 kHz)", us, 1e6 / us, held)
    )
    detector = buried = None
    gc.collect()
    crypto()


def crypto():
    key = NodeKey(bytes(range(16)) * 2)
    body = encode_body(
        BY_NAME["FENCE"].type_id,
        {"event_no": 1, "age_ds": 0, "class": 1, "peak": 900, "noise_floor": 40, "pulses": 9, "duration_ds": 30},
    )
    ack_id = BY_NAME["ACK"].type_id
    ack = seal_packet(key, 4242, ack_id, 7, 1, encode_body(ack_id, {"acked_ctr": 1}))
    rounds = 20
    start = time.ticks_us()
    for ctr in range(1, rounds + 1):
        seal_packet(key, 4242, BY_NAME["FENCE"].type_id, 7, ctr, body, True)
    seal_us = time.ticks_diff(time.ticks_us(), start) / rounds
    fence_id = BY_NAME["FENCE"].type_id
    start = time.ticks_us()
    for ctr in range(1, rounds + 1):  # as firmware 0.5 sends it: in an ENVELOPE, padded
        seal_packet(key, 4242, ENVELOPE_TYPE, 7, ctr, wrap(fence_id, body, True, 3, ctr * 10, True), False)
    envelope_us = time.ticks_diff(time.ticks_us(), start) / rounds
    start = time.ticks_us()
    for _ in range(rounds):
        open_packet(key, 4242, ack, DOWN)
    open_us = time.ticks_diff(time.ticks_us(), start) / rounds
    print("seal one event frame (HMAC-SHA256 + AES-CTR) %8.0f us" % seal_us)
    print("seal one padded ENVELOPE with an event       %8.0f us" % envelope_us)
    print("open one ACK                                  %8.0f us" % open_us)
    key_agreement()


def key_agreement():
    """A node's half of an X25519 key change (issue 31): its public key, then the shared
    secret; and whether it still runs with only 2 KB of the heap left free."""
    from protocol.x25519 import public_key, shared_secret

    secret = bytes(range(1, 33))
    theirs = public_key(bytes(range(33, 65)))
    gc.collect()
    start = time.ticks_us()
    public_key(secret)
    middle = time.ticks_us()
    shared_secret(secret, theirs)
    end = time.ticks_us()
    print(
        "X25519: public key %8.0f us, shared secret %8.0f us"
        % (time.ticks_diff(middle, start), time.ticks_diff(end, middle))
    )
    # As the node runs it (device/node.py): a few ladder steps between yields to the
    # detectors. The longest slice is how long a detector task can be kept waiting.
    from device.node import _LADDER_SLICE
    from protocol.x25519 import steps

    longest = 0
    n = 0
    slice_start = time.ticks_us()
    for _ in steps(secret, theirs):
        n += 1
        if n % _LADDER_SLICE == 0:
            now = time.ticks_us()
            longest = max(longest, time.ticks_diff(now, slice_start))
            slice_start = now
    print(
        "X25519 in slices of %d steps: %d slices, the longest %6.0f us" % (_LADDER_SLICE, n // _LADDER_SLICE, longest)
    )
    hog = []
    gc.collect()
    try:
        while gc.mem_free() > 3072:  # the rest of the heap taken, as a busy node's might be
            hog.append(bytearray(512))
    except MemoryError:  # fragmented: no 512-byte block left although more is free in all
        pass
    try:
        public_key(secret)
        print("X25519 runs with %d bytes of heap free" % gc.mem_free())
    except MemoryError:
        print("X25519 does not run with %d bytes of heap free" % gc.mem_free())
    hog = None
    gc.collect()


main()
