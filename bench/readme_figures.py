"""Every figure table in the README, measured again, each headed with the day and the commit
it was measured on: run it whenever the code under a figure changes (the hot path above all)
and paste the tables over the old ones.

    .venv/bin/python bench/readme_figures.py            # about 5 minutes
    .venv/bin/python bench/readme_figures.py --soak     # also the 30-minute soak and the
                                                        # resilience table (about 45 minutes)
    .venv/bin/python bench/readme_figures.py --only gateway storm
    .venv/bin/python bench/readme_figures.py --write   # also as docs/figures-latest.md

The benches run one after another, never side by side: on this 2-core machine two at once
would measure each other.
"""

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
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
    "device": (
        "Detector cost on the 32-bit node build and on the RP2040 image (rp2040js)",
        [[PYTHON, "bench/device_bench.py"]],
    ),
}


def stamp() -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True)
    sha = commit.stdout.strip() or "unknown"
    if dirty.stdout.strip():
        sha += " with uncommitted changes"
    return "measured %s at commit %s, Python %s, on %s" % (
        datetime.date.today().isoformat(),
        sha,
        platform.python_version(),
        machine(),
    )


def machine() -> str:
    """The machine a figure was measured on: CPU model, cores given to us, OS."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = " ".join(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    return "%s, %d cores, %s %s" % (model, len(os.sched_getaffinity(0)), platform.system(), platform.release())


OUTPUT: list[str] = []  # what was printed, for --write


def say(text: str) -> None:
    print(text, flush=True)
    OUTPUT.append(text)


def run(title: str, commands: list[list[str]]) -> bool:
    say("### %s\n\n(%s)\n" % (title, stamp()))
    ok = True
    for command in commands:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        say("```\n%s\n```\n" % done.stdout.rstrip())
        if done.returncode != 0:
            ok = False
            say("(%s failed with exit %d: %s)\n" % (" ".join(command[1:]), done.returncode, done.stderr.strip()[-500:]))
    return ok


SOAK = "Resilience: 30-minute soak of 1,000 LoRa nodes with a broker outage, fuzzing, faults"


def _sections(text: str) -> dict[str, str]:
    """The tables of a figures page, by their titles (those this script still measures)."""
    chunks = re.split(r"^### ", text, flags=re.M)[1:]
    titles = [title for title, _ in BENCHES.values()] + [SOAK]
    return {c.split("\n", 1)[0]: "### " + c for c in chunks if c.split("\n", 1)[0] in titles}


def _ordered(sections: dict[str, str]) -> list[str]:
    order = [title for title, _ in BENCHES.values()] + [SOAK]
    return sorted(sections, key=order.index)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES), help="only these tables")
    parser.add_argument("--soak", action="store_true", help="also the 30-minute soak and the resilience table")
    parser.add_argument("--write", action="store_true", help="also write docs/figures-latest.md")
    args = parser.parse_args()
    ok = True
    for name in args.only or list(BENCHES):
        ok = run(*BENCHES[name]) and ok
    if args.soak:
        with tempfile.TemporaryDirectory() as tmp:
            report = str(Path(tmp) / "soak-report.json")
            ok = (
                run(
                    SOAK,
                    [
                        [PYTHON, "bench/soak_bench.py", "--out", report],
                        [PYTHON, "bench/resilience_table.py", "--soak-report", report],
                    ],
                )
                and ok
            )
    if args.write:
        latest = ROOT / "docs" / "figures-latest.md"
        head = "# Figures, latest run\n\nWritten by `bench/readme_figures.py --write`; each table says when, at which\n"
        head += "commit and on which machine it was measured. [Figures](figures.md) keeps the history.\n\n"
        kept = _sections(latest.read_text()) if latest.exists() else {}
        kept.update(_sections("\n".join(OUTPUT)))  # a table run now replaces the one kept from before
        latest.write_text(head + "\n".join(kept[title] for title in _ordered(kept)))
        print("wrote %s" % latest)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
