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
    SENSORS = ["impact"]
    IMPACT_THRESHOLD = 300  # counts: about 5 µm/s through the preamplifier

    def _detectors(self, s):
        # The two impact detectors answer alike (process, peak, noise_floor, duration_ms).
        self.impact = GroundDetector(s.impact_threshold)  # type: ignore[assignment]

    def _floors(self, fields):
        pass  # no fence, no microphone: their floors stay 0

    def _pipelines(self):
        return ()

    def _apply_settings(self):
        self.impact.impact_threshold = self.settings.impact_threshold

    def self_test(self):
        self.fault(FAULT_IMPACT, not self.board.impact.self_test())

    def _impact_delay_ms(self):
        # Every ground node that felt the landing decides it at the same moment, 1.5 s after
        # it: on a radio they would all key up together. As THUDs do, the nearer (louder)
        # speak first: 150 ms per halving of the peak under full scale.
        if not hasattr(self.board.link, "airtime_ms"):
            return 0
        delay = 0
        peak = self.impact.peak if self.impact.peak > 0 else 1
        while peak < 0x8000:
            peak <<= 1
            delay += 150
        return delay
