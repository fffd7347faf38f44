"""Drone detection on real sound from the physics of rotors, and the microphone's health:
the physics-first successor of `acoustic` (issue 29), not yet the node's detector (see the
README's figures: it is validated leaving one drone model out, and not yet better on all).

What every multirotor shares, whatever its size, is physics: each rotor's blades pass at
a rate set by its speed, so the sound is a harmonic series of blade-pass lines; four (or
six, eight) rotors turn at slightly different speeds, so each harmonic is a cluster that
widens with the harmonic number (a Mavic's 20-40 Hz wide at 180 Hz); the speeds change
as the drone climbs, turns and passes by, so the fundamental drifts, but smoothly; and a
drone approaching a prison is heard for tens of seconds at a steady level. Bells decay,
voices, animals and sirens glide, knocks and breaking glass are over in a moment. None of
that depends on which drone it is, so nothing here is fitted to a model's spectrum: a
network fitted on band shapes learned eleven flights, not multirotors.

Each 64 ms frame of 8 kHz audio (halved to 4 kHz, a 256-point spectrum to 1250 Hz, in
integer kernels) gives:
- each bin's prominence over its 13-bin neighbourhood in log2, averaged over the last
  half-second (`prominence_ema`): steady lines build up, gliding ones smear out;
- a harmonic comb over fundamentals 78-703 Hz whose windows widen with the harmonic
  (`harmonic_comb`): the best fundamental, its score over what noise scores, and how many
  of its harmonics stand 4 dB out;
- how much its harmonics flutter from frame to frame (`harmonic_flutter`): rotors at
  slightly different speeds beat, one motor's lines hold still;
- over the last 12 frames: how often the best fundamental stayed within 6 % of the
  current one (drift allowed), and the level's spread and slope.
A linear score of those seven, each weight held to the sign the physics expects
(`acoustic_model`, fitted by `simulators/acoustic_training.py` and validated leaving one
drone model out), is the frame's log-odds. They are added up with a decay (a sequential
test: a frame can add at most CLIP_HIGH, so no single second decides), and a drone is
reported when the evidence reaches ON (a few seconds of a drone, less of a loud one) and
cleared when it falls under OFF.

The microphone's health comes from the same pass over the samples: a frame that does not
move (all zeros, or stuck at one level), one that is clipping, or a level suddenly 42 dB
under the floor the node has learned, held for a second, is a fault (`fault` says which),
cleared when a second of good frames follows. A faulty microphone never raises a drone.

Nothing is allocated per frame; the heavy loops are viper (`kernels`), and the 80-bin DFT
is Cortex-M0+ machine code on the RP2040 (`kernels_thumb`).
"""

import math

from device.detect import acoustic_evidence_model as model
from device.detect.kernels import (
    FFT_SIZE,
    clipped_sums,
    dot,
    harmonic_search,
    zeros,
)

try:
    import micropython
except ImportError:  # CPython: the kernels below run as plain Python, with kernels' stand-ins
    from device.detect.kernels import micropython, ptr8, ptr32  # type: ignore[attr-defined]

try:  # only in the RP2040 image
    from device.detect.kernels_thumb import (
        decimate_windowed,
        dft_magnitudes,
        dft_table,
        frame_stats,
        log2_q4,
        low_envelope,
    )
except (ImportError, SyntaxError):  # SyntaxError: Thumb source read by another architecture
    from device.detect.kernels import (  # type: ignore[assignment]  # the same contracts
        decimate_windowed,
        dft_magnitudes,
        dft_table,
        frame_stats,
        log2_q4,
        low_envelope,
    )


# -- the physics-first kernels (viper) ----------------------------------------------------
@micropython.viper
def copy_bins(src: ptr32, dst: ptr32, n: int):  # type: ignore[valid-type]
    """dst[k] = src[k] for k < n."""
    for k in range(n):
        dst[k] = src[k]


