"""A package landing, heard by the microphone: one short, loud, low thud.

A package thrown over a wall or dropped by a drone lands with a thud that the air carries
much farther than the ground carries it to an impact sensor (a 1 kg package is about 80 dB
SPL at 1 m, so it stands 10 dB over a quiet night 30 m away, where the ground channel
hears nothing beyond ~10 m). Its energy lies below ~400 Hz and it is over in tens of
milliseconds.

Fed the loudest moment below ~300 Hz of each 64 ms acoustic frame (`kernels.low_envelope`,
unwindowed, so a thud counts the same wherever in the frame it falls; log2 sixteenths), a
THUD is:

- an onset: `rise_db` over the learned floor and 6 dB over the frame before;
- short: back within `rise_db` / 2 of the floor within 4 frames (256 ms), or it is a
  sustained sound (an engine, a voice, music), not a landing;
- alone: no other onset in the second before it or in the 0.77 s after it (footsteps,
  hammering, speech are series), so a THUD is decided about a second after the landing.

The report says how loud the thud was and how loud the floor is, in dB SPL (the INMP441's
calibration, read at ~200 Hz), so that the gateway can place the landing from the levels
at neighbouring nodes.
"""

NONE = 0
THUD = 1

_LOG2_DB = 301  # dB = q4 * 301 / 800 (20 log10 2 / 16)
_SPL_OFFSET_DB = -25  # kernels.low_envelope's log2 level under dB SPL (a sine at 100-300 Hz)
_ONSET_STEP_Q4 = 16  # 6 dB over the frame before
_MAX_FRAMES = 4  # over within 256 ms
_ALONE_FRAMES = 16  # no onset in the second before
_AFTER_FRAMES = 12  # ... nor in the 0.77 s after
_SETTLE_FRAMES = 160  # the first 10 s learn the floor (quickly) and report nothing


def q4_to_db(level_q4):
    """A log2 level (sixteenths) as dB SPL, 0..255."""
    db = level_q4 * _LOG2_DB // 800 - _SPL_OFFSET_DB
    return 0 if db < 0 else 255 if db > 255 else db


class ThudDetector:
    """Feed `process` the low envelope's log2 level (sixteenths) of each acoustic frame."""

    def __init__(self, rise_db=10):
        self.set_rise_db(rise_db)
        self.floor_q4 = -1
        self._prev = 0
        self._since_onset = _ALONE_FRAMES  # frames since the last onset
        self._frames = 0  # frames of the thud under way; 0 when idle
        self._peak = 0
        self._after = 0  # frames still to watch after a thud before it is decided
        self._settling = 0  # frames seen since the start, up to _SETTLE_FRAMES
        # What the last THUD reports:
        self.level_db = 0
        self.floor_db = 0
        self.duration_ms = 0

    def set_rise_db(self, rise_db):
        self._rise_q4 = rise_db * 800 // _LOG2_DB

    def process(self, level_q4):
        """One frame's level; THUD when a landing is decided, else NONE."""
        prev = self._prev
        self._prev = level_q4
        if self.floor_q4 < 0:
            self.floor_q4 = level_q4
            return NONE
        if self._since_onset < 1000:
            self._since_onset += 1
        floor = self.floor_q4
        if self._settling < _SETTLE_FRAMES:
            # Just started: the floor is still the first frame's. It follows the level both
            # ways quickly, and nothing is reported against a floor not yet learned (a node
            # in a loud yard would otherwise hear its first minute as thuds).
            self._settling += 1
            self.floor_q4 = floor + ((level_q4 - floor) >> 3)
            return NONE
        onset = level_q4 >= floor + self._rise_q4 and level_q4 >= prev + _ONSET_STEP_Q4
        if self._after:
            if onset:
                self._after = 0  # another one: a series, not a landing
                self._since_onset = 0
                return NONE
            self._after -= 1
            return THUD if self._after == 0 else NONE
        if self._frames:
            self._frames += 1
            if level_q4 > self._peak:
                self._peak = level_q4
            if level_q4 < floor + (self._rise_q4 >> 1):
                frames = self._frames - 1
                self._frames = 0
                self.level_db = q4_to_db(self._peak)
                self.floor_db = q4_to_db(floor)
                self.duration_ms = frames * 64
                self._after = _AFTER_FRAMES
                return NONE
            if self._frames > _MAX_FRAMES:
                self._frames = 0  # sustained: not a landing
            return NONE
        if onset:
            alone = self._since_onset >= _ALONE_FRAMES
            self._since_onset = 0
            if alone:
                self._frames = 1
                self._peak = level_q4
            return NONE
        # Only frames that are no part of a sound teach the floor: it falls fast (night
        # comes), rises slowly (a passing lorry barely moves it).
        if level_q4 < floor:
            self.floor_q4 = floor - ((floor - level_q4 + 7) >> 3)
        else:
            self.floor_q4 = floor + ((level_q4 - floor + 63) >> 6)
        return NONE
