"""A package landing, felt by a ground node's buried geophone.

A ground node stands inside the fence, where packages land, away from the posts and trees
that carry wind into the ground (FIELD.md). Its geophone, through a preamplifier, is read
by the ADC at 1 kHz as the impact channel is (unsigned 16-bit around mid-rail), in 50 ms
blocks. What it must tell apart, by shape and by company rather than by loudness alone:

- a landing: one short event (the soil rings for tens of milliseconds; over within
  `_MAX_BLOCKS`, 300 ms), with nothing half as strong in the 1.5 s before it or
  after it;
- footsteps: a series of short events, every step about as strong as the last (1.8 a
  second), so each step has a neighbour within 1.5 s that is more than half of it;
- a vehicle: a rumble lasting seconds, far longer than `_MAX_BLOCKS`: a sustained event is
  background, which the floor learns, never a landing nor anyone's company;
- rain and wind through the fence: noise that the floor learns (a landing must stand
  `_FLOOR_RATIO` times over it; a gust that builds is a sustained event), and in gales
  panels slapping their posts, in bursts: short events in company.

An event is a run of active blocks (a block's peak over `_ACTIVE_RATIO` times the floor);
one quiet block inside it does not end it, so a landing whose first cycle falls at the end
of a block is one event, not a faint one followed by a loud one. The baseline (mid-rail,
drifting with temperature) and the floor (mean absolute deviation of quiet blocks) adapt
only on quiet blocks. The IMPACT reports the peak and the floor in ADC counts: the gateway
turns them into ground velocity and places the landing from several nodes' levels.
"""

from device.detect.kernels import deviation_stats, zeros

SAMPLE_RATE = 1000
BLOCK_SAMPLES = 50
BLOCK_MS = BLOCK_SAMPLES * 1000 // SAMPLE_RATE

NONE = 0
IMPACT = 1

_MAX_BLOCKS = 6  # a landing is over within 300 ms
_AROUND = 30  # blocks (1.5 s) before and after a landing that must hold nothing comparable
_COMPANY_SHIFT = 1  # "comparable": half the landing's peak (a walker's steps are within a factor 2)
_ACTIVE_RATIO = 6  # a block whose peak is this many floors is part of an event ...
_FLOOR_RATIO = 12  # ... and a landing's peak this many
_GAP = 1  # quiet blocks an event may hold
_SETTLE = 100  # blocks (5 s) after start that only learn the floor


class GroundDetector:
    """Feed `process` blocks of `BLOCK_SAMPLES` unsigned 16-bit ADC samples at 1 kHz.

    `impact_threshold`: the smallest peak (counts from the baseline) reported as a landing,
    however quiet the ground; with the SM-24 behind a x100 preamplifier, 300 counts is about
    5 µm/s, a 1 kg package some 30 m away on a still night."""

    def __init__(self, impact_threshold=300):
        self.impact_threshold = impact_threshold
        self._stats = zeros("h", 4)
        self._block = 0
        self.baseline = -1
        self.floor = 0  # mean absolute deviation of quiet blocks
        # The event under way: first block, last active block, peak (0: none).
        self._start = 0
        self._last = 0
        self._peak = 0
        # The last short event: its last block and its peak (footsteps are a series of them).
        self._prev_end = -_AROUND
        self._prev_peak = 0
        # A landing decided but for the company after it: the block that decides it (0: none).
        self._watch_until = 0
        # What the last IMPACT reports:
        self.peak = 0
        self.duration_ms = 0

    @property
    def noise_floor(self):
        return self.floor

    def process(self, samples, count=BLOCK_SAMPLES):
        """Analyse one block; IMPACT when a landing is decided (1.5 s after it), else NONE."""
        stats = self._stats
        if self.baseline < 0:
            deviation_stats(samples, count, 0, stats)
            self.baseline = (stats[0] + (stats[1] << 15)) // count
        peak = deviation_stats(samples, count, self.baseline, stats)
        mean = (stats[0] + (stats[1] << 15)) // count
        deviation = (stats[2] + (stats[3] << 15)) // count
        block = self._block = self._block + 1
        floor = self.floor if self.floor > 0 else 1
        active = block > _SETTLE and peak >= floor * _ACTIVE_RATIO
        if active:
            if not self._peak:
                self._start = block
            if peak > self._peak:
                self._peak = peak if peak < 0xFFFF else 0xFFFF
            self._last = block
            if block - self._start >= _MAX_BLOCKS:
                # Sustained (a gust building, rain starting, a vehicle): it is the background
                # now, and the floor follows it up quickly.
                self.floor += ((deviation - self.floor) >> 3) + 1
        elif self._peak and block - self._last > _GAP:
            self._ended(floor)
        elif not self._peak:
            # Only quiet blocks teach the baseline and the floor: the floor falls fast (a
            # gust has passed) and rises more slowly.
            self.baseline += (mean - self.baseline) >> 6
            if block <= _SETTLE:
                self.floor += (deviation - self.floor) >> 2
            elif deviation < self.floor:
                self.floor -= (self.floor - deviation + 7) >> 3
            else:
                self.floor += ((deviation - self.floor) >> 4) + 1
        if self._watch_until and block >= self._watch_until:
            self._watch_until = 0
            return IMPACT
        return NONE

    def _ended(self, floor):
        """The event under way is over: a landing to watch after, company, or nothing."""
        peak = self._peak
        blocks = self._last - self._start + 1
        self._peak = 0
        if blocks > _MAX_BLOCKS:
            return  # sustained: background, neither a landing nor anyone's company
        if self._watch_until and peak >= self.peak >> _COMPANY_SHIFT:
            self._watch_until = 0  # something comparable soon after it: a series, not a landing
        alone = self._start - self._prev_end > _AROUND or self._prev_peak < peak >> _COMPANY_SHIFT
        self._prev_end = self._last
        self._prev_peak = peak
        if alone and not self._watch_until and peak >= self.impact_threshold and peak >= floor * _FLOOR_RATIO:
            self.peak = peak
            self.duration_ms = blocks * BLOCK_MS
            self._watch_until = self._last + _AROUND