@micropython.viper
def window_stats(fundamentals: ptr8, levels: ptr32, slot: int, out: ptr32):  # type: ignore[valid-type]
    """The window's features from the last WINDOW (12) frames, `slot` the newest: out[3] =
    how often the best fundamental moved less than 6 % (a bin at least) from one frame to the
    next (a drone's drifts as it climbs, turns and passes, but smoothly; a voice, a bird or a
    siren jumps and glides, noise's wanders anywhere); out[5] = the level's mean deviation
    and out[6] = |its later half's mean less its earlier half's| (sixteenths of log2)."""
    steady = 0
    total = 0
    early = 0
    i = slot + 1
    if i >= 12:
        i = 0
    before = int(fundamentals[i])
    for j in range(12):
        i = slot + 1 + j
        if i >= 12:
            i -= 12
        b = int(fundamentals[i])
        if j:
            tolerance = 1
            if b >= 17:
                tolerance = (b * 15) >> 8
            d = b - before
            if b and d <= tolerance and 0 - d <= tolerance:
                steady += 1
        before = b
        level = int(levels[i])
        total += level
        if j < 6:
            early += level
    mean = total // 12
    spread = 0
    for i in range(12):
        d = int(levels[i]) - mean
        spread += d if d > 0 else 0 - d
    out[3] = steady
    out[5] = spread // 12
    slope = (total - 2 * early) // 6
    out[6] = slope if slope > 0 else 0 - slope


@micropython.viper
def prominence_ema(reciprocals: ptr32, top: int, logs: ptr32, ema: ptr32):  # type: ignore[valid-type]
    """How far each bin 1..top of a spectrum stands over its neighbourhood, averaged over
    the last half-second: logs[k] holds log2(mags[k] + 1) in sixteenths (log2_q4 of a copy,
    done by the caller), and ema[k] (eight times the average, so the shift keeps its
    fraction) moves an eighth of the way towards logs[k] less the mean of logs over the 13
    bins k-6..k+6 that exist. A drone's harmonics hold their place and build up; a voice,
    a bird or a siren glides and smears out. `reciprocals` (RECIPROCALS) is for the RP2040's
    Thumb version, which has no divide instruction: the same integers."""
    total = 0
    count = 0
    k = 1
    while k <= 7 and k <= top:
        total += int(logs[k])
        count += 1
        k += 1
    for k in range(1, top + 1):
        mean = total // count
        p = int(logs[k]) - mean
        e = int(ema[k])
        ema[k] = e + p - (e >> 3)
        if k + 7 <= top:
            total += int(logs[k + 7])
            count += 1
        if k - 6 >= 1:
            total -= int(logs[k - 6])
            count -= 1


