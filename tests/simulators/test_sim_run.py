"""`perimeter sim run` end to end: firmware nodes on MicroPython and behavioural nodes feed
the real gateway; the alarm for a scripted climb comes back over MQTT and is scored."""

import json
from pathlib import Path

import pytest

from gateway.cli import main  # the console script, the simulators plugged in

SHORT = """
[scenario]
name = "short-climb"
duration_s = 60
seed = 5
[perimeter]
length_m = 150
node_spacing_m = 30
link = "serial"
firmware_nodes = 2
[weather]
wind_mps = [[0, 3]]
[[event]]
t = 15.0
kind = "climb"
position_m = 45.0
"""


def test_a_scripted_climb_is_detected_by_the_firmware_and_scored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "short.toml"
    scenario.write_text(SHORT)
    assert main(["sim", "run", str(scenario), "--report", str(tmp_path / "out"), "--speed", "3"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    climb = report["per_kind"]["climb"]
    assert climb["trials"] == 1 and climb["detected"] == 1, report
    assert climb["location_error_m"]["max"] <= 15.0
    assert report["nodes"]["firmware"] == [1, 2] and report["nodes"]["behavioural"] == [3, 4, 5]
    assert report["firmware_events_reported"] >= 1
    png = (tmp_path / "out" / "timeline.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    shown = capsys.readouterr().out
    assert "ALARM intrusion" in shown and "climb" in shown


def test_a_broken_scenario_file_is_a_clear_message_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SHORT.replace('kind = "climb"', 'kind = "ladder"'))
    assert main(["sim", "run", str(bad)]) == 2
    assert "event[0].kind: 'ladder' is not one of" in capsys.readouterr().err
