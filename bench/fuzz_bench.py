"""Fuzz the gateway's receive path: a million mutated stretches of serial line through the
deframer and pipeline, and a million mutated GWMP datagrams through the Semtech UDP
transport and the pipeline (simulators/fuzzing.py says how they are made). Prints what each
input came to, the time, and the crashes, which must be none.

    .venv/bin/python bench/fuzz_bench.py [--count 1000000] [--seed 1]
"""

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulators.fuzzing import fuzz_datagrams, fuzz_serial  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="inputs per path (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # each bad datagram is logged; a million of them is noise here
    crashes = 0
    print("| path | inputs | time s | inputs/s | crashes | accepted frames |")
    print("|---|---|---|---|---|---|")
    for fuzz, seed in ((fuzz_serial, args.seed), (fuzz_datagrams, args.seed + 1)):
        report = fuzz(args.count, seed)
        crashes += len(report.crashes)
        figures = report.as_json()
        print(
            "| %s | %s | %.1f | %s | %d | %d |"
            % (
                figures["path"],
                format(figures["inputs"], ","),
                figures["seconds"],
                format(figures["per_second"], ","),
                figures["crashes"],
                figures["outcomes"].get("frame", 0),
            )
        )
        print(json.dumps(figures), file=sys.stderr)
        for crash in report.crashes[:5]:
            print("crash on %s: %s\n%s" % (crash.path, crash.data.hex(), crash.error), file=sys.stderr)
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