@micropython.viper
def harmonic_comb(ema: ptr32, params: ptr32, cost: ptr8, out: ptr32):  # type: ignore[valid-type]
    """The fundamental bin c in low..high whose harmonics stand out most in `ema`
    (prominence_ema's, eight times sixteenths of log2). Each harmonic h <= 8 below the top
    is a cluster: one line per rotor, each turning at its own speed, so its search window
    widens with h (+-1 bin, plus 5 % of h c). A harmonic scores its window's largest
    prominence, clipped to 0..18 dB, less cost[w] for a window of half-width w: what noise
    alone scores there, and a little more, so a half fundamental (which pays twice the
    windows for the same lines) never wins. out[0] = c (0 if none scores above 0),
    out[1] = its score (sixteenths), out[2] = the harmonics 4 dB or more over their
    neighbourhood, out[3] = the harmonics its comb had below the top. params holds top, low,
    high, then scratch for the RP2040's Thumb version (kernels_thumb.harmonic_comb, the same
    integers in a quarter of the time): four arguments at most reach Thumb code."""
    top = params[0]
    low = params[1]
    high = params[2]
    best = 0
    best_c = 0
    best_teeth = 0
    best_n = 0
    c = low
    while c <= high:
        score = 0
        teeth = 0
        h = 1
        while h <= 8 and h * c + 1 <= top:
            centre = h * c
            w = 1 + ((centre * 13) >> 8)
            lo = centre - w
            if lo < 1:
                lo = 1
            hi = centre + w
            if hi > top:
                hi = top
            mx = 0  # the highest local peak in the window: one line never serves two harmonics
            k = lo
            while k <= hi:
                v = int(ema[k])
                if v > mx and v >= int(ema[k - 1]) and v >= int(ema[k + 1]):
                    mx = v
                k += 1
            mx = mx >> 3
            if mx < 0:
                mx = 0
            if mx > 48:
                mx = 48
            if mx >= 11:
                teeth += 1
            score += mx - int(cost[w])
            if h == 1 and mx < 11:
                # The blade-pass fundamental is a drone's strongest line: a candidate without
                # it is most likely half the true one, and pays 12 dB for it.
                score -= 32
            h += 1
        if h > 2 and score > best:
            best = score
            best_c = c
            best_teeth = teeth
            best_n = h - 1
        c += 1
    out[0] = best_c
    out[1] = best
    out[2] = best_teeth
    out[3] = best_n


# floor(2^20 / n) + 1 for the 7 to 13 bins a neighbourhood holds: (total * it) >> 20 is
# total // n exactly for every total under 80,000 (13 logarithms of magnitudes under 2^30
# are under 6,300), and fits 31 bits.
RECIPROCALS = zeros("i", 14)
for _n in range(7, 14):
    RECIPROCALS[_n] = (1 << 20) // _n + 1

try:  # the same integers in Thumb code, on the RP2040 image only
    from device.detect.kernels_thumb import harmonic_comb as _comb
    from device.detect.kernels_thumb import prominence_ema as _prominence
except (ImportError, SyntaxError):
    _comb = harmonic_comb  # type: ignore[assignment]  # the same contract
    _prominence = prominence_ema  # type: ignore[assignment]  # the same contract


@micropython.viper
def harmonic_flutter(logs: ptr32, last: ptr32, ema: ptr32, c: int, top: int) -> int:  # type: ignore[valid-type]
    """How much the harmonics of fundamental bin c moved since the last frame: the mean
    |logs[k] - last[k]| (sixteenths of log2) at the strongest bin in `ema` of each harmonic
    that stands 4 dB out (the windows of harmonic_comb, h <= 6). Several rotors at slightly different speeds
    beat against each other, so a drone's harmonics flutter by decibels from frame to
    frame; one motor's lines (a generator, a pump, mains hum) hold their level. Then
    last[k] = logs[k] for every bin."""
    total = 0
    n = 0
    h = 1
    while c > 0 and h <= 6 and h * c + 1 <= top:
        centre = h * c
        w = 1 + ((centre * 13) >> 8)
        lo = centre - w
        if lo < 1:
            lo = 1
        hi = centre + w
        if hi > top:
            hi = top
        at = lo
        k = lo + 1
        while k <= hi:
            if int(ema[k]) > int(ema[at]):
                at = k
            k += 1
        if int(ema[at]) >= 88:  # a harmonic that stands out (4 dB): noise bins always flutter
            d = int(logs[at]) - int(last[at])
            total += d if d > 0 else 0 - d
            n += 1
        h += 1
    for k in range(top + 1):
        last[k] = logs[k]
    if n == 0:
        return 0
    return total // n


