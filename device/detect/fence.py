"""Fence intrusion detection from a 3-axis accelerometer, the way commercial fence sensors
decide (FIELD.md: Senstar's event count / event window / alarm window).

Each 50 ms block gives a level (mean |first difference| over the three axes: a high-pass
that ignores gravity and the slow sway of the fence) and a sharpness (second-difference
energy over first-difference energy: high for the crack of a cut wire, low for the ringing
of a climbed panel). A block is active when its level is `fence_threshold`/16 times the
adaptive noise floor. The floor falls quickly and rises slowly, so wind that builds up and
steady rain lift the floor instead of raising alarms; during activity it creeps up more
slowly still, so a storm that sets in cannot hold the sensor active for ever.

- climb: activity accumulated to `climb_ms` within a `window_s` sliding window, counted
  from the start of the episode, or faint and active blocks together to twice that, or
  eight holds within the window: a hold is a run of impulsive blocks, whose whitened peak
  (`kernels.whitened_peak`: the block with the panel's ringing undone by a predictor learnt
  from the background) stands `fence_threshold`/16 times above its own floor. Rain keeps
  the panel ringing as loud as a climber several metres away, so in heavy rain the level
  alone loses climbs; whitened, rain is many small spikes and a climber's holds a few
  large ones (none of 20 minutes of 25-35 mm/h rain or of 25-30 m/s gusts made one);
- cut: `cut_count` short sharp bursts (sharpness >= `cut_threshold`/16, at most 150 ms
  long) within `cut_window_s`, without the sustained activity of a climb;
- rattle: an episode of activity (ended by 3 s of quiet) that raised neither and at its
  loudest reached twice the activity threshold, reported as a low-priority event, not an
  alarm;
- faint: activity at two thirds of the threshold accumulated to half of `climb_ms`
  in the same window, without a climb. A climb midway between two nodes 30 m apart reaches
  each at about a third of its strength (the mesh damps it over ~10 m), and in gusts to
  20 m/s neither node's own climb threshold is reached; both report a faint climb and the
  gateway weighs the two together (a lone faint report is not an alarm). Wind and rain make
  a node faint-active for a fraction of that time, and they do it on every node at once,
  which the gateway's common-mode rejection sees.
"""

from device.detect.kernels import zeros

try:
    from device.detect.kernels_thumb import abs_diff_sums, whitened_peak  # only in the RP2040 image
except ImportError:
    from device.detect.kernels import abs_diff_sums, whitened_peak  # type: ignore[assignment]  # same contract

SAMPLE_RATE = 800
BLOCK_SAMPLES = 40
BLOCK_MS = BLOCK_SAMPLES * 1000 // SAMPLE_RATE

NONE = 0
CLIMB = 1  # protocol.messages.FENCE_CLASS
CUT = 2
RATTLE = 3
FAINT = 4

_SHORT_BURST = 3  # blocks: a cut is over in 150 ms
_QUIET_END = 60  # blocks of quiet that end an episode (3 s)
_MIN_LEVEL_Q4 = 16 * 4  # below 4 LSB per sample (16 mg) nothing is activity
_ACTIVE = 1  # bits of a block in the sliding window
_FAINT = 2
_IMPULSE = 4  # the first block of a run of impulsive ones
_IMPULSIVE = 8
_CLIMB_IMPULSES = 8  # impulses in the window that make a climb (below)


