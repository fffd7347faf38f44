"""Every figure table in the README, measured again, each headed with the day and the commit
it was measured on: run it whenever the code under a figure changes (the hot path above all)
and paste the tables over the old ones.

    .venv/bin/python bench/readme_figures.py            # about 5 minutes
    .venv/bin/python bench/readme_figures.py --soak     # also the 30-minute soak and the
                                                        # resilience table (about 45 minutes)
    .venv/bin/python bench/readme_figures.py --only gateway storm

The benches run one after another, never side by side: on this 2-core machine two at once
would measure each other.
"""

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
MICROPYTHON = str(Path(sys.executable).with_name("micropython"))
GATEWAY_RUNS = 3

# name -> (title, command lines); each command's standard output is printed as it is.
BENCHES: dict[str, tuple[str, list[list[str]]]] = {
    "protocol": ("Receive path against pymavlink, frame sizes, airtime", [[PYTHON, "bench/protocol_bench.py"]]),
    "gateway": (
        "Gateway throughput and latency against bare aiomqtt (%d runs)" % GATEWAY_RUNS,
        [[PYTHON, "bench/gateway_bench.py"]] * GATEWAY_RUNS,
    ),
    "storm": ("A climb's alarm while 500 nodes rattle", [[PYTHON, "bench/gateway_bench.py", "--storm"]]),
    "sim": ("The simulator's speed-up over real time", [[PYTHON, "bench/sim_bench.py"]]),
    "device": ("Detector cost on the MicroPython unix port", [[MICROPYTHON, "bench/device_bench.py"]]),
}


def stamp() -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True)
    sha = commit.stdout.strip() or "unknown"
    if dirty.stdout.strip():
        sha += " with uncommitted changes"
    return "measured %s at commit %s, Python %s, %s" % (
        datetime.date.today().isoformat(),
        sha,
        platform.python_version(),
        "%d cores" % len(os.sched_getaffinity(0)),
    )


def run(title: str, commands: list[list[str]]) -> bool:
    print("### %s\n\n(%s)\n" % (title, stamp()), flush=True)
    ok = True
    for command in commands:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        print(done.stdout.rstrip() + "\n", flush=True)
        if done.returncode != 0:
            ok = False
            print(
                "(%s failed with exit %d: %s)\n" % (" ".join(command[1:]), done.returncode, done.stderr.strip()[-500:])
            )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES), help="only these tables")
    parser.add_argument("--soak", action="store_true", help="also the 30-minute soak and the resilience table")
    args = parser.parse_args()
    ok = True
    for name in args.only or list(BENCHES):
        ok = run(*BENCHES[name]) and ok
    if args.soak:
        with tempfile.TemporaryDirectory() as tmp:
            report = str(Path(tmp) / "soak-report.json")
            ok = (
                run(
                    "Resilience: 30-minute soak of 1,000 LoRa nodes with a broker outage, fuzzing, faults",
                    [
                        [PYTHON, "bench/soak_bench.py", "--out", report],
                        [PYTHON, "bench/resilience_table.py", "--soak-report", report],
                    ],
                )
                and ok
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