SAMPLE_RATE = 8000
FRAME_SAMPLES = 2 * FFT_SIZE  # 512 samples = 64 ms
FRAME_MS = FRAME_SAMPLES * 1000 // SAMPLE_RATE
BIN_MHZ = SAMPLE_RATE // 2 * 1000 // FFT_SIZE  # 15625 mHz per bin
TOP_BIN = 120  # 1875 Hz: three harmonics of a 620 Hz fundamental, two of 700 Hz
COMB_LOW = 5  # bins: 78 Hz, the slowest blade pass looked for
COMB_HIGH = 45  # 703 Hz, the fastest (a small drone's)
WINDOW = 12  # frames (0.77 s) over which steadiness and level are judged
MIN_FRAMES = WINDOW  # frames before the first score
F0_LOW = 5  # bins: 78 Hz, for the fundamental reported with a detection
F0_HIGH = 26  # 406 Hz
FEATURES = 7  # comb score, its mean per harmonic, harmonics out, steady frames, flutter, level spread and slope
# What each comb window of half-width w costs (index w, sixteenths of log2): more than noise
# alone scores there (the mean highest peak of the averaged prominence on the shared everyday
# sounds is 3-9), so a harmonic must stand out to count, and a half fundamental, which pays
# twice the windows for the same lines, never wins.
_COMB_COST = bytes((0, 9, 11, 12, 13, 14, 15, 15))

