"""Drone detection from the rotor blade-pass harmonic series (FIELD.md: drone acoustics).

A multirotor's sound is a harmonic series whose fundamental is the blade-pass frequency
(blades x rpm / 60: about 180-370 Hz for common quadcopters at hover). Each 64 ms frame of
8 kHz audio is halved to 4 kHz through a Hann window and its spectrum computed over
15.6-1250 Hz (bins of 15.625 Hz). A frame is positive when some fundamental in 78-406 Hz has
energy at 1x, 2x and 3x above the band's noise level by the configured SNR. The noise level
is a clipped mean of the spectrum, so the harmonics themselves do not raise it. A series
that carries on below the search band (mains hum at 50 Hz and its multiples, a diesel
generator) is refused: its real fundamental is not a rotor's. A detection is raised after
`raise_frames` positive frames in a row and cleared after `clear_frames` negative ones, as
Batear does.

Everything per frame is integer arithmetic on preallocated buffers, in whole-spectrum
kernels: viper (`kernels`), or Cortex-M0+ machine code on the RP2040 (`kernels_thumb`), where
viper loops are too slow for the 80-bin DFT.
"""

import math

from device.detect.kernels import FFT_SIZE, clipped_sums, decimate_windowed, harmonic_search, peak_of_pairs, zeros

try:
    from device.detect.kernels_thumb import dft_magnitudes, dft_table  # only in the RP2040 image
except ImportError:
    from device.detect.kernels import dft_magnitudes, dft_table  # type: ignore[assignment]  # same contract

SAMPLE_RATE = 8000
FRAME_SAMPLES = 2 * FFT_SIZE  # 512 samples = 64 ms
FRAME_MS = FRAME_SAMPLES * 1000 // SAMPLE_RATE
BIN_MHZ = SAMPLE_RATE // 2 * 1000 // FFT_SIZE  # 15625 mHz per bin
TOP_BIN = 80  # 1250 Hz: third harmonic of the highest fundamental, plus one
F0_LOW = 5  # bins: 78 Hz
F0_HIGH = 26  # 406 Hz

NONE = 0
DRONE = 1  # protocol.messages.ACOUSTIC_CLASS
DRONE_CLEARED = 2


def _db_table():
    # DB_Q8[d] = 10^(d/20) in Q8: magnitude ratio of d decibels.
    table = zeros("i", 61)
    for d in range(61):
        table[d] = int(256 * math.pow(10, d / 20) + 0.5)
    return table


