"""The simulators' commands, `perimeter sim run`, `perimeter sim train-acoustic` and
`perimeter demo`, plugged into the
gateway's `perimeter` command through the `perimeter.commands` entry point, so that the
gateway's command line never imports the simulators (DESIGN.md: rooms). They need the
`[sim]` extra (numpy); without it they say so.
"""

import argparse
import asyncio
import json
import secrets
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from gateway import cli as gateway_cli
from gateway.tools.frame_tool import UsageError
from simulators.scenario import UPLINKS, ScenarioError, load

BUNDLED = Path(__file__).resolve().parent / "scenarios"  # package data: there in a wheel too
DEMO = BUNDLED / "demo.toml"


def _summary(report: dict[str, Any]) -> str:
    lines = [
        "",
        "%-10s %6s %8s %6s %10s %10s %12s %10s %10s"
        % ("kind", "trials", "detected", "Pd", "latency s", "p95 s", "after air s", "error m", "settled m"),
    ]
    for kind, k in sorted(report["per_kind"].items()):
        lat = k.get("latency_s", {})
        air = k.get("latency_after_airtime_s", {})
        err = k.get("location_error_m", {})
        settled = k.get("settled_error_m", {})
        lines.append(
            "%-10s %6d %8d %6.2f %10s %10s %12s %10s %10s"
            % (
                kind,
                k["trials"],
                k["detected"],
                k["probability_of_detection"],
                lat.get("mean", "-"),
                lat.get("p95", "-"),
                air.get("mean", "-"),
                err.get("mean", "-"),
                settled.get("mean", "-"),
            )
        )
    n = report["nuisance"]
    lines.append("nuisance alarms: %d (%.2f per zone per day)" % (n["alarms"], n["per_zone_per_day"]))
    f = report["frames"]
    lines.append(
        "frames (%s): firmware %d sent, %d lost; behavioural %d sent, %d lost; duty cycle max %.2f %%"
        % (
            f["link"],
            f["firmware"]["sent"],
            f["firmware"]["lost"],
            f["behavioural"]["sent"],
            f["behavioural"]["lost"],
            100 * max(f["firmware"]["duty_cycle_max"], f["behavioural"]["duty_cycle_max"]),
        )
    )
    if f.get("uplink_lengths"):
        lengths = ", ".join("%s B x%d" % item for item in f["uplink_lengths"].items())
        lines.append("firmware uplinks (%s), packet lengths: %s" % (f["uplinks"], lengths))
    lines.append(
        "firmware nodes %s; behavioural nodes: %d" % (report["nodes"]["firmware"], len(report["nodes"]["behavioural"]))
    )
    return "\n".join(lines)


def _runner() -> Any:
    """The scenario runner (numpy and the gateway daemon: imported only when running)."""
    try:
        from simulators.runner import run
    except ModuleNotFoundError as exc:
        raise UsageError(
            "the simulators need %s: pip install 'perimeter[sim]' (or scripts/setup.sh)" % exc.name
        ) from None
    return run


def _run(
    path: Path,
    report_dir: Path,
    speed: float,
    mqtt: str | None,
    dashboard: str | None = None,
    uplinks: str | None = None,
) -> int:
    run = _runner()
    try:
        scenario = load(path)
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None
    if uplinks is not None:
        scenario = replace(scenario, uplinks=uplinks)
    if speed <= 0:
        raise UsageError("--speed must be positive")
    access = _dashboard_access(dashboard, report_dir) if dashboard else None
    report = asyncio.run(run(scenario, report_dir, speed, mqtt, dashboard=access))
    print(_summary(report))
    print("report: %s" % (report_dir / "report.json"))
    return 0


