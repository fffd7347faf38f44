"""Run on the emulated RP2040 by tests/device/test_rp2040_image.py: the Thumb kernels against
the viper kernels they stand in for, on random inputs and on the edge cases (clipping of the
fence's carried differences, an empty block, full-scale samples), and what each costs.
Prints one line per check, `same` or `DIFFERENT ...`, then the timings."""

import time

from device.detect import kernels, kernels_thumb
from device.detect.kernels import zeros

_state = [11]


def rnd(limit):
    s = (_state[0] * 1103515245 + 12345) & 0x3FFFFFFF
    _state[0] = s
    return (s >> 10) % (2 * limit + 1) - limit


def dft(trial, limit):
    x = zeros("i", 256)
    for i in range(256):
        x[i] = rnd(limit)
    a, b = zeros("i", 82), zeros("i", 82)
    kernels.dft_magnitudes(x, kernels.dft_table(), a, 80)
    kernels_thumb.dft_magnitudes(x, kernels_thumb.dft_table(), b, 80)
    print("dft %d %s" % (trial, "same" if list(a) == list(b) else "DIFFERENT %s %s" % (list(a[:8]), list(b[:8]))))


def fence(trial, limit, n):
    xyz = zeros("h", 120)
    for i in range(120):
        xyz[i] = rnd(limit)
    a, b = zeros("h", 9), zeros("h", 9)
    for i in range(6):
        v = rnd(limit)
        a[i] = v
        b[i] = v
    ra = kernels.abs_diff_sums(xyz, n, a)
    rb = kernels_thumb.abs_diff_sums(xyz, n, b)
    same = ra == rb and list(a) == list(b)
    print("fence %d %s" % (trial, "same" if same else "DIFFERENT %d %d %s %s" % (ra, rb, list(a), list(b))))


def cost(label, function, *args):
    start = time.ticks_us()
    for _ in range(5):
        function(*args)
    print("cost %s %d us" % (label, time.ticks_diff(time.ticks_us(), start) // 5))


for trial, limit in enumerate((1, 300, 2047, 2047)):
    dft(trial, limit)
for trial, (limit, n) in enumerate(((50, 40), (2000, 40), (32767, 40), (32767, 1), (300, 0), (32767, 37))):
    fence(trial, limit, n)
x, mags, xyz, prev = zeros("i", 256), zeros("i", 82), zeros("h", 120), zeros("h", 9)
cost("dft-viper", kernels.dft_magnitudes, x, kernels.dft_table(), mags, 80)
cost("dft-thumb", kernels_thumb.dft_magnitudes, x, kernels_thumb.dft_table(), mags, 80)
cost("fence-viper", kernels.abs_diff_sums, xyz, 40, prev)
cost("fence-thumb", kernels_thumb.abs_diff_sums, xyz, 40, prev)