class AcousticDetector:
    """Feed `process` one frame of FRAME_SAMPLES signed 16-bit samples at 8 kHz."""

    def __init__(self, snr_db=12, raise_frames=2, clear_frames=8):
        self._table = dft_table()
        self._window = zeros("H", FFT_SIZE)  # Hann, Q10: keeps a loud tone's leakage out of other bins
        for i in range(FFT_SIZE):
            self._window[i] = int(1024 * (0.5 - 0.5 * math.cos(2 * math.pi * i / FFT_SIZE)))
        self._x = zeros("i", FFT_SIZE)
        self.magnitudes = zeros("i", TOP_BIN + 2)
        self._sums = zeros("i", 2)
        self._db = _db_table()
        self.raise_frames = raise_frames
        self.clear_frames = clear_frames
        self.set_snr_db(snr_db)
        self.active = False
        self._run = 0  # positive frames in a row while idle, negative ones while active
        self._confidence_q8 = 0  # EMA of positive frames, 0..25600
        self._active_frames = 0
        self.noise = 0  # clipped mean magnitude of the last frame
        self.floor = 0  # the same on the input's scale, for heartbeats
        # What the last positive frame measured, reported with DRONE and DRONE_CLEARED:
        self.fundamental_hz = 0
        self.harmonics = 0
        self.snr_db = 0
        self._strongest_q8 = 0  # strongest of the first three harmonics over the noise, Q8
        self.confidence = 0
        self.duration_ds = 0

    def set_snr_db(self, snr_db):
        """The SNR each of the three harmonics must reach (CONFIG `acoustic_snr_db`, 0-30)."""
        self._ratio_q8 = self._db[min(max(snr_db, 0), 30)]

    def _peak(self, k):
        m = self.magnitudes
        best = m[k]
        if m[k - 1] > best:
            best = m[k - 1]
        if m[k + 1] > best:
            best = m[k + 1]
        return best

    def _spectrum(self, samples):
        peak = peak_of_pairs(samples)
        shift = 0
        while (peak >> shift) > 2047:
            shift += 1
        decimate_windowed(samples, self._x, self._window, shift)
        dft_magnitudes(self._x, self._table, self.magnitudes, TOP_BIN)
        clipped_sums(self.magnitudes, TOP_BIN, self._sums)
        self.noise = self._sums[1] // TOP_BIN + 1
        floor = (self.noise << shift) >> 4
        self.floor = floor if floor < 0xFFFF else 0xFFFF
        # Split so the product stays within 30 bits on a 32-bit board (SNR is capped at 30 dB).
        return (self.noise >> 2) * (self._ratio_q8 >> 2) >> 4

    def _continues_below_band(self, k, threshold):
        # A series at k/2 (with 3k/2) or k/3 (with 2k/3) whose fundamental is below the band.
        for d in (2, 3):
            low = (k + d // 2) // d
            other = (k * (3 if d == 2 else 2) + d // 2) // d
            if 1 <= low < F0_LOW and self._peak(low) >= threshold and self._peak(other) >= threshold:
                return True
        return False

    def _measure(self, k, threshold):
        m = self.magnitudes
        kp = k
        if m[k - 1] > m[kp]:
            kp = k - 1
        if m[k + 1] > m[kp]:
            kp = k + 1
        curve = 2 * m[kp] - m[kp - 1] - m[kp + 1]
        delta_q8 = 128 * (m[kp + 1] - m[kp - 1]) // curve if curve > 0 else 0
        self.fundamental_hz = (kp * 256 + delta_q8) * BIN_MHZ // 256000
        found = 0
        strongest = 0
        h = 1
        while h * k < TOP_BIN and h <= 5:
            level = self._peak(h * k)
            if level >= threshold:
                found += 1
            if h <= 3 and level > strongest:
                strongest = level
            h += 1
        self.harmonics = found
        self._strongest_q8 = strongest * 256 // self.noise

    def _decided(self, decision):
        # The SNR in dB is read off the table only when it is reported, not on every frame.
        db = 0
        while db < 60 and self._strongest_q8 >= self._db[db + 1]:
            db += 1
        self.snr_db = db
        return decision

    def process(self, samples):
        """Analyse one frame; returns DRONE when a detection is raised, DRONE_CLEARED when it
        clears, NONE otherwise."""
        threshold = self._spectrum(samples)
        found = harmonic_search(self.magnitudes, threshold, F0_LOW, F0_HIGH)
        while found and self._continues_below_band(found, threshold):
            found = harmonic_search(self.magnitudes, threshold, found + 1, F0_HIGH)
        self._confidence_q8 += ((25600 if found else 0) - self._confidence_q8) >> 2
        if found:
            self._measure(found, threshold)
            self.confidence = self._confidence_q8 >> 8
        if self.active:
            self._active_frames += 1
            self._run = 0 if found else self._run + 1
            if self._run >= self.clear_frames:
                self.active = False
                self._run = 0
                self.duration_ds = self._active_frames * FRAME_MS // 100
                return self._decided(DRONE_CLEARED)
            return NONE
        self._run = self._run + 1 if found else 0
        if self._run >= self.raise_frames:
            self.active = True
            self._run = 0
            self._active_frames = self.raise_frames
            self.duration_ds = self._active_frames * FRAME_MS // 100
            return self._decided(DRONE)
        return NONE
