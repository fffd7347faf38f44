"""Scenario files: the bundled examples load, weather follows its breakpoints, and a
mistake names its key instead of raising a traceback."""

from pathlib import Path

import pytest

from simulators.scenario import ScenarioError, load, parse

BUNDLED = Path(__file__).resolve().parents[2] / "simulators" / "scenarios"
MINIMAL = """
[scenario]
name = "t"
duration_s = 600
[perimeter]
length_m = 300
node_spacing_m = 30
"""


def test_every_bundled_scenario_loads_and_covers_every_kind_of_event() -> None:
    scenarios = [load(path) for path in sorted(BUNDLED.glob("*.toml"))]
    names = {s.name for s in scenarios}
    assert names == {
        "quiet-night",
        "storm",
        "climb-attack",
        "cut-attack",
        "throw-over",
        "drone-drop",
        "jamming",
        "silent-node",
        "selective-jam",
        "key-rotation",
        "demo",
        "rain",
        "rain-climbs",
        "storm-ground",
        "climb-gusts",
    }
    kinds = {e.kind for s in scenarios for e in s.events}
    assert kinds == {
        "climb",
        "cut",
        "throwover",
        "drone",
        "jam",
        "selective_jam",
        "silence",
        "knock",
        "walker",
        "vehicle",
    }


def test_weather_is_linear_between_breakpoints_and_held_outside() -> None:
    storm = load(BUNDLED / "storm.toml")
    assert storm.wind_mps.at(0) == 8 and storm.wind_mps.at(60) == 11 and storm.wind_mps.at(5000) == 8


def test_nodes_are_placed_half_a_spacing_in_from_each_end() -> None:
    s = parse(MINIMAL)
    assert s.node_positions == [15.0 + 30 * i for i in range(10)]


def test_a_drone_moves_along_its_path() -> None:
    drone = next(e for e in load(BUNDLED / "drone-drop.toml").events if e.kind == "drone")
    assert drone.position_at(22.5) == 128 and drone.position_at(30) == 131 and drone.drop_t == 29


@pytest.mark.parametrize(
    "extra,message",
    [
        ('[[event]]\nt = 10\nkind = "ladder"\nposition_m = 5\n', "event[0].kind: 'ladder' is not one of"),
        ('[[event]]\nt = 10\nkind = "climb"\nposition_m = 900\n', "event[0].position_m: 900.0 is off the fence"),
        ('[[event]]\nt = 999\nkind = "climb"\nposition_m = 5\n', "event[0].t: 999.0 is outside the scenario"),
        ('[[event]]\nt = 10\nkind = "silence"\nnode = 99\n', "event[0].node: 99 is not a node (1..10)"),
        ('[[event]]\nt = 10\nkind = "jam"\n', "a jam needs a positive duration"),
        ('[[event]]\nt = 10\nkind = "drone"\npath = [[10, 5]]\n', "at least two points"),
        ("[weather]\nwind_mps = [[10, 4], [5, 6]]\n", "weather.wind_mps: breakpoint times must increase"),
        ("[weather]\nwind_mps = 7\n", "weather.wind_mps: expected [[time s, value]"),
        ("[sky]\n", "unknown table sky"),
        ('[[node]]\nrole = "camera"\nchainage_m = 10\n', "node[0].role: 'camera' is not one of ground"),
        ('[[node]]\nrole = "ground"\nchainage_m = 10\nspacing_m = 20\n', "node[0]: give spacing_m"),
        ('[[node]]\nrole = "ground"\nchainage_m = 10\ninside_m = 0\n', "node[0].inside_m: a ground node stands"),
        ('[[node]]\nrole = "ground"\nchainage_m = 400\n', "node[0].chainage_m: 400.0 is off the fence"),
        ('[[node]]\nrole = "ground"\nspacing_m = 1\n', "node[0].spacing_m: 1.0 is not 5 m"),
        ('[[node]]\nrole = "ground"\nchainage_m = 10\ndepth_m = 0.3\n', "node[0]: unknown key depth_m"),
    ],
)
def test_a_mistake_names_its_key(extra: str, message: str) -> None:
    with pytest.raises(ScenarioError) as error:
        parse(MINIMAL + extra, "mine.toml")
    assert str(error.value).startswith("mine.toml: ") and message in str(error.value)


def test_missing_keys_and_bad_toml_are_reported_not_raised() -> None:
    with pytest.raises(ScenarioError, match="perimeter.length_m is required"):
        parse('[scenario]\nname = "x"\nduration_s = 5\n')
    with pytest.raises(ScenarioError, match="not valid TOML"):
        parse("[scenario\n")
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load("/nonexistent/scenario.toml")


LINE = """
[scenario]
name = "line"
duration_s = 300
[perimeter]
length_m = 900
node_spacing_m = 30
"""


def test_by_default_every_node_that_can_sense_an_event_runs_the_firmware() -> None:
    s = parse(LINE + '[[event]]\nt = 10\nkind = "climb"\nposition_m = 450\n')
    # Nodes stand at 15, 45, ... m; the fence carries a climb 60 m: nodes at 405-495 m.
    assert s.firmware_nodes is None
    assert s.firmware_ids == (14, 15, 16, 17)
    every = parse(LINE.replace("node_spacing_m = 30", 'node_spacing_m = 30\nfirmware_nodes = "all"'))
    assert len(every.firmware_ids) == 30


def test_an_attack_no_firmware_node_can_sense_is_an_error_naming_it() -> None:
    text = LINE.replace("node_spacing_m = 30", "node_spacing_m = 30\nfirmware_nodes = 2")
    text += '[[event]]\nt = 10\nkind = "climb"\nposition_m = 100\n[[event]]\nt = 20\nkind = "climb"\nposition_m = 500\n'
    text += '[[event]]\nt = 30\nkind = "cut"\nposition_m = 800\n'
    with pytest.raises(ScenarioError) as caught:
        parse(text, "gaps.toml")
    message = str(caught.value)
    assert message.startswith("gaps.toml: event[2] (cut at 800 m, t=30 s): no firmware node can sense it"), message
    assert "firmware_nodes" in message


def test_ground_nodes_stand_inside_in_rows_or_alone_and_those_that_feel_a_landing_run_the_firmware() -> None:
    text = LINE + '[[node]]\nrole = "ground"\nspacing_m = 100\ninside_m = 14\nstagger_m = 8\n'
    text += '[[node]]\nrole = "ground"\nchainage_m = 455\ninside_m = 12\n'
    text += '[[event]]\nt = 10\nkind = "throwover"\nposition_m = 450\noffset_m = 20\n'
    s = parse(text)
    assert s.node_count == 30 + 9 + 1  # fence nodes 1-30, then the row's 9 and the lone one
    assert [s.place(n) for n in (31, 32, 35, 40)] == [(50.0, 10.0), (150.0, 18.0), (450.0, 10.0), (455.0, 12.0)]
    assert s.is_ground(40) and not s.is_ground(30)
    ground = [n for n in s.firmware_ids if s.is_ground(n)]
    assert ground == [35, 40]  # within 45 m of the landing (450 m, 20 m inside); 350 and 550 m are not
