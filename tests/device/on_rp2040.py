"""Run on the emulated RP2040 by tests/device/test_rp2040_image.py: the Thumb kernels against
the viper kernels they stand in for, on random inputs and on the edge cases (clipping of the
fence's carried differences, an empty block, full-scale samples, a still microphone, an
empty layer), and what each costs.
Prints one line per check, `same` or `DIFFERENT ...`, then the timings."""

import time

import micropython

from device.detect import acoustic_evidence, kernels, kernels_thumb
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


def whitening(trial, limit, n, blocks, mu=1):
    # Several blocks in a row, so the predictor's state is carried and clamped as on a fence.
    a, b = zeros("h", 5), zeros("h", 5)
    a[4] = b[4] = mu
    prev = zeros("h", 9)
    results = []
    for _ in range(blocks):
        xyz = zeros("h", 120)
        for i in range(120):
            xyz[i] = rnd(limit)
        results.append((kernels.whitened_peak(xyz, n, prev, a), kernels_thumb.whitened_peak(xyz, n, prev, b)))
        for axis in range(3):
            prev[axis] = xyz[3 * (n - 1) + axis] if n else prev[axis]
    same = all(ra == rb for ra, rb in results) and list(a) == list(b)
    print("whitening %d %s" % (trial, "same" if same else "DIFFERENT %s %s %s" % (results[:3], list(a), list(b))))


def audio(trial, limit, constant=None):
    samples = zeros("h", 512)
    for i in range(512):
        samples[i] = rnd(limit) if constant is None else constant
    a, b = zeros("i", 4), zeros("i", 4)
    ra = kernels.frame_stats(samples, a)
    rb = kernels_thumb.frame_stats(samples, b)
    same = ra == rb and list(a) == list(b)
    print("audio %d %s" % (trial, "same" if same else "DIFFERENT %d %d %s %s" % (ra, rb, list(a), list(b))))


def envelope(trial, limit, frames):
    # Frames in a row, so the filters' state is carried as on a node.
    a, b = zeros("i", 3), zeros("i", 3)
    results = []
    for _ in range(frames):
        samples = zeros("h", 512)
        for i in range(512):
            samples[i] = rnd(limit)
        results.append((kernels.low_envelope(samples, a), kernels_thumb.low_envelope(samples, b)))
    same = all(ra == rb for ra, rb in results) and list(a) == list(b)
    print("envelope %d %s" % (trial, "same" if same else "DIFFERENT %s %s %s" % (results[:3], list(a), list(b))))


