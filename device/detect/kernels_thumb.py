"""The detectors' hottest loops in Cortex-M0+ machine code, for the RP2040 image only.

Viper on ARMv6-M spends about 50 cycles on each iteration of even the simplest loop (locals
live on the stack, every index is bounds-free but re-derived), so the 80-bin DFT took 47 ms of
every 64 ms audio frame on a Pico. Written with `@micropython.asm_thumb`, one multiply-add
pair costs about 20 cycles and the whole spectrum, magnitudes included, is one call. The
fence's block statistics (`abs_diff_sums`), the acoustic frame's statistics
(`frame_stats`), its low-band envelope for the thud detector (`low_envelope`), its halving
(`decimate_windowed`) and its network's hidden layer (`dense`) likewise.

Frozen only into the RP2040 image (device/manifest.py, `thumb=True`): mpy-cross cannot
compile Thumb assembly for other architectures. `kernels.py` takes these when they import
and its own viper versions otherwise; both give the same integers (a spec on the emulated
RP2040 compares them).
"""

import math

import micropython

from device.detect.kernels import FFT_SIZE, zeros


def dft_table():
    """FFT_SIZE words: cos << 16 | (sin & 0xFFFF), both Q9, as the viper version's sine table
    holds them (cos at index i is sin at i + FFT_SIZE/4)."""
    table = zeros("i", FFT_SIZE)
    for i in range(FFT_SIZE):
        sin = int(512 * math.sin(2 * math.pi * i / FFT_SIZE))
        cos = int(512 * math.sin(2 * math.pi * ((i + FFT_SIZE // 4) % FFT_SIZE) / FFT_SIZE))
        table[i] = (cos << 16) | (sin & 0xFFFF)
    return table


@micropython.asm_thumb
def dft_magnitudes(r0, r1, r2, r3):  # type: ignore[no-untyped-def]
    # r0: x, FFT_SIZE int32 samples (scratch: folded in place); r1: dft_table(); r2: mags,
    # int32 per bin, written for bins 1..top; r3: top.
    # mags[k] = (max(|re|,|im|) + 3/8 min(|re|,|im|)) >> 8, the integers of kernels'.
    #
    # x is real, and the table's cos and sin are exactly even and odd (cos[-j] == cos[j],
    # sin[-j] == -sin[j] in its integers), so x[i] and x[256 - i] share one product each:
    # x[i] becomes x[i] + x[256 - i] and x[256 - i] becomes x[i] - x[256 - i], and each bin
    # sums 127 pairs (plus x[0] and x[128], whose sines are 0) instead of 256 samples.
    # Integer sums in another order: the same integers, in about 60 % of the time.
    mov(r4, r8)  # r8-r11 are the caller's: kept on the stack
    mov(r5, r9)
    mov(r6, r10)
    mov(r7, r11)
    push({r4, r5, r6, r7})
    mov(r8, r0)  # x
    mov(r9, r2)  # &mags[k]
    mov(r10, r3)  # bins left
    add(r2, r0, 4)  # fold: p = &x[1], q = &x[255]
    mov(r3, 255)
    lsl(r3, r3, 2)
    add(r3, r3, r0)
    label(FOLD)
    ldr(r4, [r2, 0])
    ldr(r5, [r3, 0])
    add(r6, r4, r5)
    sub(r7, r4, r5)
    str(r6, [r2, 0])
    str(r7, [r3, 0])
    add(r2, 4)
    sub(r3, 4)
    cmp(r2, r3)
    blt(FOLD)
    mov(r4, 1)  # step = k << 24 - 1, k = 1
    lsl(r4, r4, 24)
    sub(r4, 1)
    mov(r11, r4)
    mov(r4, r9)  # &mags[1]
    add(r4, 4)
    mov(r9, r4)
    mov(r4, r10)
    cmp(r4, 0)
    beq(DONE)
    label(BIN)
    # phase = index << 24 | pairs left (127); each step adds k << 24 and takes one away,
    # so the index wraps modulo 256 by itself and the loop ends when the count reaches 0.
    mov(r3, r11)
    add(r3, 1)  # k << 24: the index of pair 1
    mov(r0, r8)
    ldr(r4, [r0, 0])  # re = 512 x[0] +- 512 x[128] (cos 128k is -512 for odd k)
    mov(r5, 128)
    lsl(r5, r5, 2)
    add(r5, r5, r0)
    ldr(r5, [r5, 0])
    lsl(r6, r3, 7)  # k odd?
    bpl(EVEN)
    neg(r5, r5)
    label(EVEN)
    add(r4, r4, r5)
    lsl(r4, r4, 9)
    mov(r5, 0)  # im
    add(r3, 127)
    add(r0, 4)  # p = &x[1] (sums), q = &x[255] (differences)
    mov(r2, 255)
    lsl(r2, r2, 2)
    mov(r6, r8)
    add(r2, r2, r6)
    label(PAIR)
    lsr(r6, r3, 22)  # index * 4
    add(r6, r6, r1)
    ldr(r6, [r6, 0])  # cos << 16 | sin
    mov(r12, r6)
    asr(r6, r6, 16)  # cos
    ldr(r7, [r0, 0])
    add(r0, 4)
    mul(r6, r7)
    add(r4, r4, r6)
    mov(r6, r12)
    lsl(r6, r6, 16)
    asr(r6, r6, 16)  # sin
    ldr(r7, [r2, 0])
    sub(r2, 4)
    mul(r6, r7)
    add(r5, r5, r6)
    mov(r6, r11)
    add(r3, r3, r6)
    lsl(r6, r3, 10)  # pairs left == 0?
    bne(PAIR)
    asr(r6, r4, 31)  # |re|
    eor(r4, r6)
    sub(r4, r4, r6)
    asr(r6, r5, 31)  # |im|
    eor(r5, r6)
    sub(r5, r5, r6)
    cmp(r4, r5)
    ble(IM_LARGER)
    lsl(r7, r5, 1)  # re + 3 im / 8
    add(r7, r7, r5)
    asr(r7, r7, 3)
    add(r4, r4, r7)
    b(STORE)
    label(IM_LARGER)
    lsl(r7, r4, 1)  # im + 3 re / 8
    add(r7, r7, r4)
    asr(r7, r7, 3)
    add(r4, r5, r7)
    label(STORE)
    asr(r4, r4, 8)
    mov(r6, r9)
    str(r4, [r6, 0])
    add(r6, 4)
    mov(r9, r6)
    mov(r6, r11)  # k += 1
    mov(r7, 1)
    lsl(r7, r7, 24)
    add(r6, r6, r7)
    mov(r11, r6)
    mov(r6, r10)
    sub(r6, 1)
    mov(r10, r6)
    bne(BIN)
    label(DONE)
    pop({r4, r5, r6, r7})
    mov(r8, r4)
    mov(r9, r5)
    mov(r10, r6)
    mov(r11, r7)


@micropython.asm_thumb
def abs_diff_sums(r0, r1, r2):  # type: ignore[no-untyped-def]
    # The fence block statistics of kernels.abs_diff_sums, the same integers: r0: xyz, r1
    # interleaved samples (n), r2: prev (carried samples and differences; outputs).
    mov(r4, r8)
    mov(r5, r9)
    mov(r6, r10)
    mov(r7, r11)
    push({r4, r5, r6, r7})
    mov(r4, 0)
    mov(r8, r4)  # lf
    mov(r9, r4)  # hf
    mov(r10, r4)  # peak
    lsl(r4, r1, 1)  # end = xyz + 6 n
    add(r4, r4, r1)
    lsl(r4, r4, 1)
    add(r4, r4, r0)
    mov(r11, r4)
    cmp(r1, 0)
    beq(DONE)
    label(SAMPLE)
    mov(r3, 0)  # total
    # The three axes are written out, the same but for their offsets and labels: the inline
    # assembler has no macros, and a loop over the axes would need two more registers.
    ldrh(r4, [r0, 0])  # v = xyz[3i + 0]
    lsl(r4, r4, 16)
    asr(r4, r4, 16)
    ldrh(r5, [r2, 0])  # p = prev[0]
    lsl(r5, r5, 16)
    asr(r5, r5, 16)
    strh(r4, [r2, 0])
    sub(r4, r4, r5)  # d
    ldrh(r5, [r2, 6])  # pd = prev[3]
    lsl(r5, r5, 16)
    asr(r5, r5, 16)
    sub(r5, r4, r5)  # d2
    lsl(r6, r4, 16)  # d kept in 16 bits for the next block
    asr(r6, r6, 16)
    cmp(r6, r4)
    beq(FITS0)
    mov(r6, 1)
    lsl(r6, r6, 15)
    cmp(r4, 0)
    blt(LOW0)
    sub(r6, 1)
    mov(r4, r6)
    b(FITS0)
    label(LOW0)
    neg(r4, r6)
    label(FITS0)
    strh(r4, [r2, 6])
    asr(r6, r4, 31)  # total += |d|
    eor(r4, r6)
    sub(r4, r4, r6)
    add(r3, r3, r4)
    asr(r6, r5, 31)  # hf += |d2|
    eor(r5, r6)
    sub(r5, r5, r6)
    mov(r6, r9)
    add(r6, r6, r5)
    mov(r9, r6)
    ldrh(r4, [r0, 2])  # v = xyz[3i + 1]
    lsl(r4, r4, 16)
    asr(r4, r4, 16)
    ldrh(r5, [r2, 2])  # p = prev[1]
    lsl(r5, r5, 16)
    asr(r5, r5, 16)
    strh(r4, [r2, 2])
    sub(r4, r4, r5)  # d
    ldrh(r5, [r2, 8])  # pd = prev[4]
    lsl(r5, r5, 16)
    asr(r5, r5, 16)
    sub(r5, r4, r5)  # d2
    lsl(r6, r4, 16)  # d kept in 16 bits for the next block
    asr(r6, r6, 16)
    cmp(r6, r4)
    beq(FITS1)
    mov(r6, 1)
    lsl(r6, r6, 15)
    cmp(r4, 0)
    blt(LOW1)
    sub(r6, 1)
    mov(r4, r6)
    b(FITS1)
    label(LOW1)
    neg(r4, r6)
    label(FITS1)
    strh(r4, [r2, 8])
    asr(r6, r4, 31)  # total += |d|
    eor(r4, r6)
    sub(r4, r4, r6)
    add(r3, r3, r4)
    asr(r6, r5, 31)  # hf += |d2|
    eor(r5, r6)
    sub(r5, r5, r6)
    mov(r6, r9)
    add(r6, r6, r5)
    mov(r9, r6)
    ldrh(r4, [r0, 4])  # v = xyz[3i + 2]
    lsl(r4, r4, 16)
    asr(r4, r4, 16)
    ldrh(r5, [r2, 4])  # p = prev[2]
    lsl(r5, r5, 16)
    asr(r5, r5, 16)
    strh(r4, [r2, 4])
    sub(r4, r4, r5)  # d
    ldrh(r5, [r2, 10])  # pd = prev[5]
    lsl(r5, r5, 16)
    asr(r5, r5, 16)
    sub(r5, r4, r5)  # d2
    lsl(r6, r4, 16)  # d kept in 16 bits for the next block
    asr(r6, r6, 16)
    cmp(r6, r4)
    beq(FITS2)
    mov(r6, 1)
    lsl(r6, r6, 15)
    cmp(r4, 0)
    blt(LOW2)
    sub(r6, 1)
    mov(r4, r6)
    b(FITS2)
    label(LOW2)
    neg(r4, r6)
    label(FITS2)
    strh(r4, [r2, 10])
    asr(r6, r4, 31)  # total += |d|
    eor(r4, r6)
    sub(r4, r4, r6)
    add(r3, r3, r4)
    asr(r6, r5, 31)  # hf += |d2|
    eor(r5, r6)
    sub(r5, r5, r6)
    mov(r6, r9)
    add(r6, r6, r5)
    mov(r9, r6)
    mov(r6, r8)  # lf += total
    add(r6, r6, r3)
    mov(r8, r6)
    mov(r6, r10)  # peak = max(peak, total)
    cmp(r3, r6)
    ble(NOT_PEAK)
    mov(r10, r3)
    label(NOT_PEAK)
    add(r0, 6)
    mov(r6, r11)
    cmp(r0, r6)
    blt(SAMPLE)
    label(DONE)
    mov(r4, r9)  # prev[6], prev[7] = hf & 0x7FFF, hf >> 15
    lsl(r5, r4, 17)
    lsr(r5, r5, 17)
    strh(r5, [r2, 12])
    lsr(r5, r4, 15)
    strh(r5, [r2, 14])
    mov(r4, r10)  # prev[8] = min(peak, 0x7FFF)
    mov(r5, 1)
    lsl(r5, r5, 15)
    sub(r5, 1)
    cmp(r4, r5)
    ble(PEAK_FITS)
    mov(r4, r5)
    label(PEAK_FITS)
    strh(r4, [r2, 16])
    mov(r0, r8)  # lf
    pop({r4, r5, r6, r7})
    mov(r8, r4)
    mov(r9, r5)
    mov(r10, r6)
    mov(r11, r7)


@micropython.asm_thumb
def frame_stats(r0, r1):  # type: ignore[no-untyped-def]
    # kernels.frame_stats, the same integers: r0: 2 * FFT_SIZE int16 samples, r1: out (4
    # int32: sum |a + b|, sum |a - b|, max - min of a + b, pairs with |a + b| >= 64000).
    # Returns the largest |a + b|.
    mov(r4, r8)
    mov(r5, r9)
    mov(r6, r10)
    mov(r7, r11)
    push({r4, r5, r6, r7})
    mov(r10, r1)  # out
    mov(r4, 1)  # end = samples + 4 * FFT_SIZE bytes
    lsl(r4, r4, 10)
    add(r4, r4, r0)
    mov(r11, r4)
    mov(r4, 1)
    lsl(r4, r4, 16)
    mov(r9, r4)  # bottom = 65536
    neg(r4, r4)
    mov(r8, r4)  # top = -65536
    mov(r2, 0)  # low
    mov(r3, 0)  # high
    mov(r4, 0)  # peak
    mov(r5, 0)  # clipped pairs
    label(PAIR)
    ldrh(r6, [r0, 0])  # a
    lsl(r6, r6, 16)
    asr(r6, r6, 16)
    ldrh(r7, [r0, 2])  # b
    lsl(r7, r7, 16)
    asr(r7, r7, 16)
    add(r0, 4)
    sub(r1, r6, r7)  # d = a - b
    add(r6, r6, r7)  # s = a + b
    asr(r7, r1, 31)  # high += |d|
    eor(r1, r7)
    sub(r1, r1, r7)
    add(r3, r3, r1)
    mov(r7, r8)  # top = max(top, s)
    cmp(r6, r7)
    ble(NOT_TOP)
    mov(r8, r6)
    label(NOT_TOP)
    mov(r7, r9)  # bottom = min(bottom, s)
    cmp(r6, r7)
    bge(NOT_BOTTOM)
    mov(r9, r6)
    label(NOT_BOTTOM)
    asr(r7, r6, 31)  # |s|
    eor(r6, r7)
    sub(r6, r6, r7)
    add(r2, r2, r6)  # low += |s|
    cmp(r6, r4)  # peak = max(peak, |s|)
    ble(NOT_PEAK)
    mov(r4, r6)
    label(NOT_PEAK)
    mov(r1, 250)  # 64000 = 250 << 8
    lsl(r1, r1, 8)
    cmp(r6, r1)
    blt(NOT_CLIPPED)
    add(r5, 1)
    label(NOT_CLIPPED)
    mov(r7, r11)
    cmp(r0, r7)
    blt(PAIR)
    mov(r7, r10)
    str(r2, [r7, 0])
    str(r3, [r7, 4])
    mov(r6, r8)  # top - bottom
    mov(r1, r9)
    sub(r6, r6, r1)
    str(r6, [r7, 8])
    str(r5, [r7, 12])
    mov(r0, r4)
    pop({r4, r5, r6, r7})
    mov(r8, r4)
    mov(r9, r5)
    mov(r10, r6)
    mov(r11, r7)


@micropython.asm_thumb
def dense(r0, r1, r2, r3):  # type: ignore[no-untyped-def]
    # kernels.dense, the same integers: r0: x (int32), r1: weights (int16, row per unit),
    # r2: layer = [n, m, shift, bias 0 .. bias m-1] (int32), r3: out (int32, m units).
    mov(r4, r8)
    mov(r5, r9)
    mov(r6, r10)
    mov(r7, r11)
    push({r4, r5, r6, r7})
    ldr(r4, [r2, 0])
    mov(r8, r4)  # n
    ldr(r4, [r2, 4])
    mov(r9, r4)  # units left
    ldr(r4, [r2, 8])
    mov(r10, r4)  # shift
    add(r2, 12)  # the biases
    mov(r11, r0)  # x
    mov(r4, r9)
    cmp(r4, 0)
    beq(DONE)
    label(UNIT)
    ldr(r4, [r2, 0])  # acc = bias
    add(r2, 4)
    mov(r0, r11)
    mov(r5, r8)  # inputs left
    cmp(r5, 0)
    beq(RECTIFY)
    label(INPUT)
    ldrh(r6, [r1, 0])  # w, sign-extended
    lsl(r6, r6, 16)
    asr(r6, r6, 16)
    add(r1, 2)
    ldr(r7, [r0, 0])  # x[i]
    add(r0, 4)
    mul(r6, r7)
    add(r4, r4, r6)
    sub(r5, 1)
    bne(INPUT)
    label(RECTIFY)
    cmp(r4, 0)
    bgt(POSITIVE)
    mov(r4, 0)
    b(STORE)
    label(POSITIVE)
    mov(r6, r10)
    asr(r4, r6)
    label(STORE)
    str(r4, [r3, 0])
    add(r3, 4)
    mov(r6, r9)
    sub(r6, 1)
    mov(r9, r6)
    bne(UNIT)
    label(DONE)
    pop({r4, r5, r6, r7})
    mov(r8, r4)
    mov(r9, r5)
    mov(r10, r6)
    mov(r11, r7)


@micropython.asm_thumb
def decimate_windowed(r0, r1, r2, r3):  # type: ignore[no-untyped-def]
    # kernels.decimate_windowed, the same integers: r0: 2 * FFT_SIZE int16 samples, r1: dst
    # (FFT_SIZE int32), r2: window (FFT_SIZE uint16, Q10), r3: shift.
    # dst[i] = ((src[2i] + src[2i+1]) >> shift) * window[i] >> 10.
    mov(r4, r8)
    push({r4})
    mov(r4, 1)  # end = dst + 4 * FFT_SIZE bytes
    lsl(r4, r4, 10)
    add(r4, r4, r1)
    mov(r8, r4)
    label(SAMPLE)
    ldrh(r4, [r0, 0])
    lsl(r4, r4, 16)
    asr(r4, r4, 16)
    ldrh(r5, [r0, 2])
    lsl(r5, r5, 16)
    asr(r5, r5, 16)
    add(r0, 4)
    add(r4, r4, r5)
    asr(r4, r3)
    ldrh(r5, [r2, 0])
    add(r2, 2)
    mul(r4, r5)
    asr(r4, r4, 10)
    str(r4, [r1, 0])
    add(r1, 4)
    mov(r5, r8)
    cmp(r1, r5)
    blt(SAMPLE)
    pop({r4})
    mov(r8, r4)


@micropython.asm_thumb
def low_envelope(r0, r1):  # type: ignore[no-untyped-def]
    # kernels.low_envelope, the same integers: r0: 2 * FFT_SIZE int16 samples, r1: state
    # (int32: y1, y2, y0, carried across frames). Returns the largest |y2| >> 4. The viper
    # loop cost 455 us of every 64 ms frame on the emulated Pico: ~220 cycles a sample pair.
    mov(r4, r8)
    push({r4})
    mov(r8, r1)  # the state, written back at the end
    ldr(r2, [r1, 8])  # y0: the slow average (high-pass)
    ldr(r3, [r1, 0])  # y1
    ldr(r4, [r1, 4])  # y2
    mov(r5, 0)  # peak
    mov(r6, 1)  # end = src + 2 * FFT_SIZE samples of 2 bytes
    lsl(r6, r6, 10)
    add(r6, r6, r0)
    label(PAIR)
    ldrh(r7, [r0, 0])  # a + b, sign-extended halves
    lsl(r7, r7, 16)
    asr(r7, r7, 16)
    ldrh(r1, [r0, 2])
    lsl(r1, r1, 16)
    asr(r1, r1, 16)
    add(r0, 4)
    add(r7, r7, r1)
    lsl(r7, r7, 4)  # s, in sixteenths
    sub(r1, r7, r2)  # y0 += (s - y0) >> 3
    asr(r1, r1, 3)
    add(r2, r2, r1)
    sub(r7, r7, r2)  # y1 += ((s - y0) - y1) >> 1
    sub(r7, r7, r3)
    asr(r7, r7, 1)
    add(r3, r3, r7)
    sub(r7, r3, r4)  # y2 += (y1 - y2) >> 1
    asr(r7, r7, 1)
    add(r4, r4, r7)
    mov(r7, r4)  # |y2| against the peak
    cmp(r7, 0)
    bge(POSITIVE)
    neg(r7, r7)
    label(POSITIVE)
    cmp(r7, r5)
    ble(KEPT)
    mov(r5, r7)
    label(KEPT)
    cmp(r0, r6)
    blt(PAIR)
    mov(r1, r8)
    str(r3, [r1, 0])
    str(r4, [r1, 4])
    str(r2, [r1, 8])
    asr(r0, r5, 4)
    pop({r4})
    mov(r8, r4)


@micropython.asm_thumb
def whitened_peak(r0, r1, r2, r3):  # type: ignore[no-untyped-def]
    # kernels.whitened_peak, the same integers: r0: xyz, r1: interleaved samples (n), r2:
    # prev (the samples before the block, read only), r3: lms (a1, a2, c1, c2, mu; int16).
    # c is the sum of the three samples less the sum before it: the viper version's summed
    # differences. Low registers: r0 xyz, r1 the previous sum, r2 c1, r3 c2, r4-r7 scratch;
    # high: r8 a1, r9 a2, r10 mu, r11 peak, r12 end; lms waits on the stack.
    mov(r4, r8)
    mov(r5, r9)
    mov(r6, r10)
    mov(r7, r11)
    push({r4, r5, r6, r7})
    lsl(r4, r1, 1)  # end = xyz + 6 n
    add(r4, r4, r1)
    lsl(r4, r4, 1)
    add(r4, r4, r0)
    mov(r12, r4)
    ldrh(r4, [r2, 0])  # the sum of prev[0..2]
    lsl(r4, r4, 16)
    asr(r4, r4, 16)
    ldrh(r5, [r2, 2])
    lsl(r5, r5, 16)
    asr(r5, r5, 16)
    add(r4, r4, r5)
    ldrh(r5, [r2, 4])
    lsl(r5, r5, 16)
    asr(r5, r5, 16)
    add(r1, r4, r5)
    ldrh(r4, [r3, 0])  # a1
    lsl(r4, r4, 16)
    asr(r4, r4, 16)
    mov(r8, r4)
    ldrh(r4, [r3, 2])  # a2
    lsl(r4, r4, 16)
    asr(r4, r4, 16)
    mov(r9, r4)
    ldrh(r4, [r3, 8])  # mu
    lsl(r4, r4, 16)
    asr(r4, r4, 16)
    mov(r10, r4)
    ldrh(r2, [r3, 4])  # c1
    lsl(r2, r2, 16)
    asr(r2, r2, 16)
    ldrh(r4, [r3, 6])  # c2
    push({r3})
    lsl(r3, r4, 16)
    asr(r3, r3, 16)
    mov(r4, 0)
    mov(r11, r4)  # peak
    mov(r4, r12)
    cmp(r0, r4)
    bge(DONE)
    label(SAMPLE)
    ldrh(r4, [r0, 0])  # s = x + y + z
    lsl(r4, r4, 16)
    asr(r4, r4, 16)
    ldrh(r5, [r0, 2])
    lsl(r5, r5, 16)
    asr(r5, r5, 16)
    add(r4, r4, r5)
    ldrh(r5, [r0, 4])
    lsl(r5, r5, 16)
    asr(r5, r5, 16)
    add(r4, r4, r5)
    sub(r5, r4, r1)  # c = s - the previous sum
    mov(r1, r4)
    mov(r6, 1)  # c within +-32767
    lsl(r6, r6, 15)
    sub(r6, 1)
    cmp(r5, r6)
    ble(C_UNDER)
    mov(r5, r6)
    label(C_UNDER)
    neg(r6, r6)
    cmp(r5, r6)
    bge(C_OVER)
    mov(r5, r6)
    label(C_OVER)
    mov(r6, r8)  # e = c - ((a1 c1 + a2 c2) >> 12)
    mul(r6, r2)
    mov(r7, r9)
    mul(r7, r3)
    add(r6, r6, r7)
    asr(r6, r6, 12)
    sub(r6, r5, r6)
    beq(SHIFT)  # e == 0: nothing to learn
    asr(r7, r6, 31)  # peak = max(peak, |e|)
    mov(r4, r6)
    eor(r4, r7)
    sub(r4, r4, r7)
    mov(r7, r11)
    cmp(r4, r7)
    ble(NOT_PEAK)
    mov(r11, r4)
    label(NOT_PEAK)
    cmp(r2, 0)  # a1 += mu sign(e) sign(c1), within +-8000
    beq(A1_DONE)
    mov(r7, r8)
    mov(r4, r6)
    eor(r4, r2)  # sets N: the signs differ
    mov(r4, r10)
    bmi(A1_DOWN)
    add(r7, r7, r4)
    b(A1_CLAMP)
    label(A1_DOWN)
    sub(r7, r7, r4)
    label(A1_CLAMP)
    mov(r4, 125)
    lsl(r4, r4, 6)
    cmp(r7, r4)
    ble(A1_UNDER)
    mov(r7, r4)
    label(A1_UNDER)
    neg(r4, r4)
    cmp(r7, r4)
    bge(A1_OVER)
    mov(r7, r4)
    label(A1_OVER)
    mov(r8, r7)
    label(A1_DONE)
    cmp(r3, 0)  # a2 += mu sign(e) sign(c2), within +-4000
    beq(SHIFT)
    mov(r7, r9)
    mov(r4, r6)
    eor(r4, r3)  # sets N: the signs differ
    mov(r4, r10)  # a move from a high register leaves the flags
    bmi(A2_DOWN)
    add(r7, r7, r4)
    b(A2_CLAMP)
    label(A2_DOWN)
    sub(r7, r7, r4)
    label(A2_CLAMP)
    mov(r4, 125)
    lsl(r4, r4, 5)
    cmp(r7, r4)
    ble(A2_UNDER)
    mov(r7, r4)
    label(A2_UNDER)
    neg(r4, r4)
    cmp(r7, r4)
    bge(A2_OVER)
    mov(r7, r4)
    label(A2_OVER)
    mov(r9, r7)
    label(SHIFT)
    mov(r3, r2)  # c2 = c1, c1 = c
    mov(r2, r5)
    add(r0, 6)
    mov(r4, r12)
    cmp(r0, r4)
    blt(SAMPLE)
    label(DONE)
    pop({r4})  # lms
    mov(r5, r8)
    strh(r5, [r4, 0])
    mov(r5, r9)
    strh(r5, [r4, 2])
    strh(r2, [r4, 4])
    strh(r3, [r4, 6])
    mov(r0, r11)
    pop({r4, r5, r6, r7})
    mov(r8, r4)
    mov(r9, r5)
    mov(r10, r6)
    mov(r11, r7)


@micropython.asm_thumb
def harmonic_comb(r0, r1, r2, r3):  # type: ignore[no-untyped-def]
    # acoustic_evidence.harmonic_comb, the same integers: r0: ema (int32, bins 0..top+1), r1:
    # params (int32: top, low, high, 0, then scratch bytes), r2: cost (bytes by half-width),
    # r3: out (int32 x 4). Two passes: each bin's score as a window's peak would give it
    # (a local peak's ema >> 3, clipped to 0..48; 0 for other bins) into the scratch bytes,
    # then each candidate's comb over them, a window's largest such byte per harmonic.
    mov(r4, r8)
    mov(r5, r9)
    mov(r6, r10)
    mov(r7, r11)
    push({r4, r5, r6, r7})
    mov(r4, r12)
    push({r4})
    mov(r10, r2)  # cost
    mov(r12, r3)  # out
    ldr(r4, [r1, 0])
    mov(r8, r4)  # top
    ldr(r4, [r1, 8])
    mov(r9, r4)  # high
    # -- pass 1: scratch[k] for k = 1..top (scratch[0] and scratch[top + 1] unused)
    mov(r2, r1)  # the scratch bytes
    add(r2, 16)
    mov(r5, 1)  # k
    label(PEAKS)
    lsl(r6, r5, 2)
    add(r6, r6, r0)  # &ema[k]
    ldr(r7, [r6, 0])  # v
    mov(r4, 0)  # its byte: 0 unless a positive local peak
    cmp(r7, 0)
    ble(STORE)
    sub(r6, 4)
    ldr(r3, [r6, 0])  # ema[k - 1]
    cmp(r7, r3)
    blt(STORE)
    ldr(r3, [r6, 8])  # ema[k + 1]
    cmp(r7, r3)
    blt(STORE)
    asr(r4, r7, 3)
    cmp(r4, 48)
    ble(STORE)
    mov(r4, 48)
    label(STORE)
    add(r6, r2, r5)
    strb(r4, [r6, 0])
    add(r5, 1)
    mov(r6, r8)
    cmp(r5, r6)
    ble(PEAKS)
    # -- pass 2: the comb. r0: scratch, r1: c, r2: centre = h c, r3: score, r4: end of the
    # window, r5: the window's byte, r6: a byte, r7: the window's largest; r11: the harmonics
    # counted (<< 8) and the teeth (low byte).
    mov(r0, r1)
    add(r0, 16)
    ldr(r1, [r1, 4])  # c = low
    mov(r4, r12)  # out[] = 0, 0, 0, 0: a candidate must score above 0
    mov(r5, 0)
    str(r5, [r4, 0])
    str(r5, [r4, 4])
    str(r5, [r4, 8])
    str(r5, [r4, 12])
    label(CANDIDATE)
    mov(r3, 0)  # score
    mov(r11, r3)  # harmonics, teeth
    mov(r2, r1)  # centre = c (h = 1)
    label(HARMONIC)
    lsl(r6, r1, 3)  # h <= 8: centre <= 8 c
    cmp(r2, r6)
    bgt(COMBED)
    mov(r6, r8)  # h c + 1 <= top: centre < top
    cmp(r2, r6)
    bge(COMBED)
    mov(r6, 13)  # w = 1 + (centre 13 >> 8)
    mul(r6, r2)
    asr(r6, r6, 8)
    add(r6, 1)
    mov(r7, r10)  # score -= cost[w]
    add(r7, r7, r6)
    ldrb(r7, [r7, 0])
    sub(r3, r3, r7)
    add(r4, r2, r6)  # hi = min(centre + w, top)
    mov(r7, r8)
    cmp(r4, r7)
    ble(HI_SET)
    mov(r4, r7)
    label(HI_SET)
    sub(r5, r2, r6)  # lo = max(centre - w, 1)
    cmp(r5, 1)
    bge(LO_SET)
    mov(r5, 1)
    label(LO_SET)
    add(r5, r5, r0)
    add(r4, r4, r0)
    mov(r7, 0)
    label(WINDOW)
    ldrb(r6, [r5, 0])
    cmp(r6, r7)
    ble(NOT_HIGHER)
    mov(r7, r6)
    label(NOT_HIGHER)
    add(r5, 1)
    cmp(r5, r4)
    ble(WINDOW)
    add(r3, r3, r7)  # score += the window's largest
    mov(r6, r11)  # one harmonic more, a tooth if 4 dB out
    add(r6, 255)
    add(r6, 1)
    cmp(r7, 11)
    blt(NO_TOOTH)
    add(r6, 1)
    mov(r11, r6)
    b(NEXT_HARMONIC)
    label(NO_TOOTH)
    mov(r11, r6)
    cmp(r2, r1)  # h = 1 without its line: most likely half the true fundamental
    bne(NEXT_HARMONIC)
    sub(r3, 32)
    label(NEXT_HARMONIC)
    add(r2, r2, r1)
    b(HARMONIC)
    label(COMBED)
    mov(r6, r11)  # h > 2: at least two harmonics combed
    asr(r6, r6, 8)
    cmp(r6, 2)
    blt(NEXT_CANDIDATE)
    mov(r4, r12)
    ldr(r5, [r4, 4])
    cmp(r3, r5)
    ble(NEXT_CANDIDATE)
    str(r1, [r4, 0])
    str(r3, [r4, 4])
    str(r6, [r4, 12])
    mov(r6, r11)
    mov(r5, 255)
    and_(r6, r5)
    str(r6, [r4, 8])
    label(NEXT_CANDIDATE)
    add(r1, 1)
    mov(r6, r9)
    cmp(r1, r6)
    ble(CANDIDATE)
    pop({r4})
    mov(r12, r4)
    pop({r4, r5, r6, r7})
    mov(r8, r4)
    mov(r9, r5)
    mov(r10, r6)
    mov(r11, r7)


@micropython.asm_thumb
def log2_q4(r0, r1, r2):  # type: ignore[no-untyped-def]
    # kernels.log2_q4, the same integers: r0: values (int32, 0 <= v < 2^30), r1: n, r2:
    # offset. values[i] = offset + log2(values[i] + 1) in sixteenths, the fraction read
    # linearly between powers of two (Mitchell's approximation).
    lsl(r1, r1, 2)  # end
    add(r1, r1, r0)
    cmp(r0, r1)
    bge(DONE)
    label(VALUE)
    ldr(r3, [r0, 0])  # v = values[i] + 1
    add(r3, 1)
    mov(r4, 0)  # e: the power of two at or under v
    mov(r5, r3)
    lsr(r5, r5, 16)
    beq(E16)
    mov(r4, 16)
    label(E16)
    mov(r5, r3)
    lsr(r5, r4)
    cmp(r5, 255)
    ble(E8)
    add(r4, 8)
    label(E8)
    mov(r5, r3)
    lsr(r5, r4)
    cmp(r5, 15)
    ble(E4)
    add(r4, 4)
    label(E4)
    mov(r5, r3)
    lsr(r5, r4)
    cmp(r5, 3)
    ble(E2)
    add(r4, 2)
    label(E2)
    mov(r5, r3)
    lsr(r5, r4)
    cmp(r5, 1)
    ble(E1)
    add(r4, 1)
    label(E1)
    mov(r5, 1)  # rest = v - 2^e, brought to sixteenths of that octave
    lsl(r5, r4)
    sub(r6, r3, r5)
    cmp(r4, 4)
    blt(SMALL)
    mov(r5, r4)
    sub(r5, 4)
    lsr(r6, r5)
    b(SCALED)
    label(SMALL)
    mov(r5, 4)
    sub(r5, r5, r4)
    lsl(r6, r5)
    label(SCALED)
    lsl(r4, r4, 4)  # offset + (e << 4) + rest
    add(r6, r6, r4)
    add(r6, r6, r2)
    str(r6, [r0, 0])
    add(r0, 4)
    cmp(r0, r1)
    blt(VALUE)
    label(DONE)


@micropython.asm_thumb
def prominence_ema(r0, r1, r2, r3):  # type: ignore[no-untyped-def]
    # acoustic_evidence.prominence_ema, the same integers: r0: reciprocals (int32, n -> floor(
    # 2^20 / n) + 1 for n = 7..13), r1: top, r2: logs (int32, 0..479), r3: ema (int32).
    # ema[k] += logs[k] - mean(logs[k-6..k+6] that exist) - ema[k] >> 3, for k = 1..top; the
    # mean's division is a multiply by the reciprocal (exact for these sums).
    mov(r4, r8)
    mov(r5, r9)
    push({r4, r5})
    mov(r8, r0)  # reciprocals
    mov(r9, r1)  # top
    mov(r0, 0)  # total
    mov(r1, 0)  # count
    mov(r4, 1)  # k
    label(FIRST)  # the first neighbourhood: logs[1..7] (those under the top)
    cmp(r4, 7)
    bgt(FIRST_DONE)
    mov(r5, r9)
    cmp(r4, r5)
    bgt(FIRST_DONE)
    lsl(r5, r4, 2)
    add(r5, r5, r2)
    ldr(r5, [r5, 0])
    add(r0, r0, r5)
    add(r1, 1)
    add(r4, 1)
    b(FIRST)
    label(FIRST_DONE)
    mov(r4, 1)
    label(BIN)
    mov(r5, r8)  # mean = total * reciprocals[count] >> 20
    lsl(r6, r1, 2)
    add(r5, r5, r6)
    ldr(r5, [r5, 0])
    mul(r5, r0)
    asr(r5, r5, 20)
    lsl(r6, r4, 2)  # p = logs[k] - mean
    add(r7, r2, r6)
    ldr(r7, [r7, 0])
    sub(r7, r7, r5)
    add(r6, r3, r6)  # ema[k] = e + p - (e >> 3)
    ldr(r5, [r6, 0])
    add(r7, r7, r5)
    asr(r5, r5, 3)
    sub(r7, r7, r5)
    str(r7, [r6, 0])
    mov(r5, r4)  # the bin 7 up joins the neighbourhood, if under the top
    add(r5, 7)
    mov(r6, r9)
    cmp(r5, r6)
    bgt(NO_JOIN)
    lsl(r5, r5, 2)
    add(r5, r5, r2)
    ldr(r5, [r5, 0])
    add(r0, r0, r5)
    add(r1, 1)
    label(NO_JOIN)
    cmp(r4, 7)  # the bin 6 down leaves it, if there is one
    blt(NO_LEAVE)
    mov(r5, r4)
    sub(r5, 6)
    lsl(r5, r5, 2)
    add(r5, r5, r2)
    ldr(r5, [r5, 0])
    sub(r0, r0, r5)
    sub(r1, 1)
    label(NO_LEAVE)
    add(r4, 1)
    mov(r6, r9)
    cmp(r4, r6)
    ble(BIN)
    pop({r4, r5})
    mov(r8, r4)
    mov(r9, r5)
