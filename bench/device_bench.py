"""Detector throughput on the MicroPython unix port:

    micropython bench/device_bench.py

For each detector: microseconds of processing per second of input signal (8 kHz audio,
800 Hz 3-axis accelerometer, 1 kHz impact channel) and the real-time factor, then all three
together (target: >= 50x real time), and the heap the detectors and their buffers hold.
The signals carry activity (a climb, a drone, a thud) so the decision paths run too.
"""

import gc
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 2)[0] if __file__.count("/") >= 2 else ".")

from device.detect import acoustic, fence, impact  # noqa: E402
from device.detect.kernels import zeros  # noqa: E402
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


def timed(process, frames):
    start = time.ticks_us()
    for _ in range(ROUNDS):
        for frame in frames:
            process(frame)
    return time.ticks_diff(time.ticks_us(), start) / (ROUNDS * SECONDS)  # us per signal second


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
    for name, detector, frames in detectors:
        us = timed(detector.process, frames)
        total += us
        print("%-26s %9.0f us per signal second   %7.0fx real time" % (name, us, 1e6 / us))
    print("%-26s %9.0f us per signal second   %7.0fx real time (target >= 50x)" % ("all three", total, 1e6 / total))
    print("detectors and their buffers hold %d bytes of heap" % held)


main()
