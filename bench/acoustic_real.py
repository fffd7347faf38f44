"""The node's acoustic detector on real sound (issue 14), on the 32-bit node interpreter:

    .venv/bin/python bench/acoustic_real.py [--recordings DIR] [--cross [--targets 0.005,0.01,0.02]]

With `--cross`, what generalises and only that, for the physics-first detector under
validation (`device/detect/acoustic_evidence.py`, issue 29): each drone model held out in
turn (the outdoor flights by model, the indoor recordings by model with their consecutive
pieces kept together), each ESC-50 fold held out for the everyday sounds, one detector per
recording as a node hears it (`simulators/acoustic_evidence_training.py`). `--targets` runs
the same validation with the bias set for other false-alarm rates: the trade-off between
drones heard and everyday sounds called drones, measured the same honest way.

Without it:

Reads `../shared/data/acoustic` (its README says what the recordings are) and prints:
- Pd per drone model over every one-second window of the flights, two ways: as a node
  hears a flight (one detector over the whole recording; a window counts when the drone is
  reported during it) and cold (a new detector for each window: raised within that second);
- false positives per everyday-sound class and overall (a new detector per one-second clip;
  a clip counts when a drone is raised in it), with aircraft (airplane, helicopter: real
  aircraft, not everyday sounds) shown apart and also without them;
- the microseconds process() spends per second of audio on this interpreter.
The RP2040's figure is bench/device_bench.py's.
"""

import argparse
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulators import real_audio  # noqa: E402
from simulators.firmware_process import micropython  # noqa: E402
from simulators.signals import AUDIO_RATE  # noqa: E402

HOST = Path(__file__).resolve().parents[1] / "simulators" / "acoustic_host.py"


def host(windows: list[np.ndarray], mode: str, window: int = AUDIO_RATE) -> tuple[list[list[int]], float]:
    """The host's W lines (index, first frame raised, frames active, fault) and its
    microseconds of process() per second of audio."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "audio.raw"
        raw.write_bytes(b"".join(w.astype("<i2").tobytes() for w in windows))
        out = subprocess.run(
            [micropython(), "-X", "heapsize=1M", str(HOST), str(raw), str(window), mode],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    rows = [[int(v) for v in line.split()[1:]] for line in out if line.startswith("W ")]
    spent, frames = (int(v) for v in out[-1].split()[1:])
    return rows, spent / (frames * 512 / AUDIO_RATE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recordings", type=Path, default=None, help="default: ../shared/data/acoustic")
    parser.add_argument(
        "--cross", action="store_true", help="leave one source out, for the physics-first detector (acoustic_evidence)"
    )
    parser.add_argument(
        "--targets",
        default=None,
        help="with --cross: the false-alarm targets to validate at, comma-separated shares of the everyday"
        " sounds' seconds the bias is set to (default: the fitting's own, 0.005); shows what each would cost",
    )
    args = parser.parse_args()
    base = args.recordings or real_audio.folder()
    if args.cross:
        from simulators import acoustic_evidence_training as training

        heard = training.collect(base)
        if not any(h.drone for h in heard):
            raise SystemExit("no recordings in %s (../shared/data/acoustic, or --recordings)" % base)
        targets = [float(t) for t in args.targets.split(",")] if args.targets else [training.TARGET_FP]
        for target in targets:
            if len(targets) > 1:
                print("\n== bias set for %.1f %% of the everyday sounds' seconds (held-in folds)" % (100 * target))
            training.show(training.validate(heard, target))
        return
    flights = real_audio.drones(base)
    clips = real_audio.backgrounds(base)
    if not flights or not clips:
        raise SystemExit("no recordings in %s (../shared/data/acoustic, or --recordings)" % base)

    heard: dict[str, list[bool]] = defaultdict(list)
    cold: dict[str, list[bool]] = defaultdict(list)
    costs = []
    for flight in flights:
        samples = real_audio.read(flight.path)
        rows, cost = host([samples], "stream")
        costs.append(cost)
        heard[flight.kind] += [active > 0 for _, _, active, _ in rows]
        rows, _ = host(real_audio.windows(samples), "fresh")
        cold[flight.kind] += [first >= 0 for _, first, _, _ in rows]
    audio = [real_audio.read(c.path)[:AUDIO_RATE] for c in clips]
    rows, cost = host([np.pad(a, (0, AUDIO_RATE - len(a))) for a in audio], "fresh")
    costs.append(cost)
    raised: dict[str, list[bool]] = defaultdict(list)
    faults = 0
    for clip, (_, first, _, fault) in zip(clips, rows, strict=True):
        raised[clip.kind].append(first >= 0)
        faults += fault != 0

    print("Drones: Pd over every one-second window (as a node hears the flight / cold, within the second)")
    for kind in sorted(heard):
        print(
            "  %-12s %4d windows  %5.1f %%  %5.1f %%"
            % (kind, len(heard[kind]), 100 * np.mean(heard[kind]), 100 * np.mean(cold[kind]))
        )
    every = [h for v in heard.values() for h in v]
    every_cold = [h for v in cold.values() for h in v]
    print(
        "  %-12s %4d windows  %5.1f %%  %5.1f %%" % ("all", len(every), 100 * np.mean(every), 100 * np.mean(every_cold))
    )
    print("Everyday sounds: drone raised in a one-second clip")
    everyday = {k: v for k, v in raised.items() if k not in real_audio.AIRCRAFT}
    worst = sorted(everyday, key=lambda k: -np.mean(everyday[k]))
    for kind in worst:
        if np.mean(everyday[kind]) > 0:
            print(
                "  %-16s %2d of %2d  %5.1f %%"
                % (kind, sum(everyday[kind]), len(everyday[kind]), 100 * np.mean(everyday[kind]))
            )
    flat = [h for v in everyday.values() for h in v]
    print("  every other class: 0")
    print(
        "  overall          %3d of %4d  %5.2f %% (worst class %.1f %%)"
        % (sum(flat), len(flat), 100 * np.mean(flat), 100 * max(np.mean(v) for v in everyday.values()))
    )
    for kind in real_audio.AIRCRAFT:
        if kind in raised:
            print(
                "Aircraft, apart: %-10s %2d of %2d  %5.1f %%"
                % (kind, sum(raised[kind]), len(raised[kind]), 100 * np.mean(raised[kind]))
            )
    every_clip = [h for v in raised.values() for h in v]
    print("  all 50 classes, aircraft included: %.2f %%" % (100 * np.mean(every_clip)))
    print("Microphone faults raised on the clips: %d (ESC-50 pads short clips with silence)" % faults)
    print(
        "Cost on this interpreter: %.0f us of process() per second of audio (%.0fx real time)"
        % (np.mean(costs), 1e6 / np.mean(costs))
    )


if __name__ == "__main__":
    main()