def comb(trial, limit, bias):
    # The physics-first detector's comb on random prominences, and on its own parameters.
    top = acoustic_evidence.TOP_BIN
    ema = zeros("i", top + 2)
    for k in range(top + 2):
        ema[k] = rnd(limit) + bias
    params = zeros("i", 4 + (top + 5) // 4)
    params[0], params[1], params[2] = top, acoustic_evidence.COMB_LOW, acoustic_evidence.COMB_HIGH
    a, b = zeros("i", 4), zeros("i", 4)
    acoustic_evidence.harmonic_comb(ema, params, acoustic_evidence._COMB_COST, a)
    kernels_thumb.harmonic_comb(ema, params, acoustic_evidence._COMB_COST, b)
    print("comb %d %s" % (trial, "same" if list(a) == list(b) else "DIFFERENT %s %s" % (list(a), list(b))))


def prominence(trial, frames, limit):
    # Several spectra in a row, so the average is carried as on a node.
    top = acoustic_evidence.TOP_BIN
    a, b = zeros("i", top + 2), zeros("i", top + 2)
    for _ in range(frames):
        logs = zeros("i", top + 2)
        for k in range(top + 2):
            logs[k] = (rnd(limit) + limit) >> 1
        acoustic_evidence.prominence_ema(acoustic_evidence.RECIPROCALS, top, logs, a)
        kernels_thumb.prominence_ema(acoustic_evidence.RECIPROCALS, top, logs, b)
    same = list(a) == list(b)
    print("prominence %d %s" % (trial, "same" if same else "DIFFERENT %s %s" % (list(a[:6]), list(b[:6]))))


def logarithm(trial, limit, n, offset):
    values = zeros("i", n)
    for i in range(n):
        values[i] = (rnd(limit) + limit) >> (i % 31) if limit else 0
    a, b = zeros("i", n), zeros("i", n)
    for i in range(n):
        a[i] = b[i] = values[i]
    kernels.log2_q4(a, n, offset)
    kernels_thumb.log2_q4(b, n, offset)
    print("log2 %d %s" % (trial, "same" if list(a) == list(b) else "DIFFERENT %s %s" % (list(a[:6]), list(b[:6]))))


def halving(trial, limit, shift):
    samples, window = zeros("h", 512), zeros("H", 256)
    for i in range(512):
        samples[i] = rnd(limit)
    for i in range(256):
        window[i] = rnd(512) + 512
    a, b = zeros("i", 256), zeros("i", 256)
    kernels.decimate_windowed(samples, a, window, shift)
    kernels_thumb.decimate_windowed(samples, b, window, shift)
    print("halve %d %s" % (trial, "same" if list(a) == list(b) else "DIFFERENT %s %s" % (list(a[:6]), list(b[:6]))))


def layer(trial, n, m, shift, limit):
    x, weights, params = zeros("i", n), zeros("h", n * m), zeros("i", 3 + m)
    for i in range(n):
        x[i] = rnd(limit)
    for i in range(n * m):
        weights[i] = rnd(32767)
    params[0], params[1], params[2] = n, m, shift
    for j in range(m):
        params[3 + j] = rnd(1 << 20)
    a, b = zeros("i", m), zeros("i", m)
    kernels.dense(x, weights, params, a)
    kernels_thumb.dense(x, weights, params, b)
    print("dense %d %s" % (trial, "same" if list(a) == list(b) else "DIFFERENT %s %s" % (list(a), list(b))))


def cost(label, function, a, b, c=None, d=None):
    # With the heap locked, as the node runs its detectors, so that what is timed is the
    # kernel and not the allocator (and no *args: that call allocates).
    n = 2 if c is None else (3 if d is None else 4)
    micropython.heap_lock()
    try:
        start = time.ticks_us()
        for _ in range(5):
            if n == 2:
                function(a, b)
            elif n == 3:
                function(a, b, c)
            else:
                function(a, b, c, d)
        spent = time.ticks_diff(time.ticks_us(), start)
    finally:
        micropython.heap_unlock()
    print("cost %s %d us" % (label, spent // 5))


for trial, limit in enumerate((1, 300, 2047, 2047)):
    dft(trial, limit)
for trial, (limit, n) in enumerate(((50, 40), (2000, 40), (32767, 40), (32767, 1), (300, 0), (32767, 37))):
    fence(trial, limit, n)
for trial, (limit, n, blocks, mu) in enumerate(
    ((50, 40, 20, 1), (2000, 40, 10, 1), (32767, 40, 5, 1), (300, 40, 10, 3000), (32767, 37, 5, 5000), (300, 0, 2, 1))
):
    whitening(trial, limit, n, blocks, mu)
for trial, (limit, constant) in enumerate(((1, None), (300, None), (32767, None), (0, 0), (0, -1234), (0, 32767))):
    audio(trial, limit, constant)
for trial, (limit, frames) in enumerate(((1, 3), (300, 5), (32767, 5), (0, 2))):
    envelope(trial, limit, frames)
for trial, (limit, bias) in enumerate(((0, 0), (100, 0), (400, 100), (400, -300), (2000, 200), (30, 200))):
    comb(trial, limit, bias)
for trial, (frames, limit) in enumerate(((1, 0), (3, 100), (8, 479), (20, 479), (5, 1))):
    prominence(trial, frames, limit)
for trial, (limit, n, offset) in enumerate(
    ((0, 8, 0), (1, 40, 0), (300, 121, 0), (1 << 29, 121, 0), ((1 << 29) - 1, 64, -320), (70000, 1, 96), (5, 0, 0))
):
    logarithm(trial, limit, n, offset)
for trial, (limit, shift) in enumerate(((300, 0), (32767, 5), (2047, 0), (32767, 0))):
    halving(trial, limit, shift)
for trial, (n, m, shift, limit) in enumerate(
    ((28, 24, 6, 400), (28, 24, 0, 20), (1, 1, 3, 5), (0, 2, 0, 0), (5, 0, 1, 9))
):
    layer(trial, n, m, shift, limit)
x, mags, xyz, prev = zeros("i", 256), zeros("i", 82), zeros("h", 120), zeros("h", 9)
cost("dft-viper", kernels.dft_magnitudes, x, kernels.dft_table(), mags, 80)
cost("dft-thumb", kernels_thumb.dft_magnitudes, x, kernels_thumb.dft_table(), mags, 80)
cost("fence-viper", kernels.abs_diff_sums, xyz, 40, prev)
cost("fence-thumb", kernels_thumb.abs_diff_sums, xyz, 40, prev)
lms = zeros("h", 5)
cost("whiten-viper", kernels.whitened_peak, xyz, 40, prev, lms)
cost("whiten-thumb", kernels_thumb.whitened_peak, xyz, 40, prev, lms)
samples, stats = zeros("h", 512), zeros("i", 4)
cost("audio-viper", kernels.frame_stats, samples, stats)
cost("audio-thumb", kernels_thumb.frame_stats, samples, stats)
hidden, weights, params = zeros("i", 24), zeros("h", 28 * 24), zeros("i", 27)
params[0], params[1] = 28, 24
window = zeros("H", 256)
ema, params, out = zeros("i", 122), zeros("i", 34), zeros("i", 4)
params[0], params[1], params[2] = 120, 5, 45
for k in range(122):
    ema[k] = rnd(400) + 50
cost("comb-viper", acoustic_evidence.harmonic_comb, ema, params, acoustic_evidence._COMB_COST, out)
cost("comb-thumb", kernels_thumb.harmonic_comb, ema, params, acoustic_evidence._COMB_COST, out)
for k in range(122):
    ema[k] = rnd(1 << 20) + (1 << 20)
cost("log2-viper", kernels.log2_q4, ema, 121, 0)
cost("log2-thumb", kernels_thumb.log2_q4, ema, 121, 0)
logs = zeros("i", 122)
for k in range(122):
    logs[k] = (rnd(479) + 479) >> 1
cost("prominence-viper", acoustic_evidence.prominence_ema, acoustic_evidence.RECIPROCALS, 120, logs, ema)
cost("prominence-thumb", kernels_thumb.prominence_ema, acoustic_evidence.RECIPROCALS, 120, logs, ema)
state = zeros("i", 3)
cost("envelope-viper", kernels.low_envelope, samples, state)
cost("envelope-thumb", kernels_thumb.low_envelope, samples, state)
cost("halve-viper", kernels.decimate_windowed, samples, x, window, 0)
cost("halve-thumb", kernels_thumb.decimate_windowed, samples, x, window, 0)
cost("dense-viper", kernels.dense, x, weights, params, hidden)
cost("dense-thumb", kernels_thumb.dense, x, weights, params, hidden)
