"""Thrown-package detection on the impact channel (a geophone or piezo read by the ADC).

A package landing on the ground or the netting inside the wall is one large, short thud.
Someone climbing, walking or digging makes a series of them. So a transient at least
`impact_threshold` counts from the baseline (and 8 times the noise floor), over within
200 ms, becomes an IMPACT only if the 1.5 s before and after it are quiet; a transient
within a series of them is left to the fence detector. The baseline (the ADC's mid-rail, drifting with
temperature) and the noise floor adapt slowly, one step per 50 ms block.
"""

from device.detect.kernels import deviation_stats, zeros

SAMPLE_RATE = 1000
BLOCK_SAMPLES = 50
BLOCK_MS = BLOCK_SAMPLES * 1000 // SAMPLE_RATE

NONE = 0
IMPACT = 1

_MAX_TRANSIENT = 4  # blocks: a package's thud is over within 200 ms
_FOLLOW_UP = 30  # blocks watched after the thud (1.5 s)
_FOLLOW_UP_LIMIT = 3  # this many active blocks in the follow-up mean sustained activity
_FLOOR_RATIO = 8

_IDLE = 0
_TRANSIENT = 1
_FOLLOWING = 2


class ImpactDetector:
    """Feed `process` blocks of unsigned 16-bit ADC samples at 1 kHz."""

    def __init__(self, impact_threshold=2000):
        self.impact_threshold = impact_threshold
        self._stats = zeros("h", 4)
        self.baseline = -1
        self.floor = 0
        self._state = _IDLE
        self._blocks = 0
        self._active = 0
        self._block = 0
        self._last_activity = -(1 << 29)  # block number of the last activity that was not a thud
        # What the last IMPACT reports:
        self.peak = 0
        self.duration_ms = 0

    @property
    def noise_floor(self):
        return self.floor

    def process(self, samples, count=BLOCK_SAMPLES):
        """Analyse one block; returns IMPACT when a package landing is confirmed, else NONE."""
        stats = self._stats
        if self.baseline < 0:
            deviation_stats(samples, count, 0, stats)
            self.baseline = (stats[0] + (stats[1] << 15)) // count
        peak = deviation_stats(samples, count, self.baseline, stats)
        mean = (stats[0] + (stats[1] << 15)) // count
        deviation = (stats[2] + (stats[3] << 15)) // count
        loud = peak >= self.impact_threshold and peak >= self.floor * _FLOOR_RATIO
        self._block += 1
        result = NONE
        if self._state == _IDLE:
            if peak >= self.impact_threshold >> 1 and self._block - self._last_activity <= _FOLLOW_UP:
                self._last_activity = self._block  # still part of someone's activity
                loud = False
            elif loud:
                self._state = _TRANSIENT
                self.peak = peak
                self._blocks = 1
            elif peak >= self.impact_threshold >> 1:
                self._last_activity = self._block
        elif self._state == _TRANSIENT:
            if peak >= self.peak >> 2:
                self._blocks += 1
                if peak > self.peak:
                    self.peak = peak
                if self._blocks > _MAX_TRANSIENT:
                    self._state = _IDLE  # too long for a thud
            else:
                self.duration_ms = self._blocks * BLOCK_MS
                self._state = _FOLLOWING
                self._blocks = 0
                self._active = 0
        else:
            self._blocks += 1
            if peak >= self.impact_threshold >> 1:
                self._active += 1
            if self._active >= _FOLLOW_UP_LIMIT:
                self._state = _IDLE  # sustained activity: not a package
                self._last_activity = self._block
            elif self._blocks >= _FOLLOW_UP:
                self._state = _IDLE
                result = IMPACT
        if self._state == _IDLE and not loud:
            # Only quiet blocks teach the baseline and the floor.
            self.baseline += (mean - self.baseline) >> 6
            if deviation < self.floor:
                self.floor -= (self.floor - deviation) >> 3
            else:
                self.floor += ((deviation - self.floor) >> 5) + 1
        if self.peak > 0xFFFF:
            self.peak = 0xFFFF
        return result
