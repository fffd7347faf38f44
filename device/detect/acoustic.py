"""Drone detection on real sound (FIELD.md: drone acoustics), and the microphone's health.

A real multirotor is not one clean harmonic series: each rotor turns at its own speed and
turbulence modulates it, so every blade-pass harmonic is a cluster 20-40 Hz wide, and a
large drone's series (Matrice ~ 65 Hz apart) is as dense as a small one's is sparse (Bebop,
Spark above 360 Hz). What real drones share, and everyday sounds mostly do not, is a sound
that stays the same: many spectral lines that persist from frame to frame under a steady
broadband rotor wash, second after second. Bells decay, voices, animals and sirens glide,
knocks and breaking glass are over in a moment, insects sit above 2 kHz.

So each 64 ms frame of 8 kHz audio is measured, in integer kernels, as:
- the level in 11 bands from 78 to 1266 Hz (a 256-point spectrum of the frame halved to
  4 kHz), in the 2-4 kHz band that halving discards, and overall, all as log2 in sixteenths;
- the spectral flux (how much the band levels moved since the last frame) and the change in
  level;
- the lines (local maxima 6 dB above the bins three away) and how many of them were there
  in the previous frame too.
A window of the last 15 frames (0.96 s) turns these into 16 features: the mean spectral
shape (band levels less their mean, so the distance does not matter), the mean flux and
level change, lines per frame and the fraction that persist. A small network of rectified
units (`acoustic_model`, integer weights fitted on real drone flights and 50 classes of
real everyday sound by `simulators/acoustic_training.py`) scores them. A clean blade-pass
series (1x, 2x and 3x of one fundamental 12 dB over the noise, `acoustic_snr_db`) that holds its place for four
frames is evidence of its own, and lowers the score the network must reach by the model's
SERIES_RELIEF (also set on cross-validated scores). A detection is raised
after `raise_frames` positive frames in a row (from the 6th frame on: within 0.5 s of the
drone becoming audible) and cleared after `clear_frames` negative ones, as Batear does.

The microphone's health comes from the same pass over the samples: a frame that does not
move (all zeros, or stuck at one level), one that is clipping, or a level suddenly 42 dB
under the floor the node has learned, held for a second, is a fault (`fault` says which),
cleared when a second of good frames follows. A faulty microphone never raises a drone.

Nothing is allocated per frame; the heavy loops are viper (`kernels`), and the 80-bin DFT
is Cortex-M0+ machine code on the RP2040 (`kernels_thumb`).
"""

import math

from device.detect import acoustic_model as model
from device.detect.kernels import (
    FFT_SIZE,
    clipped_sums,
    dot,
    flux,
    harmonic_search,
    slide,
    spectral_frame,
    window_features,
    zeros,
)

try:  # only in the RP2040 image
    from device.detect.kernels_thumb import (
        decimate_windowed,
        dense,
        dft_magnitudes,
        dft_table,
        frame_stats,
        log2_q4,
        low_envelope,
    )
except (ImportError, SyntaxError):  # SyntaxError: Thumb source read by another architecture
    from device.detect.kernels import (  # type: ignore[assignment]  # the same contracts
        decimate_windowed,
        dense,
        dft_magnitudes,
        dft_table,
        frame_stats,
        log2_q4,
        low_envelope,
    )

SAMPLE_RATE = 8000
FRAME_SAMPLES = 2 * FFT_SIZE  # 512 samples = 64 ms
FRAME_MS = FRAME_SAMPLES * 1000 // SAMPLE_RATE
BIN_MHZ = SAMPLE_RATE // 2 * 1000 // FFT_SIZE  # 15625 mHz per bin
TOP_BIN = 80  # 1250 Hz
EDGES = bytes((5, 7, 9, 12, 15, 19, 24, 30, 38, 48, 61, 81))  # 11 bands, 78-1266 Hz
BANDS = 11
WINDOW = 15  # frames: 0.96 s
MIN_FRAMES = 6  # frames before the first decision
F0_LOW = 5  # bins: 78 Hz, for the fundamental reported with a detection
F0_HIGH = 26  # 406 Hz
SERIES_FRAMES = 4  # frames a clean harmonic series must hold its place to lower the bar

