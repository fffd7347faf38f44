"""On a shared radio channel the node spreads its first transmissions, so that neighbours
that detect the same climb do not collide every time; on a wire it sends at once. A module
of its own: `test_delivery` alone fills the 64 KB heap. Runs on CPython and MicroPython."""

from device.counter import FrameCounter
from device.delivery import ALARM, DeliveryQueue
from protocol.keys import NodeKey
from protocol.messages import BY_NAME


class RamStore:
    def __init__(self):
        self.values = {}

    def get(self, name, default=0):
        return self.values.get(name, default)

    def set(self, name, value):
        self.values[name] = value


FENCE = BY_NAME["FENCE"].type_id
CLIMB = {"event_no": 1, "age_ds": 0, "class": 1, "peak": 900, "noise_floor": 30, "pulses": 8, "duration_ds": 20}


def queue():
    key = NodeKey.for_node(bytes(range(32)), 7)
    return DeliveryQueue(key, 4242, 7, FrameCounter(RamStore()), lambda limit: min(150, limit - 1))


def test_on_a_radio_the_first_transmission_waits_a_random_moment_so_neighbours_do_not_collide():
    q = queue()  # the HAL's random_ms draws 150 ms
    q.spread_ms = 4 * 72  # four SF7 airtimes
    q.submit(FENCE, dict(CLIMB), ALARM, True, now_ms=1000)
    assert q.next_frame(1149) is None
    assert q.next_frame(1150) is not None


def test_on_a_wire_the_first_transmission_goes_at_once():
    q = queue()
    q.submit(FENCE, dict(CLIMB), ALARM, True, now_ms=1000)
    assert q.next_frame(1000) is not None
