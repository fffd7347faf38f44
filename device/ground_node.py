"""A ground node: a buried geophone inside the fence, where thrown packages land.

The same firmware as a fence node (device/node.py: link, heartbeats, downlinks, key
changes, supervision), with one sensor: an SM-24 geophone behind a x100 preamplifier on
the impact channel's ADC (README: ground nodes). No accelerometer, no microphone; its
detector (device/detect/ground.py) hears a package land and refuses footsteps, vehicles,
rain and the wind in the fence. Its IMPACT carries the peak, from which the gateway places
the landing with its neighbours' reports.
"""

from device.detect.ground import GroundDetector
from device.node import FAULT_IMPACT, Node


class GroundNode(Node):
    SENSORS = ("impact",)  # type: tuple[str, ...]
    IMPACT_THRESHOLD = 300  # counts: about 5 µm/s through the preamplifier
    IMPACT_STEP_MS = 150  # on a radio the nearer ground nodes report a landing first

    def _detectors(self, s):
        # The two impact detectors answer alike (process, peak, noise_floor, duration_ms).
        self.impact = GroundDetector(s.impact_threshold)  # type: ignore[assignment]

    def _apply_settings(self):
        self.impact.impact_threshold = self.settings.impact_threshold

    def self_test(self):
        self.fault(FAULT_IMPACT, not self.board.impact.self_test())
