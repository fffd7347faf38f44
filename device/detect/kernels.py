"""The inner loops of the detectors, compiled to machine code on MicroPython.

`@micropython.viper` turns these into native code with machine-word integers; on CPython
the same functions run as ordinary Python, so the detectors can be tested and simulated
there too. Viper reads `ptr16` buffers as unsigned 16-bit values, so every sample is sign
extended by hand, the same way on both interpreters. Bounds are chosen so that no sum
leaves 30 bits: on a 32-bit board a larger integer would be a heap object.
"""

import math
from array import array

try:
    import micropython
except ImportError:  # CPython: the same functions run as plain Python; annotations are names

    class micropython:  # type: ignore[no-redef]
        @staticmethod
        def viper(function):
            return function

    ptr8 = ptr16 = ptr32 = None


_ITEM_SIZE = {"b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4}


def zeros(typecode, count):
    """An array of `count` zeros, made without a temporary list (which costs 8 bytes per
    item on a 64-bit heap). Both interpreters take a bytearray initializer as raw bytes."""
    return array(typecode, bytearray(count * _ITEM_SIZE[typecode]))


FFT_SIZE = 256  # samples per analysis frame after decimation; must match _MASK
_MASK = 0xFF


@micropython.viper  # spelled out: the compiler recognises this exact decorator
def decimate_windowed(src: ptr16, dst: ptr32, window: ptr16, shift: int):  # type: ignore[valid-type]
    """dst[i] = ((src[2i] + src[2i+1]) >> shift) * window[i] >> 10, for FFT_SIZE outputs."""
    for i in range(256):
        a = ((int(src[2 * i]) & 0xFFFF) ^ 0x8000) - 0x8000
        b = ((int(src[2 * i + 1]) & 0xFFFF) ^ 0x8000) - 0x8000
        w = int(window[i])
        dst[i] = (((a + b) >> shift) * w) >> 10


@micropython.viper
def frame_stats(src: ptr16, out: ptr32) -> int:  # type: ignore[valid-type]
    """One pass over the 2 * FFT_SIZE samples of an audio frame, in pairs a, b. Returns the
    largest |a + b| (at most 65536); writes out[0] = sum |a + b| (the level below 2 kHz),
    out[1] = sum |a - b| (the level near 4 kHz, which halving the rate discards), out[2] =
    max(a + b) - min(a + b) (0 for a dead or stuck microphone) and out[3] = the pairs at full
    scale (|a + b| >= 64000: both samples at the rails, clipping). The RP2040 image runs the
    same arithmetic in Thumb code (kernels_thumb.py)."""
    peak = 0
    low = 0
    high = 0
    top = -65536
    bottom = 65536
    clipped = 0
    for i in range(256):
        a = ((int(src[2 * i]) & 0xFFFF) ^ 0x8000) - 0x8000
        b = ((int(src[2 * i + 1]) & 0xFFFF) ^ 0x8000) - 0x8000
        s = a + b
        if s > top:
            top = s
        if s < bottom:
            bottom = s
        if s < 0:
            s = 0 - s
        if s > peak:
            peak = s
        low += s
        if s >= 64000:
            clipped += 1
        d = a - b
        if d < 0:
            d = 0 - d
        high += d
    out[0] = low
    out[1] = high
    out[2] = top - bottom
    out[3] = clipped
    return peak


@micropython.viper
def low_envelope(src: ptr16, state: ptr32) -> int:  # type: ignore[valid-type]
    """The loudest moment in 85-280 Hz in an audio frame, wherever in the frame it falls (no
    window): the pair sums a + b (4 kHz), less their own slow average (a one-pole high-pass,
    -3 dB near 85 Hz: wind's rumble and the microphone's offset lie below), through two
    one-pole low-passes (each halves the way to its input; together -6 dB near 280 Hz), in
    sixteenths, carried across frames in state[0..2]. Returns the largest |output| (counts)."""
    y0 = int(state[2])
    y1 = int(state[0])
    y2 = int(state[1])
    peak = 0
    for i in range(256):
        a = ((int(src[2 * i]) & 0xFFFF) ^ 0x8000) - 0x8000
        b = ((int(src[2 * i + 1]) & 0xFFFF) ^ 0x8000) - 0x8000
        s = (a + b) << 4
        y0 += (s - y0) >> 3
        y1 += ((s - y0) - y1) >> 1
        y2 += (y1 - y2) >> 1
        m = y2
        if m < 0:
            m = 0 - m
        if m > peak:
            peak = m
    state[0] = y1
    state[1] = y2
    state[2] = y0
    return peak >> 4


@micropython.viper
def log2_q4(values: ptr32, n: int, offset: int):  # type: ignore[valid-type]
    """values[i] = offset + log2(values[i] + 1) in sixteenths, for 0 <= values[i] < 2^30; the
    fraction is read linearly between powers of two (Mitchell's approximation: within 0.09
    of log2, half a decibel)."""
    for i in range(n):
        v = int(values[i]) + 1
        e = 0
        if v >= 0x10000:
            e += 16
        if (v >> e) >= 0x100:
            e += 8
        if (v >> e) >= 0x10:
            e += 4
        if (v >> e) >= 4:
            e += 2
        if (v >> e) >= 2:
            e += 1
        rest = v - (1 << e)
        if e >= 4:
            rest = rest >> (e - 4)
        else:
            rest = rest << (4 - e)
        values[i] = offset + (e << 4) + rest


@micropython.viper
def spectral_frame(mags: ptr32, edges: ptr8, bands: int, top: int, lines: ptr8, out: ptr32):  # type: ignore[valid-type]
    """What one spectrum says, for the acoustic detector's window.

    out[b] = sum of mags over edges[b] <= k < edges[b + 1], for b < bands. A line is a bin k
    (3 <= k <= top - 3) that is a local maximum and stands 6 dB above the bins three away on
    both sides together; out[bands] = the lines from bin 5 up, out[bands + 1] = those with a
    line within one bin in the previous frame (rotor harmonics persist from frame to frame,
    voices and birds glide). lines[k] holds the previous frame's lines in bit 0 and is
    updated."""
    for b in range(bands):
        total = 0
        k = int(edges[b])
        end = int(edges[b + 1])
        while k < end:
            total += int(mags[k])
            k += 1
        out[b] = total
    count = 0
    persistent = 0
    before = 0  # lines[k - 1] of the previous frame, before it was overwritten
    k = 3
    while k <= top - 3:
        c = int(mags[k])
        now = 0
        if c >= 2 and c >= int(mags[k - 1]) and c > int(mags[k + 1]) and c > int(mags[k - 3]) + int(mags[k + 3]):
            now = 1
        was = int(lines[k]) & 1
        if now and k >= 5:
            count += 1
            if before or was or (int(lines[k + 1]) & 1):
                persistent += 1
        before = was
        lines[k] = now
        k += 1
    out[bands] = count
    out[bands + 1] = persistent


@micropython.viper
def slide(ring: ptr32, slot: int, width: int, values: ptr32, sums: ptr32):  # type: ignore[valid-type]
    """A window's running sums: replace the row at `slot` of `ring` (rows of `width` values)
    with `values`, adding the new values to `sums` and taking the old ones away."""
    base = slot * width
    for i in range(width):
        v = int(values[i])
        sums[i] += v - int(ring[base + i])
        ring[base + i] = v


@micropython.viper
def dense(x: ptr32, weights: ptr16, layer: ptr32, out: ptr32):  # type: ignore[valid-type]
    """One layer of rectified units with signed 16-bit weights: layer = [n, m, shift,
    bias 0 .. bias m-1]; out[j] = max(0, sum_i weights[j * n + i] * x[i] + bias j) >> shift
    for j < m. The caller keeps every sum within 30 bits (the model's generator checks its
    bounds). The RP2040 image runs the same arithmetic in Thumb code (kernels_thumb.py)."""
    n = int(layer[0])
    m = int(layer[1])
    shift = int(layer[2])
    for j in range(m):
        acc = int(layer[3 + j])
        row = j * n
        for i in range(n):
            w = ((int(weights[row + i]) & 0xFFFF) ^ 0x8000) - 0x8000
            acc += w * int(x[i])
        out[j] = (acc >> shift) if acc > 0 else 0


@micropython.viper
def dot(x: ptr32, n: int, weights: ptr16) -> int:  # type: ignore[valid-type]
    """sum_i weights[i] * x[i], signed 16-bit weights: a linear output unit."""
    acc = 0
    for i in range(n):
        w = ((int(weights[i]) & 0xFFFF) ^ 0x8000) - 0x8000
        acc += w * int(x[i])
    return acc


@micropython.viper
def window_features(ring: ptr32, sums: ptr32, n: int, diffs: int, out: ptr32):  # type: ignore[valid-type]
    """The acoustic detector's 28 features from the n frames of its window in `ring` (rows
    of 17 values: 12 band levels, flux, level change, lines, persistent lines; diffs of the
    frames have a predecessor) and their running sums: the mean shape, how much each band
    wanders about its mean, the flux, level change, lines per frame and the fraction of
    lines that persist."""
    total = 0
    for b in range(12):
        m = int(sums[b]) // n
        out[b] = m
        total += m
        dev = 0
        for t in range(n):
            d = int(ring[t * 17 + b]) - m  # 17: VECTOR
            dev += d if d > 0 else 0 - d
        out[16 + b] = dev * 4 // n
    mean = total // 12
    for b in range(12):
        out[b] = int(out[b]) - mean
    out[12] = int(sums[13]) // diffs
    out[13] = int(sums[14]) // diffs
    out[14] = int(sums[15]) * 16 // n
    out[15] = int(sums[16]) * 256 // (int(sums[15]) + 1)


@micropython.viper
def flux(vector: ptr32, last: ptr32, n: int) -> int:  # type: ignore[valid-type]
    """sum_i |vector[i] - last[i]| for i < n, then last[i] = vector[i] for i <= n."""
    flux = 0
    for i in range(n):
        d = int(vector[i]) - int(last[i])
        flux += d if d > 0 else 0 - d
        last[i] = vector[i]
    last[n] = vector[n]
    return flux


def dft_table():
    """The Q9 sine table `dft_magnitudes` reads (cos at index i is sin at i + FFT_SIZE/4)."""
    table = zeros("h", FFT_SIZE)
    for i in range(FFT_SIZE):
        table[i] = int(512 * math.sin(2 * math.pi * i / FFT_SIZE))
    return table


@micropython.viper
def dft_magnitudes(x: ptr32, table: ptr16, mags: ptr32, top: int):  # type: ignore[valid-type]
    """mags[k] = (max(|re|,|im|) + 3/8 min(|re|,|im|)) >> 8 for DFT bins k = 1..top of the
    FFT_SIZE samples in x: |re + j im| to within 4 % without a square root.

    With |x| < 2^11 and a Q9 sine table each sum stays below 2^28. The RP2040 image runs
    the same arithmetic in Thumb code (kernels_thumb.py)."""
    k = 1
    while k <= top:
        re = 0
        im = 0
        idx = 0
        for i in range(256):
            v = int(x[i])
            s = ((int(table[idx & 0xFF]) & 0xFFFF) ^ 0x8000) - 0x8000
            c = ((int(table[(idx + 64) & 0xFF]) & 0xFFFF) ^ 0x8000) - 0x8000
            re += v * c
            im += v * s
            idx += k
        if re < 0:
            re = 0 - re
        if im < 0:
            im = 0 - im
        if re > im:
            mag = re + ((im * 3) >> 3)
        else:
            mag = im + ((re * 3) >> 3)
        mags[k] = mag >> 8
        k += 1


@micropython.viper
def clipped_sums(mags: ptr32, top: int, out: ptr32):  # type: ignore[valid-type]
    """out[0] = the sum of mags[1..top]; out[1] = the same with each clipped at their mean,
    so a few strong lines (the harmonics themselves) do not raise a noise estimate."""
    total = 0
    for k in range(1, top + 1):
        total += int(mags[k])
    mean = total // top
    clipped = 0
    for k in range(1, top + 1):
        m = int(mags[k])
        clipped += m if m < mean else mean
    out[0] = total
    out[1] = clipped


@micropython.viper
def harmonic_search(mags: ptr32, threshold: int, low: int, high: int) -> int:  # type: ignore[valid-type]
    """The first fundamental bin k in low..high whose 1st, 2nd and 3rd harmonics each peak
    (the bin or a neighbour) at `threshold` or above; 0 if none."""
    k = low
    while k <= high:
        h = 1
        found = 1
        while h <= 3:
            b = h * k
            p = int(mags[b])
            if int(mags[b - 1]) > p:
                p = int(mags[b - 1])
            if int(mags[b + 1]) > p:
                p = int(mags[b + 1])
            if p < threshold:
                found = 0
                break
            h += 1
        if found:
            return k
        k += 1
    return 0


@micropython.viper
def abs_diff_sums(xyz: ptr16, n: int, prev: ptr16) -> int:  # type: ignore[valid-type]
    """Fence block statistics for n interleaved x,y,z samples.

    Returns the sum over samples of |dx|+|dy|+|dz| (first differences); writes the sum of
    |d2x|+|d2y|+|d2z| (second differences) into prev[6] and prev[7] (low and high 15 bits)
    and the largest single-sample |dx|+|dy|+|dz| into prev[8]. prev[0..2] hold the last
    sample and prev[3..5] the last first difference of each axis, carried across blocks."""
    lf = 0
    hf = 0
    peak = 0
    for i in range(n):
        total = 0
        for axis in range(3):
            v = ((int(xyz[3 * i + axis]) & 0xFFFF) ^ 0x8000) - 0x8000
            p = ((int(prev[axis]) & 0xFFFF) ^ 0x8000) - 0x8000
            d = v - p
            pd = ((int(prev[3 + axis]) & 0xFFFF) ^ 0x8000) - 0x8000
            d2 = d - pd
            prev[axis] = v
            if d > 32767:  # keep the carried difference in 16 bits
                d = 32767
            if d < -32768:
                d = -32768
            prev[3 + axis] = d
            if d < 0:
                d = 0 - d
            if d2 < 0:
                d2 = 0 - d2
            total += d
            hf += d2
        lf += total
        if total > peak:
            peak = total
    prev[6] = hf & 0x7FFF
    prev[7] = hf >> 15
    if peak > 0x7FFF:
        peak = 0x7FFF
    prev[8] = peak
    return lf


@micropython.viper
def whitened_peak(xyz: ptr16, n: int, prev: ptr16, lms: ptr16) -> int:  # type: ignore[valid-type]
    """The largest |e| over n interleaved x,y,z samples, e being what a two-tap predictor
    adapted to the background cannot predict of c = dx + dy + dz (the three axes' summed
    first differences).

    A fence panel rings: rain drops and gusts excite it all the time, a climber's hands and
    feet a few times a second, but harder. Filtered by the panel, both are the same ringing
    and only their level tells them apart; undone by the inverse of the ringing, rain is many
    small spikes and a climber a few large ones. The predictor is that inverse, learnt from
    whatever the fence does (sign-sign LMS, the adaptation of ADPCM's pole predictor, integers
    only, so it follows any panel's resonance). lms holds a1, a2 (Q12), the last two c, and
    the step (0 freezes it), each in 16 bits. prev[0..2] are the samples before this block; they are read, not
    written (abs_diff_sums carries them)."""
    a1 = ((int(lms[0]) & 0xFFFF) ^ 0x8000) - 0x8000
    a2 = ((int(lms[1]) & 0xFFFF) ^ 0x8000) - 0x8000
    c1 = ((int(lms[2]) & 0xFFFF) ^ 0x8000) - 0x8000
    c2 = ((int(lms[3]) & 0xFFFF) ^ 0x8000) - 0x8000
    mu = ((int(lms[4]) & 0xFFFF) ^ 0x8000) - 0x8000
    px = ((int(prev[0]) & 0xFFFF) ^ 0x8000) - 0x8000
    py = ((int(prev[1]) & 0xFFFF) ^ 0x8000) - 0x8000
    pz = ((int(prev[2]) & 0xFFFF) ^ 0x8000) - 0x8000
    peak = 0
    for i in range(n):
        x = ((int(xyz[3 * i]) & 0xFFFF) ^ 0x8000) - 0x8000
        y = ((int(xyz[3 * i + 1]) & 0xFFFF) ^ 0x8000) - 0x8000
        z = ((int(xyz[3 * i + 2]) & 0xFFFF) ^ 0x8000) - 0x8000
        c = x - px + y - py + z - pz
        px = x
        py = y
        pz = z
        if c > 32767:  # |a| < 8192 and |c| < 32768: no product leaves 30 bits
            c = 32767
        if c < -32767:
            c = -32767
        e = c - ((a1 * c1 + a2 * c2) >> 12)
        if e < 0:
            if 0 - e > peak:
                peak = 0 - e
            if c1 > 0:
                a1 -= mu
            elif c1 < 0:
                a1 += mu
            if c2 > 0:
                a2 -= mu
            elif c2 < 0:
                a2 += mu
        elif e > 0:
            if e > peak:
                peak = e
            if c1 > 0:
                a1 += mu
            elif c1 < 0:
                a1 -= mu
            if c2 > 0:
                a2 += mu
            elif c2 < 0:
                a2 -= mu
        if a1 > 8000:  # within |a1| < 2, |a2| < 1: a ringing, not a runaway
            a1 = 8000
        if a1 < -8000:
            a1 = -8000
        if a2 > 4000:
            a2 = 4000
        if a2 < -4000:
            a2 = -4000
        c2 = c1
        c1 = c
    lms[0] = a1
    lms[1] = a2
    lms[2] = c1
    lms[3] = c2
    return peak


@micropython.viper
def deviation_stats(samples: ptr16, n: int, baseline: int, out: ptr16) -> int:  # type: ignore[valid-type]
    """Impact block statistics for n unsigned ADC samples around `baseline`.

    Returns the largest |sample - baseline|; writes the sum of samples into out[0] (low 15
    bits) and out[1] (high bits), and the sum of |sample - baseline| likewise into out[2]
    and out[3]."""
    peak = 0
    total = 0
    dev_total = 0
    for i in range(n):
        v = int(samples[i]) & 0xFFFF
        total += v
        d = v - baseline
        if d < 0:
            d = 0 - d
        dev_total += d
        if d > peak:
            peak = d
    out[0] = total & 0x7FFF
    out[1] = total >> 15
    out[2] = dev_total & 0x7FFF
    out[3] = dev_total >> 15
    return peak