def _dashboard_access(listen: str, report_dir: Path) -> tuple[str, Path]:
    """A one-run account for watching a simulation in the browser, shown on the terminal."""
    from gateway.identity.accounts import add_account

    if not listen.rpartition(":")[2].isdigit():
        raise UsageError('--dashboard takes "host:port", e.g. 127.0.0.1:8080')
    report_dir.mkdir(parents=True, exist_ok=True)
    accounts = report_dir.resolve() / "operators.txt"
    password = secrets.token_urlsafe(9)
    add_account(accounts, "demo", "operator", password)
    print("dashboard: http://%s/  (log in as demo, password %s)" % (listen, password))
    return listen, accounts


def bundled_names() -> list[str]:
    return sorted(p.stem for p in BUNDLED.glob("*.toml"))


def _sim_run(args: argparse.Namespace) -> int:
    path = Path(args.scenario)
    if not path.exists() and (BUNDLED / ("%s.toml" % args.scenario)).exists():
        path = BUNDLED / ("%s.toml" % args.scenario)  # a bundled scenario by name: works from an installed wheel
    return _run(path, Path(args.report), args.speed, args.mqtt, args.dashboard, args.uplinks)


def _train_acoustic(args: argparse.Namespace) -> int:
    """Fit the node's acoustic network on the real recordings and write its model module."""
    _runner()  # without the [sim] extra, say so before anything else
    from simulators import acoustic_training, real_audio

    base = Path(args.recordings) if args.recordings else real_audio.folder()
    if not (base / "drone").is_dir() or not (base / "background").is_dir():
        raise UsageError("no recordings in %s (drone/ and background/; --recordings DIR)" % base)
    acoustic_training.main(["--recordings", str(base), "--seed", str(args.seed)])
    return 0