# The frame vector: levels (log2, sixteenths) of the 11 bands, of 2-4 kHz and of 0-2 kHz;
# the flux; the level change; the lines; the persistent lines.
_HIGH = BANDS
_LEVEL = BANDS + 1
_FLUX = BANDS + 2
_CHANGE = BANDS + 3
_LINES = BANDS + 4
_PERSISTENT = BANDS + 5
VECTOR = BANDS + 6
FEATURES = 28  # shape (12), flux, level change, lines, persistence, each band's wandering (12)

NONE = 0
DRONE = 1  # protocol.messages.ACOUSTIC_CLASS
DRONE_CLEARED = 2

# Microphone faults (the FAULT message's detail for the microphone code).
MIC_OK = 0
MIC_STILL = 1  # all zeros, or stuck at one value
MIC_CLIPPING = 2
MIC_FLOOR_LOST = 3
FAULT_FRAMES = 16  # a second to raise a fault, and a second of good frames to clear it
_CLIPPED = FFT_SIZE // 20  # 5 % of the sample pairs at full scale
_FLOOR_DROP = 7 * 16  # log2 sixteenths: 42 dB
_FLOOR_BACK = 4 * 16  # within 24 dB of the floor again
_FLOOR_MIN = 12 * 16  # a floor of mean |a + b| >= 8: below that a drop is the quiet night


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
        self._lines = zeros("B", TOP_BIN + 2)
        self._stats = zeros("i", 4)
        self._sums2 = zeros("i", 2)
        self.vector = zeros("i", VECTOR)
        self._last = zeros("i", _LEVEL + 1)
        self._ring = zeros("i", WINDOW * VECTOR)
        self._sums = zeros("i", VECTOR)
        self.features = zeros("i", FEATURES)
        self._hidden = zeros("i", model.HIDDEN)
        self._layer = zeros("i", 3 + model.HIDDEN)  # dense()'s [inputs, units, shift, biases]
        self._layer[0] = FEATURES
        self._layer[1] = model.HIDDEN
        self._layer[2] = model.SHIFT1
        for j in range(model.HIDDEN):
            self._layer[3 + j] = model.B1[j]
        self._db = _db_table()
        self.raise_frames = raise_frames
        self.clear_frames = clear_frames
        self.set_snr_db(snr_db)
        self.frames = 0  # frames analysed since the start (or since the microphone recovered)
        self.score = 0  # the network's output for the last frame
        self._series = 0  # the fundamental bin of the last frame's harmonic series, 0 if none
        self.held = 0  # frames in a row showing that series at the same place (within a bin)
        self.active = False
        self._run = 0  # positive frames in a row while idle, negative ones while active
        self._confidence_q8 = 0  # EMA of positive frames, 0..25600
        self._active_frames = 0
        self.floor = 0  # mean |a + b| of the last frame (the heartbeat's acoustic floor)
        self.low_q4 = -1  # the last frame's loudest moment below ~300 Hz (log2 sixteenths), -1 if none
        self._low_state = zeros("i", 3)
        self._one = zeros("i", 1)
        self.fault = MIC_OK
        self._bad = 0  # frames in a row showing the fault looked for (or, while faulty, good)
        self._floor_q4 = -1  # the learned level (log2 sixteenths) while the microphone is good
        # What the reporting frame measured, sent with DRONE and DRONE_CLEARED:
        self.fundamental_hz = 0
        self.harmonics = 0
        self.snr_db = 0
        self.confidence = 0
        self.duration_ds = 0

    def set_snr_db(self, snr_db):
        """The sensitivity (CONFIG `acoustic_snr_db`, 0-30 dB; 12 is the trained operating
        point): the SNR each harmonic of a clean series must reach, and the network's bar,
        raised a quarter of a log-odds unit for each dB above 12 (lowered below)."""
        snr_db = min(max(snr_db, 0), 30)
        self._ratio_q8 = self._db[snr_db]
        self._threshold = model.THRESHOLD + (snr_db - 12) * model.UNIT // 4

    # -- the microphone --------------------------------------------------------------------

    def _health(self, level):
        """The fault the last frame shows (MIC_OK or a MIC_ code), from frame_stats and the
        frame's level; updates the learned floor while the microphone is good."""
        st = self._stats
        if st[2] <= 2:
            return MIC_STILL
        if st[3] >= _CLIPPED:
            return MIC_CLIPPING
        floor = self._floor_q4
        if floor < 0:
            self._floor_q4 = level
            return MIC_OK
        if floor >= _FLOOR_MIN and level < floor - _FLOOR_DROP:
            return MIC_FLOOR_LOST
        if self.fault == MIC_FLOOR_LOST:
            if level < floor - _FLOOR_BACK:
                # Still faint: a real change of place (a generator switched off) is learned
                # over minutes, so the fault clears by itself if the quiet is the world's.
                self._floor_q4 = floor - 1 if (self.frames & 15) == 0 else floor
                return MIC_FLOOR_LOST
            return MIC_OK
        # Rises slowly (a passing lorry barely moves it), falls faster (night comes).
        self._floor_q4 = floor + ((level - floor) >> (9 if level > floor else 6))
        return MIC_OK

    def _judge(self, seen):
        """Raise or clear the microphone fault after FAULT_FRAMES frames in a row; True when
        the fault changed."""
        if self.fault == MIC_OK:
            self._bad = self._bad + 1 if seen != MIC_OK else 0
            if self._bad >= FAULT_FRAMES:
                self.fault = seen
                self._bad = 0
                return True
        else:
            self._bad = self._bad + 1 if seen == MIC_OK else 0
            if self._bad >= FAULT_FRAMES:
                self.fault = MIC_OK
                self._bad = 0
                self._restart()
                return True
        return False

    def _restart(self):
        # A recovered microphone starts a new window: what it heard before is not evidence.
        self.frames = 0
        for i in range(VECTOR):
            self._sums[i] = 0
        for i in range(WINDOW * VECTOR):
            self._ring[i] = 0
        for i in range(TOP_BIN + 2):
            self._lines[i] = 0

    # -- one frame -------------------------------------------------------------------------

    def _measure_frame(self, samples):
        """The frame vector into self.vector; returns the fault the frame shows."""
        st = self._stats
        peak = frame_stats(samples, st)
        self.floor = st[0] >> 9 if st[0] < 0x1FFFE00 else 0xFFFF
        shift = 0
        while (peak >> shift) > 2047:
            shift += 1
        v = self.vector
        if st[2] <= 2:
            self.low_q4 = -1
            return MIC_STILL
        one = self._one  # the loudest moment below ~300 Hz, for the thud detector
        one[0] = low_envelope(samples, self._low_state)
        log2_q4(one, 1, 0)
        self.low_q4 = one[0]
        decimate_windowed(samples, self._x, self._window, shift)
        dft_magnitudes(self._x, self._table, self.magnitudes, TOP_BIN)
        spectral_frame(self.magnitudes, EDGES, BANDS, TOP_BIN, self._lines, v)
        lines = v[BANDS]
        persistent = v[BANDS + 1]
        v[_HIGH] = st[1] >> shift
        v[_LEVEL] = st[0] >> shift
        log2_q4(v, _LEVEL + 1, shift << 4)
        change = v[_LEVEL] - self._last[_LEVEL]
        moved = flux(v, self._last, _LEVEL)  # also keeps this frame's levels for the next
        if not self.frames:
            moved = change = 0
        v[_FLUX] = moved
        v[_CHANGE] = change if change > 0 else -change
        v[_LINES] = lines
        v[_PERSISTENT] = persistent
        # A clean blade-pass series (1x, 2x, 3x of a fundamental in 78-406 Hz, each
        # `acoustic_snr_db` over the noise) held at one place frame after frame is evidence
        # by itself. (Split so the product stays within 30 bits on a 32-bit board.)
        clipped_sums(self.magnitudes, TOP_BIN, self._sums2)
        noise = self._sums2[1] // TOP_BIN + 1
        k = harmonic_search(self.magnitudes, (noise >> 2) * (self._ratio_q8 >> 2) >> 4, F0_LOW, F0_HIGH)
        self.held = self.held + 1 if k and self._series and -1 <= k - self._series <= 1 else 0
        self._series = k
        return self._health(v[_LEVEL])

    def _score(self):
        """The window's features and the network's score for them."""
        slide(self._ring, self.frames % WINDOW, VECTOR, self.vector, self._sums)
        self.frames += 1
        n = self.frames if self.frames < WINDOW else WINDOW
        diffs = self.frames - 1 if self.frames <= WINDOW else WINDOW
        window_features(self._ring, self._sums, n, diffs if diffs > 0 else 1, self.features)
        dense(self.features, model.W1, self._layer, self._hidden)
        self.score = dot(self._hidden, model.HIDDEN, model.W2) + model.B2
        if self.frames < MIN_FRAMES:
            return False
        if self.held >= SERIES_FRAMES:
            return self.score >= self._threshold - model.SERIES_RELIEF
        return self.score >= self._threshold

    def process(self, samples):
        """Analyse one frame; returns DRONE when a detection is raised, DRONE_CLEARED when it
        clears, NONE otherwise. `fault` tells the microphone's health after each frame."""
        seen = self._measure_frame(samples)
        self._judge(seen)
        if self.fault != MIC_OK or seen != MIC_OK:
            # A faulty frame is no evidence either way; a faulty microphone ends a detection.
            if self.fault != MIC_OK and self.active:
                self.active = False
                self._run = 0
                return self._decided(DRONE_CLEARED)
            return NONE
        found = self._score()
        self._confidence_q8 += ((25600 if found else 0) - self._confidence_q8) >> 2
        if found:
            self.confidence = self._confidence_q8 >> 8
        if self.active:
            self._active_frames += 1
            self._run = 0 if found else self._run + 1
            if self._run >= self.clear_frames:
                self.active = False
                self._run = 0
                return self._decided(DRONE_CLEARED)
            return NONE
        self._run = self._run + 1 if found else 0
        if self._run >= self.raise_frames:
            self.active = True
            self._run = 0
            self._active_frames = self.raise_frames
            return self._decided(DRONE)
        return NONE

    # -- what a report carries -------------------------------------------------------------

    def _decided(self, decision):
        """Measure what is reported with a decision (only then: it costs a search): the
        duration, the fundamental of the harmonic series in 78-406 Hz (the clean one the
        frame shows, else the first 6 dB over the noise; 0 if none), how many of its first
        five harmonics stand that far over the noise, and the strongest of the first three
        over the noise in dB."""
        self.duration_ds = self._active_frames * FRAME_MS // 100
        m = self.magnitudes
        clipped_sums(m, TOP_BIN, self._sums2)
        noise = self._sums2[1] // TOP_BIN + 1
        threshold = (noise >> 2) * (self._ratio_q8 >> 2) >> 4
        k = self._series  # the series that held, if one did
        if not k:
            threshold = 2 * noise
            k = harmonic_search(m, threshold, F0_LOW, F0_HIGH)
        self.fundamental_hz = 0
        self.harmonics = 0
        strongest = 0
        if k:
            kp = k
            if m[k - 1] > m[kp]:
                kp = k - 1
            if m[k + 1] > m[kp]:
                kp = k + 1
            curve = 2 * m[kp] - m[kp - 1] - m[kp + 1]
            delta_q8 = 128 * (m[kp + 1] - m[kp - 1]) // curve if curve > 0 else 0
            self.fundamental_hz = (kp * 256 + delta_q8) * BIN_MHZ // 256000
            h = 1
            while h * k < TOP_BIN and h <= 5:
                b = h * k
                level = max(m[b - 1], m[b], m[b + 1])
                if level >= threshold:
                    self.harmonics += 1
                if h <= 3 and level > strongest:
                    strongest = level
                h += 1
        strongest_q8 = strongest * 256 // noise
        db = 0
        while db < 60 and strongest_q8 >= self._db[db + 1]:
            db += 1
        self.snr_db = db
        return decision