class FenceDetector:
    """Feed `process` blocks of interleaved x,y,z int16 samples at 800 Hz."""

    def __init__(self, fence_threshold=48, cut_threshold=24, climb_ms=1500, window_s=10, cut_count=3, cut_window_s=30):
        self.fence_threshold = fence_threshold
        self.cut_threshold = cut_threshold
        self._window = bytearray(window_s * 1000 // BLOCK_MS)
        self._climb_blocks = climb_ms // BLOCK_MS
        self._faint_blocks = self._climb_blocks // 2
        self.faint_blocks = 0  # faint-active blocks in the sliding window
        self._faint_reported = False  # until the faint activity has died down again
        self._faint_peak = 0
        self.cut_count = cut_count
        self._cut_window = cut_window_s * 1000 // BLOCK_MS
        self._cuts = zeros("i", cut_count)  # block numbers of the last cut bursts
        for i in range(cut_count):
            self._cuts[i] = -(1 << 29)  # long ago
        self._prev = zeros("h", 9)  # carried samples and differences; kernel outputs
        self._primed = False
        self.floor_q4 = 0
        self._block = 0
        self._pos = 0
        self.active_blocks = 0  # active blocks in the sliding window
        self._burst = 0
        self._burst_sharp = 0
        self._episode = 0  # blocks since the episode began; 0 when idle
        self._quiet = 0
        self._alarmed = False
        self._episode_level = 0
        self._lms = zeros("h", 5)  # the whitening predictor's state (kernels.whitened_peak)
        self._lms[4] = 1
        self.impulse_floor_q4 = 0
        self.impulses = 0  # runs of impulsive blocks begun in the sliding window
        # What the last event reports:
        self.peak = 0
        self.pulses = 0
        self.duration_ds = 0
        self.level_q4 = 0
        self.sharpness_q4 = 0

    @property
    def noise_floor(self):
        return self.floor_q4 >> 4

    def _measure(self, xyz, count):
        prev = self._prev
        lf = abs_diff_sums(xyz, count, prev)
        hf = prev[6] + (prev[7] << 15)
        self.level_q4 = lf * 16 // count
        self.sharpness_q4 = hf * 16 // lf if lf else 0
        return prev[8]

    def _cut_burst(self):
        cuts = self._cuts
        for i in range(self.cut_count - 1):
            cuts[i] = cuts[i + 1]
        cuts[self.cut_count - 1] = self._block
        return self._block - cuts[0] <= self._cut_window

    def process(self, xyz, count=BLOCK_SAMPLES):
        """Analyse one block; returns CLIMB, CUT or RATTLE when one is decided, else NONE."""
        if not self._primed:  # no difference against the zeros before the first sample
            prev = self._prev
            prev[0] = xyz[0]
            prev[1] = xyz[1]
            prev[2] = xyz[2]
            self._primed = True
        spike = whitened_peak(xyz, count, self._prev, self._lms) << 4
        peak = self._measure(xyz, count)
        level = self.level_q4
        self._block += 1
        if self.floor_q4 == 0:
            self.floor_q4 = level if level > 0 else 1
        if self.impulse_floor_q4 == 0:
            self.impulse_floor_q4 = spike if spike > 0 else 1
        ifloor = self.impulse_floor_q4
        impulsive = spike > _MIN_LEVEL_Q4 and spike > ((ifloor >> 2) * self.fence_threshold >> 2)
        if not impulsive:
            if spike < ifloor:
                self.impulse_floor_q4 -= (ifloor - spike) >> 4
            else:
                self.impulse_floor_q4 += ((spike - ifloor) >> 5) + 1
        else:
            self.impulse_floor_q4 += (spike - ifloor) >> 10
        faint = level > _MIN_LEVEL_Q4 and level > ((self.floor_q4 >> 2) * (self.fence_threshold * 2 // 3) >> 2)
        active = faint and level > ((self.floor_q4 >> 2) * self.fence_threshold >> 2)
        if not active:
            if level < self.floor_q4:
                self.floor_q4 -= (self.floor_q4 - level) >> 4
            else:
                self.floor_q4 += ((level - self.floor_q4) >> 5) + 1
        else:
            self.floor_q4 += (level - self.floor_q4) >> 10

        window = self._window
        gone = window[self._pos]
        self.active_blocks += (1 if active else 0) - (gone & _ACTIVE)
        self.faint_blocks += (1 if faint else 0) - ((gone & _FAINT) >> 1)
        # A hold rings on for a block or two where the whitening has not learnt the panel's
        # note (its background is wind at another): one run of impulsive blocks is one hold.
        onset = impulsive and not window[self._pos - 1] & _IMPULSIVE
        self.impulses += (1 if onset else 0) - ((gone & _IMPULSE) >> 2)
        bits = (_ACTIVE if active else 0) | (_FAINT if faint else 0) | (_IMPULSE if onset else 0)
        window[self._pos] = bits | (_IMPULSIVE if impulsive else 0)
        self._pos = (self._pos + 1) % len(window)
        if faint and peak > self._faint_peak:
            self._faint_peak = peak
        if self.faint_blocks <= self._faint_blocks >> 2:
            # Died down: the next faint activity is news again.
            self._faint_reported = False
            if self.faint_blocks == 0:
                self._faint_peak = 0

        result = NONE
        if active or impulsive:
            if self._episode == 0:
                self._episode = 1
                self.peak = 0
                self.pulses = 0
                self._alarmed = False
                self._episode_level = 0
            self._quiet = 0
            if peak > self.peak:
                self.peak = peak
        if active:
            self._burst += 1
            if self.sharpness_q4 > self._burst_sharp:
                self._burst_sharp = self.sharpness_q4
            if level > self._episode_level:
                self._episode_level = level
        elif self._burst:
            if self.pulses < 255:
                self.pulses += 1
            if self._burst <= _SHORT_BURST and self._burst_sharp >= self.cut_threshold:
                if self._cut_burst() and self.active_blocks < self._climb_blocks and not self._alarmed:
                    self._alarmed = True
                    result = CUT
            self._burst = 0
            self._burst_sharp = 0
        if self._episode:
            self._episode += 1
            # A climb in a gale: at full strength only between gusts, but faint-active for
            # twice as long as a climb is active (the gale alone stays far below that).
            # In rain the panel rings all the time and a climber's level hardly rises above
            # it, but each of their holds is a spike in the whitened signal that rain never
            # makes (kernels.whitened_peak): eight within the window are someone climbing.
            climbing = (
                self.active_blocks >= self._climb_blocks
                or self.faint_blocks + self.active_blocks >= 2 * self._climb_blocks
                or self.impulses >= _CLIMB_IMPULSES
            )
            if not self._alarmed and climbing:
                self._alarmed = True
                result = CLIMB
            if not (active or impulsive):
                self._quiet += 1
            self.duration_ds = (self._episode - self._quiet) * BLOCK_MS // 100
            if self._quiet >= _QUIET_END:
                # A marginal episode (a gust just over the threshold) is not worth airtime.
                rattle = not self._alarmed and self._episode_level > ((self.floor_q4 >> 2) * self.fence_threshold >> 1)
                self._episode = 0
                self._quiet = 0
                self._alarmed = False
                # The next episode starts its own account: the climb that just ended must
                # not count towards it (it would report a second climb at the next gust).
                for i in range(len(window)):
                    window[i] = 0
                self.active_blocks = 0
                self.faint_blocks = 0
                self.impulses = 0
                if rattle and result == NONE:
                    result = RATTLE
        if (
            result == NONE
            and not self._alarmed
            and not self._faint_reported
            and self.faint_blocks >= self._faint_blocks
            # Where most of it is at full strength a climb decision is coming: no faint
            # report ahead of it, unless it has gone on as long as a climb without one.
            and (self.active_blocks * 2 < self.faint_blocks or self.faint_blocks >= self._climb_blocks)
        ):
            self._faint_reported = True
            self.peak = self._faint_peak
            if not self._episode:
                self.pulses = 0  # no burst reached the full threshold
            self.duration_ds = self.faint_blocks * BLOCK_MS // 100
            result = FAINT
        return result
