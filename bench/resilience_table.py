"""The README's resilience table, from the runs that measure it: the fuzzing bench, the
fault specs (they print their figures), and a soak report written by bench/soak_bench.py.

    .venv/bin/python bench/resilience_table.py --soak-report soak-report.json [--fuzz-count 1000000]

Each row says what ran, what it measured and the target; the exit status is 1 if any row
misses its target.
"""

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

SPECS = {
    "kill": "tests/gateway/test_crash_recovery.py",
    "unplug": "tests/resilience/test_unplug.py",
    "disk": "tests/resilience/test_disk_full.py",
    "flood": "tests/resilience/test_attacks.py::test_a_garbage_flood_on_one_line_does_not_slow_the_other",
    "attacks": "tests/resilience/test_attacks.py tests/gateway/test_gateway_e2e.py",
    "bad input": "tests/resilience/test_bad_input.py",
}


def spec_output(targets: str) -> tuple[bool, str]:
    done = subprocess.run(
        # Every spec named, perf ones included: the table quotes their wall-time figures.
        [PYTHON, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-m", "perf or not perf", *targets.split()],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return done.returncode == 0, done.stdout


def number(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    return found.group(1) if found else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soak-report", help="the JSON bench/soak_bench.py wrote")
    parser.add_argument("--fuzz-count", type=int, default=1_000_000)
    args = parser.parse_args()
    rows: list[tuple[str, str, str, bool]] = []

    fuzz = subprocess.run(
        [PYTHON, "bench/fuzz_bench.py", "--count", str(args.fuzz_count)], cwd=ROOT, capture_output=True, text=True
    )
    for line in fuzz.stdout.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 6 and cells[0] in ("serial", "udp"):
            rows.append(
                (
                    "fuzzing, %s (`bench/fuzz_bench.py`)" % cells[0],
                    "%s inputs in %s s (%s/s), **%s crashes**" % (cells[1], cells[2], cells[3], cells[4]),
                    "0 crashes, ≥ 1,000,000",
                    cells[4] == "0" and int(cells[1].replace(",", "")) >= 1_000_000,
                )
            )

    if args.soak_report:
        soak = json.loads(Path(args.soak_report).read_text())
        rss = soak["gateway_rss_mb"]
        rows += [
            (
                "load (`bench/soak_bench.py`): %d LoRa nodes, %g min" % (soak["nodes"], soak["minutes"]),
                "%s frames in, %s events acked, %s on MQTT, **%d acked lost**; "
                "gateway %s %% of a core, RSS %s → %.1f MB"
                % (
                    format(soak["frames_sent"], ","),
                    format(soak["events_acked"], ","),
                    format(soak["events_on_mqtt"], ","),
                    soak["acked_but_lost"],
                    soak["gateway_cpu_percent"],
                    rss["first"],
                    rss["last"],
                ),
                "1,000 nodes, ≥ 10 min, 0 acked lost",
                soak["nodes"] >= 1000 and soak["minutes"] >= 10 and soak["acked_but_lost"] == 0,
            ),
            (
                "broker outage of %g min (in the same run)" % soak["outage_minutes"],
                "every acked event delivered %s s after the broker came back" % soak["outage_caught_up_s"],
                "5 min, 0 acked lost",
                soak["outage_minutes"] >= 5 and soak["outage_caught_up_s"] is not None,
            ),
            (
                "soak (the same run): RSS sampled each minute",
                "%d samples, max %s MB; trend after the outage %+.2f MB/h"
                % (len(soak["samples"]), rss["max"], soak["rss_trend_mb_per_hour_after_outage"]),
                "30 min, no growth (< 1 MB/h)",
                soak["minutes"] >= 30 and soak["rss_trend_mb_per_hour_after_outage"] < 1.0,
            ),
        ]

    ok, out = spec_output(SPECS["kill"])
    rows.append(
        (
            "`kill -9` ×10 under load (`%s`)" % SPECS["kill"],
            "%s events acked, %s of them on MQTT; acking again %s s after a restart (max %s s)"
            % (
                number(r"events acked (\d+)", out),
                number(r"\((\d+) distinct\)", out),
                number(r"acking again ([\d.]+) s", out),
                number(r"max ([\d.]+) s\)", out),
            ),
            "0 acked lost",
            ok,
        )
    )
    ok, out = spec_output(SPECS["unplug"])
    rows.append(
        (
            "serial unplug ×20 (`%s`)" % SPECS["unplug"],
            "%s events, 0 acked lost; back up %s s after the port reappears (max %s s)"
            % (
                number(r"(\d+) events", out),
                number(r"after ([\d.]+) s median", out),
                number(r"([\d.]+) s at most", out),
            ),
            "0 acked lost",
            ok,
        )
    )
    ok, out = spec_output(SPECS["disk"])
    rows.append(
        (
            "SQLite disk full: a 2 MB tmpfs (`%s`)" % SPECS["disk"],
            "%s events, %s acked while full, 0 acked lost; recovered %s s after space came back"
            % (
                number(r"(\d+) events detected", out),
                number(r"(\d+) acked while full", out),
                number(r"recovered ([\d.]+) s", out),
            ),
            "0 acked lost",
            ok,
        )
    )
    ok, out = spec_output(SPECS["flood"])
    rows.append(
        (
            "garbage flood on one line (`test_attacks.py`)",
            "%s MB, %s bad-CRC frames counted; the other line acked in %s ms (median), %s ms quiet"
            % (
                number(r"'garbage_mb': ([\d.]+)", out),
                number(r"'bad_crc_frames': (\d+)", out),
                number(r"'flooded_ack_ms_p50': ([\d.]+)", out),
                number(r"'quiet_ack_ms_p50': ([\d.]+)", out),
            ),
            "other transports at their rate",
            ok,
        )
    )
    ok, out = spec_output(SPECS["attacks"])
    rows.append(
        (
            "attacks (`test_attacks.py`, `test_gateway_e2e.py`)",
            "forged tags, another site's key, replays (immediate, after a restart, captured under jamming), "
            "a counter rolled back, unknown nodes: %s" % number(r"(\d+ passed)", out),
            "each refused, counted, alarmed",
            ok,
        )
    )
    ok, out = spec_output(SPECS["bad input"])
    rows.append(
        (
            "bad config, bad CLI (`test_bad_input.py`)",
            "2,000 broken configs, 24 bad command lines: one line and exit 2 each, no traceback (%s)"
            % number(r"(\d+ passed)", out),
            "no traceback",
            ok,
        )
    )

    print("| what | figure | target | met |")
    print("|---|---|---|---|")
    for what, figure, target, met in rows:
        print("| %s | %s | %s | %s |" % (what, figure, target, "yes" if met else "**NO**"))
    return 0 if all(met for *_, met in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
