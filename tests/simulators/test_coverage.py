"""`perimeter sim coverage`: each trial runs the node's own detectors and the gateway's own
engine on what the nodes along a span sense; the sweep reports Pd per threat, spacing and
wind with the largest spacing that holds 0.95, and draws it."""

from dataclasses import replace
from pathlib import Path

import pytest

from simulators import planner
from simulators.cli import main
from simulators.coverage import Trial, largest_spacing, plot, run_trial, sweep, table


def test_a_climb_midway_in_a_gale_is_caught_by_the_two_neighbours_together() -> None:
    # 15 m from each node in 20 m/s gusts: neither node calls it a climb, both call it faint.
    outcome = run_trial(Trial("climb", 30.0, 20.0, 0.5, seed=1))
    assert outcome["detected"], outcome
    assert outcome["error_m"] <= 10.0, outcome


def test_a_cut_anywhere_in_a_span_is_a_cut() -> None:
    for fraction in (0.0, 0.25, 0.5):
        outcome = run_trial(Trial("cut", 30.0, 10.0, fraction, seed=2))
        assert outcome["detected"], (fraction, outcome)


def test_a_package_landing_midway_on_a_calm_night_is_placed_within_5_m() -> None:
    outcome = run_trial(Trial("throwover", 30.0, 0.0, 0.5, offset_m=7.5, mass_kg=1.0, seed=3))
    assert outcome["detected"], outcome
    assert outcome["error_m"] <= 5.0, outcome


def test_in_a_gale_a_landing_unheard_by_the_fence_is_felt_by_the_ground_nodes_and_placed() -> None:
    # 20 m/s on the microphones: the thud is lost in the wind at every fence node.
    gale = Trial("throwover", 25.0, 20.0, 0.5, offset_m=8.0, mass_kg=1.0, seed=11)
    assert not run_trial(gale)["detected"]
    grounded = replace(gale, ground_spacing_m=20.0, ground_inside_m=14.0, ground_stagger_m=8.0, ground_phase=0.3)
    outcome = run_trial(grounded)
    assert outcome["detected"], outcome
    assert outcome["error_m"] <= 10.0, outcome  # along the line and inside it


def test_the_sweep_finds_the_largest_spacing_that_holds_and_draws_it(tmp_path: Path) -> None:
    cells = sweep(["cut"], [30.0, 400.0], [0.0], repeats=1, workers=2)
    by_spacing = {c.spacing_m: c for c in cells}
    assert by_spacing[30.0].pd == 1.0 and by_spacing[400.0].pd < 0.95  # 200 m from any node: unheard
    assert largest_spacing(cells, "cut", 0.0) == 30.0
    text = table(cells)
    assert "cut" in text and "0 m/s: 30 m" in text
    plot(cells, tmp_path / "coverage.png")
    assert (tmp_path / "coverage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--spacings", "thirty"], "--spacings takes numbers"),
        (["--winds", "-5"], "--winds takes one or more numbers, none negative"),
        (["--threats", "ladder"], "--threats takes climb, cut, throwover"),
    ],
)
def test_bad_options_are_a_clear_message(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", "coverage", "--report", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


def test_the_planner_designs_a_site_for_gales_with_ground_nodes_and_its_bill(tmp_path: Path) -> None:
    design = planner.design(
        600.0, [20.0], fence_spacings=[25.0, 400.0], ground_spacings=[15.0], fence_repeats=1, rain_mmph=0.0
    )
    assert design.fence_spacing_m == 25.0  # 400 m apart, a climb midway is felt by nobody
    bare = [c for c in design.cells if c.threat == "throwover" and c.ground is None]
    assert bare and bare[0].pd < 0.95  # the fence's microphones alone lose landings in a gale
    assert design.ground == (15.0, 14.0, 8.0) and design.holds
    bill = design.bill()
    assert (bill["fence_nodes_per_100m"], bill["ground_nodes_per_100m"]) == (4.0, 6.67)
    assert (bill["fence_nodes"], bill["ground_nodes"]) == (24, 40)  # for 600 m
    text = design.text()
    assert "fence nodes every 25 m" in text and "ground nodes every 15 m, 10 and 18 m inside" in text
    planner.draw(design, tmp_path / "design.png")
    assert (tmp_path / "design.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert planner.summary(design)["ground"] == {"spacing_m": 15.0, "inside_m": 14.0, "stagger_m": 8.0}


def test_the_planner_spaces_fence_nodes_for_the_sites_heaviest_rain_as_well_as_its_winds() -> None:
    # Rain keeps every panel ringing; a climber midway between nodes 40 m apart drowns in a
    # downpour that a dry night's design never sees.
    spacing, cells = planner.fence_spacing([20.0], [25.0, 40.0], rain_mmph=25.0, repeats=2)
    cell = {(c.threat, c.spacing_m, c.rain_mmph): c for c in cells}
    assert cell["climb", 40.0, 0.0].pd >= 0.95 > cell["climb", 40.0, 25.0].pd, cells
    assert cell["climb", 25.0, 25.0].pd >= 0.95 and spacing == 25.0, cells
    assert set(cell) == {(t, s, r) for t in ("climb", "cut") for s in (25.0, 40.0) for r in (0.0, 25.0)}
    assert planner.fence_spacing([20.0], [25.0, 40.0], rain_mmph=0.0, repeats=2)[0] == 40.0  # dry only
    wet = planner.Design(600.0, [20.0], spacing, None, True, cells, 25.0)
    assert "also in 25 mm/h of rain" in wet.text() and "25 mm/h" in wet.text().splitlines()[-1]


def test_design_options_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "coverage", "--design", "--length", "-5", "--report", str(tmp_path)]) == 2
    assert "--length and the spacings must be positive" in capsys.readouterr().err
