"""The detectors' hottest loops in Cortex-M0+ machine code, for the RP2040 image only.

Viper on ARMv6-M spends about 50 cycles on each iteration of even the simplest loop (locals
live on the stack, every index is bounds-free but re-derived), so the 80-bin DFT took 47 ms of
every 64 ms audio frame on a Pico. Written with `@micropython.asm_thumb`, one multiply-add
pair costs about 20 cycles and the whole spectrum, magnitudes included, is one call. The
fence's block statistics (`abs_diff_sums`) likewise.

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
    # r0: x, FFT_SIZE int32 samples; r1: dft_table(); r2: mags, int32 per bin, written for
    # bins 1..top; r3: top. mags[k] = (max(|re|,|im|) + 3/8 min(|re|,|im|)) >> 8.
    mov(r4, r8)  # r8-r11 are the caller's: kept on the stack
    mov(r5, r9)
    mov(r6, r10)
    mov(r7, r11)
    push({r4, r5, r6, r7})
    mov(r8, r0)  # x
    mov(r9, r2)  # mags
    mov(r10, r3)  # top
    mov(r4, 1)
    mov(r11, r4)  # k
    label(BIN)
    # phase = index << 24 | samples left (256); each step adds k << 24 and takes one away,
    # so the index wraps modulo 256 by itself and the loop ends when the count reaches 0.
    mov(r2, r11)
    lsl(r2, r2, 24)
    sub(r2, 1)
    mov(r3, 1)
    lsl(r3, r3, 8)
    mov(r0, r8)
    mov(r4, 0)  # re
    mov(r5, 0)  # im
    label(SAMPLE)
    lsr(r6, r3, 22)  # index * 4
    add(r6, r6, r1)
    ldr(r6, [r6, 0])  # cos << 16 | sin
    ldr(r7, [r0, 0])  # x[i]
    add(r0, 4)
    mov(r12, r6)
    asr(r6, r6, 16)  # cos
    mul(r6, r7)
    add(r4, r4, r6)
    mov(r6, r12)
    lsl(r6, r6, 16)
    asr(r6, r6, 16)  # sin
    mul(r6, r7)
    add(r5, r5, r6)
    add(r3, r3, r2)
    lsl(r6, r3, 10)  # samples left == 0?
    bne(SAMPLE)
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
    mov(r6, r11)
    lsl(r6, r6, 2)
    mov(r7, r9)
    add(r6, r6, r7)
    str(r4, [r6, 0])
    mov(r6, r11)
    add(r6, 1)
    mov(r11, r6)
    mov(r7, r10)
    cmp(r6, r7)
    ble(BIN)
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