NONE = 0
DRONE = 1  # protocol.messages.ACOUSTIC_CLASS
DRONE_CLEARED = 2
AIRCRAFT = 3  # a helicopter or an aeroplane overhead: never a drone alarm (not yet raised here)
AIRCRAFT_GONE = 4

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
        self._logs = zeros("i", TOP_BIN + 2)
        self._ema = zeros("i", TOP_BIN + 2)
        self._last_logs = zeros("i", TOP_BIN + 2)
        self._flutter = 0
        self._comb = zeros("i", 4)
        self._comb_params = zeros("i", 4 + (TOP_BIN + 2 + 3) // 4)  # top, low, high, 0, then scratch
        self._comb_params[0] = TOP_BIN
        self._comb_params[1] = COMB_LOW
        self._comb_params[2] = COMB_HIGH
        self._stats = zeros("i", 4)
        self._sums2 = zeros("i", 2)
        self._level = zeros("i", 1)
        self._fundamentals = zeros("B", WINDOW)  # the comb's best bin in each of the last frames
        self._levels = zeros("i", WINDOW)  # and the frame's level (log2 sixteenths)
        self.features = zeros("i", FEATURES)
        self._db = _db_table()
        self.raise_frames = raise_frames  # kept for CONFIG compatibility: evidence decides now
        self.clear_frames = clear_frames
        self.set_snr_db(snr_db)
        self.frames = 0  # frames analysed since the start (or since the microphone recovered)
        self.score = 0  # the last frame's log-odds (model.UNIT per unit), clipped
        self.evidence = 0  # the decaying sum of scores
        self.active = False
        self._confidence_q8 = 0
        self._active_frames = 0
        self._last_level = 0
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
        """The sensitivity (CONFIG `acoustic_snr_db`, 0-30 dB; 12 is the validated operating
        point): the SNR each harmonic of a clean series must reach to be reported, and each
        frame's score, lowered by an eighth of a log-odds unit for each dB above 12 (raised
        below), so a node set to 30 dB needs a drone that much clearer."""
        snr_db = min(max(snr_db, 0), 30)
        self._ratio_q8 = self._db[snr_db]
        self._bias = model.BIAS - (snr_db - 12) * model.UNIT // 8

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
        # A recovered microphone starts afresh: what it heard before is not evidence.
        self.frames = 0
        self.evidence = 0
        for i in range(TOP_BIN + 2):
            self._ema[i] = 0

    # -- one frame -------------------------------------------------------------------------

    def _measure_frame(self, samples):
        """The frame's spectrum, its prominences and the comb; returns the fault it shows."""
        st = self._stats
        peak = frame_stats(samples, st)
        self.floor = st[0] >> 9 if st[0] < 0x1FFFE00 else 0xFFFF
        shift = 0
        while (peak >> shift) > 2047:
            shift += 1
        if st[2] <= 2:
            self.low_q4 = -1
            return MIC_STILL
        one = self._one  # the loudest moment below ~300 Hz, for the thud detector
        one[0] = low_envelope(samples, self._low_state)
        log2_q4(one, 1, 0)
        self.low_q4 = one[0]
        decimate_windowed(samples, self._x, self._window, shift)
        m = self.magnitudes
        dft_magnitudes(self._x, self._table, m, TOP_BIN)
        logs = self._logs
        copy_bins(m, logs, TOP_BIN + 1)
        log2_q4(logs, TOP_BIN + 1, 0)
        _prominence(RECIPROCALS, TOP_BIN, logs, self._ema)
        _comb(self._ema, self._comb_params, _COMB_COST, self._comb)
        self._flutter = harmonic_flutter(logs, self._last_logs, self._ema, self._comb[0], TOP_BIN)
        level = self._level
        level[0] = st[0] >> shift
        log2_q4(level, 1, shift << 4)
        return self._health(level[0])

    def _score(self):
        """The frame's features over the last WINDOW frames and its log-odds."""
        slot = self.frames % WINDOW
        c = self._comb[0]
        self._fundamentals[slot] = c
        self._levels[slot] = self._level[0]
        self.frames += 1
        if self.frames < MIN_FRAMES:
            return 0
        f = self.features
        f[0] = self._comb[1]
        f[1] = self._comb[1] * 4 // self._comb[3] if self._comb[3] else 0
        f[2] = self._comb[2]
        window_stats(self._fundamentals, self._levels, slot, f)
        f[4] = self._flutter
        s = (dot(f, FEATURES, model.WEIGHTS) >> model.SHIFT) + self._bias
        if (f[2] < model.MIN_HARMONICS or f[4] < model.MIN_FLUTTER) and s > model.NO_SERIES:
            # One line is a tone, not a blade-pass series; lines that hold their level to a
            # fraction of a decibel are one motor (a generator, mains hum, a bell's partials),
            # not rotors beating: no evidence for a drone either way.
            s = model.NO_SERIES
        if s > model.CLIP_HIGH:
            s = model.CLIP_HIGH
        elif s < model.CLIP_LOW:
            s = model.CLIP_LOW
        return s

    def process(self, samples):
        """Analyse one frame; returns DRONE when a detection is raised, DRONE_CLEARED when it
        clears, NONE otherwise. `fault` tells the microphone's health after each frame."""
        seen = self._measure_frame(samples)
        self._judge(seen)
        if self.fault != MIC_OK or seen != MIC_OK:
            # A faulty frame is no evidence either way; a faulty microphone ends a detection.
            if self.fault != MIC_OK and self.active:
                self.active = False
                return self._decided(DRONE_CLEARED)
            return NONE
        self.score = s = self._score()
        e = self.evidence
        e = e - (e >> model.DECAY_SHIFT) + s
        self.evidence = e = 0 if e < 0 else (model.CAP if e > model.CAP else e)
        self._confidence_q8 += ((25600 if s > 0 else 0) - self._confidence_q8) >> 2
        if self.active:
            self._active_frames += 1
            if e < model.OFF:
                self.active = False
                return self._decided(DRONE_CLEARED)
            return NONE
        if e >= model.ON:
            self.active = True
            self._active_frames = 1
            self.confidence = e * 100 // model.CAP
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
        # (Split so the product stays within 30 bits on a 32-bit board.)
        threshold = (noise >> 2) * (self._ratio_q8 >> 2) >> 4
        # A clean blade-pass series (1x, 2x, 3x of a fundamental in 78-406 Hz, each
        # `acoustic_snr_db` over the noise), searched only when a report needs it.
        series = harmonic_search(m, threshold, F0_LOW, F0_HIGH)
        k = self._comb[0]  # the series the evidence came from
        if not k:  # else the clean one, if the frame shows one
            k = series
        if k != series:
            threshold = 2 * noise
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