def _numbers(text: str, option: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError("%s takes numbers separated by commas, e.g. 20,30,40 (got %r)" % (option, text)) from None
    if not values or any(v < 0 for v in values):
        raise UsageError("%s takes one or more numbers, none negative (got %r)" % (option, text))
    return values


def _coverage(args: argparse.Namespace) -> int:
    """Pd across a span by spacing, threat and wind: a table, and a plot."""
    _runner()  # without the [sim] extra, say so before anything else
    from simulators import coverage

    if args.design:
        return _design(args)
    spacings = _numbers(args.spacings or "20,30,40", "--spacings")
    winds = _numbers(args.winds, "--winds")
    threats = [t.strip() for t in args.threats.split(",") if t.strip()]
    unknown = [t for t in threats if t not in coverage.THREATS]
    if unknown or not threats:
        raise UsageError("--threats takes %s (got %r)" % (", ".join(coverage.THREATS), args.threats))
    if any(s <= 0 for s in spacings):
        raise UsageError("--spacings must be positive")

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write("\r%d / %d trials" % (done, total) + ("\n" if done == total else ""))

    cells = coverage.sweep(threats, spacings, winds, repeats=args.repeats, progress=progress)
    print(coverage.table(cells))
    report = Path(args.report)
    report.mkdir(parents=True, exist_ok=True)
    coverage.plot(cells, report / "coverage.png")
    print("plot: %s" % (report / "coverage.png"))
    return 0


def _design(args: argparse.Namespace) -> int:
    """The layout that holds Pd 0.95 for every threat at the site's winds, and its bill."""
    from simulators import planner

    winds = _numbers(args.winds, "--winds")
    fence = _numbers(args.spacings, "--spacings") if args.spacings else planner.FENCE_SPACINGS
    ground = _numbers(args.ground_spacings, "--ground-spacings") if args.ground_spacings else planner.GROUND_SPACINGS
    if args.length <= 0 or any(s <= 0 for s in list(fence) + list(ground)):
        raise UsageError("--length and the spacings must be positive")
    if args.rain < 0:
        raise UsageError("--rain must be 0 (dry only) or more, in mm/h")
    design = planner.design(
        args.length,
        winds,
        fence,
        ground,
        progress=lambda text: print("...", text, file=sys.stderr),
        rain_mmph=args.rain,
    )
    print(design.text())
    report = Path(args.report)
    report.mkdir(parents=True, exist_ok=True)
    planner.draw(design, report / "design.png")
    (report / "design.json").write_text(json.dumps(planner.summary(design), indent=2) + "\n")
    print("plot: %s" % (report / "design.png"))
    return 0 if design.holds else 1


def _demo(args: argparse.Namespace) -> int:
    _runner()  # without the [sim] extra, say so before anything else
    if args.mqtt:
        print("forwarding to the broker at %s (perimeter/sim/gw1/#)" % args.mqtt)
    return _run(DEMO, Path(args.report), args.speed, args.mqtt, args.dashboard, args.uplinks)


def add_commands(commands: Any) -> None:
    sim = commands.add_parser("sim", help="run a scenario against the real gateway, plan coverage, train the detector")
    actions = sim.add_subparsers(dest="action", required=True, metavar="ACTION")

    run = actions.add_parser("run", help="run a scenario against the real gateway and score it")
    run.add_argument(
        "scenario", help="a scenario TOML file, or the name of a bundled one (%s)" % ", ".join(bundled_names())
    )
    run.add_argument("--report", default="sim-report", help="folder for report.json (default sim-report)")
    run.add_argument("--mqtt", help="mqtt://host:port of a broker to forward to (default: one of its own)")
    run.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second (default 1)")
    _watch_options(run)
    run.set_defaults(handler=_sim_run)

    cover = actions.add_parser("coverage", help="Pd by node spacing, threat and wind; --design: the site's layout")
    cover.add_argument(
        "--spacings", help="fence-node spacings in metres (default 20,30,40; with --design 15,20,25,30,40)"
    )
    cover.add_argument("--winds", default="0,10,20", help="wind speeds in m/s (default 0,10,20)")
    cover.add_argument("--threats", default="climb,cut,throwover", help="which threats (default all three)")
    cover.add_argument("--repeats", type=int, default=2, help="trials per position (default 2)")
    cover.add_argument("--design", action="store_true", help="find the layout that holds Pd 0.95 at --winds")
    cover.add_argument("--length", type=float, default=1000.0, help="--design: the fence's length in metres")
    cover.add_argument("--ground-spacings", help="--design: ground-node spacings to try (default 15,20,25,30,40)")
    cover.add_argument(
        "--rain",
        type=float,
        default=25.0,
        help="--design: the heaviest rain in mm/h climbs and cuts must also hold in (default 25; 0: dry only)",
    )
    cover.add_argument("--report", default="sim-report", help="folder for the plot (default sim-report)")
    cover.set_defaults(handler=_coverage)

    train = actions.add_parser("train-acoustic", help="fit the node's acoustic network on the real recordings")
    train.add_argument("--recordings", help="the real recordings (default ../shared/data/acoustic)")
    train.add_argument("--seed", type=int, default=1, help="the augmentations' seed (default 1)")
    train.set_defaults(handler=_train_acoustic)

    demo = commands.add_parser("demo", help="the bundled demo scenario, alarms shown as they come")
    demo.add_argument("--report", default="demo-report", help="folder for report.json (default demo-report)")
    demo.add_argument(
        "--mqtt", help="mqtt://host:port of a broker to forward the demo site to (default: only its own broker)"
    )
    demo.add_argument("--speed", type=float, default=2.0, help="simulated seconds per wall second (default 2)")
    _watch_options(demo)
    demo.set_defaults(handler=_demo)


def _watch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dashboard", metavar="HOST:PORT", help="serve the operators' dashboard there, e.g. 127.0.0.1:8080"
    )
    parser.add_argument(
        "--uplinks",
        choices=UPLINKS,
        help="how the firmware nodes send (default: the scenario's, else enveloped); padded: one length on air",
    )


def main(argv: list[str] | None = None) -> int:
    return gateway_cli.main(argv, extra=add_commands)


if __name__ == "__main__":
    sys.exit(main())
