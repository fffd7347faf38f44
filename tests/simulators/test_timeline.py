"""A run's timeline is a plot an engineer can read: time and chainage axes with their units,
attacks and alarms told apart in a legend, a title naming the scenario, and the firmware
nodes' sensor levels with a labelled colour bar."""

from pathlib import Path

import numpy as np

from simulators.scenario import parse
from simulators.scorer import ObservedAlarm
from simulators.timeline import draw, render

SCENARIO = """
[scenario]
name = "night-climb"
duration_s = 120
seed = 3

[perimeter]
length_m = 200
node_spacing_m = 25

[[event]]
t = 30.0
kind = "climb"
position_m = 80.0

[[event]]
t = 70.0
kind = "throwover"
position_m = 140.0
"""


def test_the_timeline_has_axes_with_units_a_legend_and_a_title(tmp_path: Path) -> None:
    scenario = parse(SCENARIO)
    alarms = [ObservedAlarm("a1", "intrusion", 31.5, 82.0), ObservedAlarm("a2", "throw_over", 71.0, 131.0)]
    levels = {1: np.full((120, 3), 10.0), 2: np.linspace(1, 100, 360).reshape(120, 3)}
    fig = draw(scenario, alarms, levels)
    top, strip = fig.axes[0], fig.axes[1]
    assert top.get_title() == "Scenario night-climb: ground truth against alarms"
    assert top.get_ylabel() == "chainage (m)" and strip.get_xlabel() == "scenario time (s)"
    assert top.get_xlim() == (0.0, 120.0) and top.get_ylim() == (0.0, 200.0)
    legend = [t.get_text() for t in top.get_legend().get_texts()]
    assert legend == ["attack (truth)", "alarm (at MQTT)", "climb", "throwover"]
    assert [t.get_text() for t in strip.get_yticklabels()][:3] == ["1 fence", "1 mic", "1 impact"]
    assert fig.axes[2].get_ylabel() == "RMS over quietest (dB)"  # the colour bar
    png = render(scenario, alarms, tmp_path / "timeline.png", levels).read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
