"""The alarm engine's work per event does not grow with what happened lately: a gust over a
500-node site is hundreds of fence frames a second for as long as it blows, and a climb in
the middle of it must be decided as quickly as on a quiet night.

The work is counted, not timed: every Python line the engine and the alarm book execute
(loop and comprehension iterations included) while they take one event."""

import random
import sys
from types import FrameType
from typing import Any

from gateway.alarming.alarm_engine import AlarmEngine
from gateway.alarming.alarms import INTRUSION, AlarmBook
from gateway.alarming.fusion import Detection
from gateway.alarming.perimeter import OUTER_FENCE, Perimeter, PlacedNode, Zone

NODES = 500
SPACING = 10.0
T0 = 1_800_000_000.0
BURST = 10_000
BURST_S = 30.0
CLIMBER = 250


def storm_site() -> Perimeter:
    """5 km of fence, a node every 10 m, 50 zones of 100 m."""
    nodes = {i: PlacedNode(i, 5 + (i - 1) * SPACING, OUTER_FENCE) for i in range(1, NODES + 1)}
    zones = [Zone("Z%02d" % (k + 1), k * 100.0, (k + 1) * 100.0) for k in range(NODES // 10)]
    return Perimeter([(0.0, 0.0), (NODES * SPACING, 0.0)], zones, nodes)


def storm() -> list[Detection]:
    """10,000 fence detections in 30 s: every node rattling at random, at similar levels, and
    one node reporting a climb far above the rest every 3 s, as someone working on the fence
    through the gust would."""
    rng = random.Random(7)
    detections = []
    for k in range(BURST):
        at = T0 + k * BURST_S / BURST
        if k % 1000 == 500:
            node, fields = CLIMBER, {"class": 1, "peak": 6000, "noise_floor": 60, "pulses": 9}
        else:
            node = rng.randint(1, NODES)
            fields = {"class": 3, "peak": rng.randint(300, 500), "noise_floor": 60, "pulses": 2}
        detections.append(Detection("hmp:%d:1:%d" % (node, k), node, "fence", fields, at))
    return detections


class LineCounter:
    """Counts the lines executed in the gateway's own modules (not the test's)."""

    def __init__(self) -> None:
        self.lines = 0

    def trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        if not frame.f_code.co_filename.endswith(("alarm_engine.py", "alarms.py", "fusion.py", "perimeter.py")):
            return None
        if event == "line":
            self.lines += 1
        return self.trace

    def count(self, call: Any) -> int:
        before = self.lines
        sys.settrace(self.trace)
        try:
            call()
        finally:
            sys.settrace(None)
        return self.lines - before


def test_the_work_for_the_ten_thousandth_event_of_a_burst_is_that_of_the_hundredth():
    engine = AlarmEngine(storm_site(), AlarmBook("hmp"))
    counter = LineCounter()
    work = []
    changes = []
    for d in storm():
        work.append(counter.count(lambda d=d: changes.extend(engine.on_event(d))))
    # The climber stands out of the gust each time: the storm hides nothing.
    intrusions = {c.alarm.alarm_id for c in changes if c.alarm.category == INTRUSION}
    assert len(intrusions) == 1
    assert engine.environmental > 0
    # A window closes every few events and its group is weighed then, so compare the work
    # of a hundred events early in the burst with a hundred at its end.
    early = sum(work[100:200])
    late = sum(work[BURST - 100 :])
    assert late <= 2 * early, (early, late)


def test_an_alarm_open_through_the_burst_publishes_the_same_size_of_message_at_its_end():
    engine = AlarmEngine(storm_site(), AlarmBook("hmp"))
    sizes = []
    for d in storm():
        for change in engine.on_event(d):
            if change.alarm.category == INTRUSION:
                sizes.append(len(str(change.alarm.as_json())))
    alarm = next(iter(engine.book.alarms.values()))
    assert alarm.evidence_count > 1000  # every rattle weighed with the climb is evidence
    assert len(alarm.as_json()["evidence"]) == 100
    assert sizes[-1] <= 1.2 * sizes[len(sizes) // 3]
