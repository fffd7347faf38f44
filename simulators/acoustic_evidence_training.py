"""Fits the physics-first acoustic detector's evidence model
(`device/detect/acoustic_evidence_model.py`) on real sound, and measures how well it hears
drones it was never fitted on.

    .venv/bin/python -m simulators.acoustic_evidence_training [--recordings DIR]

The features are the node's own: every recording is played through the real detector on
the 32-bit node interpreter (`simulators/acoustic_host.py`), one detector per recording as
a node hears it, so the model is fitted on exactly the integers a node computes. Positives
are every frame of the drone recordings (outdoor flights, and the indoor recordings with
their pieces joined back together); negatives every frame of the everyday sounds (ESC-50),
of wind on a microphone at 5-20 m/s (`signals.wind_noise_audio`), of rain-like and traffic
noise, single tones and mains hum.

The model is six weights, a bias and the evidence rule. Each weight is held to the sign
the physics expects (harmonic structure, steadiness: for a drone; a level that jumps or
slides: against), so what it learns from eleven flights is how much, never which way.

Validation measures generalisation and only that (`validate`): each drone model is held out
in turn (the outdoor flights by model, the indoor recordings by model, consecutive pieces
kept together), the model is fitted on the rest, and the held-out model's recordings are
heard as a node hears them: the share of their seconds, from the 3rd on, with a drone
reported, and whether each was raised within 5 s. Everyday false drones are measured the
same way, ESC-50's folds held out in turn. `bench/acoustic_real.py --cross` prints it.
"""

import argparse
import os
import re
import subprocess
import tempfile
import textwrap
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np

from simulators import real_audio
from simulators.firmware_process import micropython
from simulators.signals import AUDIO_RATE, wind_noise_audio

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "device" / "detect" / "acoustic_evidence_model.py"
HOST = ROOT / "simulators" / "acoustic_host.py"
FRAME = 512
FPS = AUDIO_RATE / FRAME  # 15.625 frames a second
SIGNS = np.array([1, 1, 1, 1, 1, -1, -1])  # comb score, its mean, harmonics out, steady, flutter; level spread, slope
NAMES = ("comb score", "comb mean", "harmonics", "steady", "flutter", "level spread", "level slope")
# The evidence rule (acoustic_model's, in log-odds units): a frame adds at most 1.5 and takes
# at most 3; evidence decays by 1/16 a frame (a 1 s memory); a drone at 8, cleared under 3.
UNIT = 1024
CLIP = (-3.0, 1.5)
DECAY_SHIFT = 4
CAP, ON, OFF = 20.0, 8.0, 3.0
MIN_HARMONICS = 2  # fewer harmonics standing out is a tone, not a series: at most NO_SERIES
NO_SERIES = -UNIT // 2
MIN_FLUTTER = 3  # sixteenths of log2 (1 dB): steadier harmonics are one motor, not rotors beating
TARGET_FP = 0.005  # of the everyday sounds' seconds, on the folds held out


@dataclass
class Heard:
    """One recording as the node heard it: its frames' features (from the first score on)."""

    kind: str  # drone model or background class
    group: str  # what is held out together: drone model, or ESC-50 fold
    drone: bool
    frames: np.ndarray  # (n, features)
    first: int  # the audio frame of the first row
    seconds: int  # the recording's whole seconds
    everyday: bool = True  # counted among the everyday sounds (aircraft are not)
    source: str = ""


@lru_cache(maxsize=1)
def _interpreter() -> str:
    """The node interpreter, found (or built) once for all the recordings."""
    return micropython()


def _host(samples: np.ndarray, window: int) -> list[tuple[int, int, list[int]]]:
    """(second, frame in the second, features) for every scored frame, one detector over the whole."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "audio.raw"
        raw.write_bytes(samples.astype("<i2").tobytes())
        out = subprocess.run(
            [
                _interpreter(),
                "-X",
                "heapsize=1M",
                str(HOST),
                str(raw),
                str(window),
                "features-stream",
                "acoustic_evidence",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    rows = []
    for line in out:
        if line.startswith("F "):
            v = [int(x) for x in line.split()[1:]]
            rows.append((v[0], v[1], v[2:9]))
    return rows


def hear(samples: np.ndarray) -> tuple[np.ndarray, int]:
    """The node's features for one recording heard from its start, and the first scored frame."""
    per = AUDIO_RATE // FRAME * FRAME  # 7,680 samples: 15 whole frames make a host "window"
    rows = _host(samples, per)
    if not rows:
        return np.zeros((0, len(NAMES))), 0
    first = rows[0][0] * 15 + rows[0][1]
    return np.array([r[2] for r in rows], dtype=np.float64), first


def _indoor(base: Path) -> list[tuple[str, str, np.ndarray]]:
    """The indoor drone recordings, their consecutive pieces joined back together."""
    groups: dict[tuple[str, str], list[tuple[int, Path]]] = defaultdict(list)
    for p in sorted((base / "drone-indoor").glob("*.wav")):
        m = re.match(r"(.*)-(bebop|membo)_(\d+)_$", p.stem)
        if m:
            groups[(m.group(2), m.group(1))].append((int(m.group(3)), p))
            continue
        m = re.match(r"(.*?)(\d+)$", p.stem)
        if m:  # extra_membo_D2_2000...: one long recording in numbered pieces
            groups[("membo" if "membo" in p.stem else "bebop", m.group(1))].append((int(m.group(2)), p))
    return [
        (kind, name, np.concatenate([real_audio.read(p) for _, p in sorted(items)]))
        for (kind, name), items in sorted(groups.items())
    ]


def synthetic_backgrounds(seed: int = 7) -> list[tuple[str, np.ndarray]]:
    """Physical non-drones the node hears: wind on the microphone, broadband rain-like and
    traffic noise, a generator's single tone, mains hum with its harmonics (10 s each)."""
    rng = np.random.default_rng(seed)
    t = np.arange(10 * AUDIO_RATE) / AUDIO_RATE
    out = []
    for wind in (5, 10, 15, 20):
        out.append(("wind %d m/s" % wind, wind_noise_audio(10, wind, seed=seed + wind)))
    out.append(("rain-like noise", rng.normal(0, 800, len(t))))
    brown = np.cumsum(rng.normal(0, 300, len(t)))
    out.append(("traffic rumble", brown - np.convolve(brown, np.ones(400) / 400, mode="same")))
    for f in (120, 350, 900):
        out.append(("tone %d Hz" % f, 6000 * np.sin(2 * np.pi * f * t) + rng.normal(0, 200, len(t))))
    for mains in (50, 60):
        hum = sum(3000 / h * np.sin(2 * np.pi * mains * h * t) for h in range(1, 9))
        out.append(("mains hum %d Hz" % mains, hum + rng.normal(0, 200, len(t))))
    return [(k, np.clip(np.round(x), -32768, 32767).astype(np.int16)) for k, x in out]


def collect(base: Path) -> list[Heard]:
    """Every recording heard by the node (one host process per recording, two at a time)."""
    todo: list[tuple[Heard, np.ndarray]] = []
    for flight in real_audio.drones(base):
        x = real_audio.read(flight.path)
        todo.append(
            (
                Heard(
                    flight.kind,
                    "outdoor " + flight.kind,
                    True,
                    np.zeros(0),
                    0,
                    len(x) // AUDIO_RATE,
                    source=flight.path.stem,
                ),
                x,
            )
        )
    for kind, name, x in _indoor(base):
        todo.append((Heard(kind, "indoor " + kind, True, np.zeros(0), 0, len(x) // AUDIO_RATE, source=name), x))
    for clip in real_audio.backgrounds(base):
        x = real_audio.read(clip.path)[:AUDIO_RATE]
        x = np.pad(x, (0, AUDIO_RATE - len(x)))
        h = Heard(
            clip.kind,
            clip.group,
            False,
            np.zeros(0),
            0,
            1,
            everyday=clip.kind not in real_audio.AIRCRAFT,
            source=clip.path.stem,
        )
        todo.append((h, x))
    # Everyday sounds that go on: five clips of one class and fold heard back to back (a
    # vacuum cleaner, rain, insects or bells for five seconds), counted per second.
    by_class: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)
    for h, x in todo:
        if not h.drone and h.group.startswith("fold"):
            by_class[(h.kind, h.group)].append(x)
    for (kind, fold), clips in sorted(by_class.items()):
        for i in range(0, len(clips) - 4, 5):
            h = Heard(kind, fold, False, np.zeros(0), 0, 5, everyday=kind not in real_audio.AIRCRAFT, source="5 s")
            todo.append((h, np.concatenate(clips[i : i + 5])))
    for kind, x in synthetic_backgrounds():
        todo.append(
            (Heard(kind, "synthetic", False, np.zeros(0), 0, len(x) // AUDIO_RATE, everyday=False, source=kind), x)
        )
    _interpreter()  # built (or found) once, before the threads ask for it
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for (h, _), (f, first) in zip(todo, pool.map(lambda item: hear(item[1]), todo), strict=True):
            h.frames, h.first = f, first
    return [h for h, _ in todo]


# -- the model -------------------------------------------------------------------------------


@dataclass
class Model:
    weights: np.ndarray  # log-odds per feature unit
    bias: float
    scale: np.ndarray = field(default_factory=lambda: np.ones(len(NAMES)))

    def scores(self, f: np.ndarray) -> np.ndarray:
        """Each frame's clipped log-odds, in the node's integers (UNIT per unit)."""
        if not len(f):
            return np.zeros(0, dtype=np.int64)
        w, b = self.integers()
        s = f.astype(np.int64) @ w.astype(np.int64) + b
        s = np.where(series(f), s, np.minimum(s, NO_SERIES))
        return np.clip(s, int(CLIP[0] * UNIT), int(CLIP[1] * UNIT))

    def integers(self) -> tuple[np.ndarray, int]:
        return np.round(self.weights * UNIT).astype(np.int64), int(round(self.bias * UNIT))


def fit(pos: np.ndarray, neg: np.ndarray, steps: int = 4000, l2: float = 1e-3) -> Model:
    """A logistic model with each weight held to its sign, classes weighted equally."""
    x = np.concatenate([pos, neg])
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    sd = x.std(axis=0) + 1e-9
    z = x / sd
    weight = np.r_[np.full(len(pos), 0.5 / len(pos)), np.full(len(neg), 0.5 / len(neg))]
    w = np.zeros(z.shape[1])
    b = 0.0
    lr = 1.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(z @ w + b, -30, 30)))
        g = (p - y) * weight
        w -= lr * (z.T @ g + l2 * w)
        b -= lr * g.sum()
        w = np.where(w * SIGNS < 0, 0.0, w)
    return Model(w / sd, b)


def series(f: np.ndarray) -> np.ndarray:
    """The frames that show a blade-pass series: harmonics out and fluttering."""
    result: np.ndarray = (f[:, 2] >= MIN_HARMONICS) & (f[:, 4] >= MIN_FLUTTER)
    return result


def evidence(scores: np.ndarray) -> np.ndarray:
    """The node's evidence rule over a recording's scores: True where a drone is reported."""
    e = 0
    on, off, cap = int(ON * UNIT), int(OFF * UNIT), int(CAP * UNIT)
    active = False
    out = np.zeros(len(scores), dtype=bool)
    for i, s in enumerate(scores):
        e = min(max(e - (e >> DECAY_SHIFT) + int(s), 0), cap)
        if active and e < off:
            active = False
        elif not active and e >= on:
            active = True
        out[i] = active
    return out


def reported_seconds(h: Heard, active: np.ndarray) -> list[bool]:
    """For each whole second of the recording: was a drone reported during it?"""
    frames = np.zeros(h.first + len(active), dtype=bool)
    frames[h.first :] = active
    return [bool(frames[int(j * FPS) : int((j + 1) * FPS)].any()) for j in range(h.seconds)]


def raised_within(h: Heard, active: np.ndarray, seconds: float = 5.0) -> bool:
    hits = np.flatnonzero(active)
    return bool(len(hits)) and (h.first + hits[0]) < seconds * FPS


def _bias_for(model: Model, negatives: list[Heard], target: float) -> Model:
    """Lower the bias until at most `target` of the negatives' seconds report a drone."""
    for shift in np.arange(0.0, 6.01, 0.125):
        m = Model(model.weights, model.bias - shift)
        secs = [s for h in negatives for s in reported_seconds(h, evidence(m.scores(h.frames)))]
        if not secs or np.mean(secs) <= target:
            return m
    return m


def train_on(heard: list[Heard], target: float = TARGET_FP) -> Model:
    pos = np.concatenate([h.frames for h in heard if h.drone and len(h.frames)])
    neg = np.concatenate([h.frames for h in heard if not h.drone and len(h.frames)])
    model = fit(pos, neg)
    return _bias_for(model, [h for h in heard if not h.drone], target)


@dataclass
class Validation:
    drones: dict[
        str, tuple[float, float, int]
    ]  # group: (share of seconds from the 3rd, share raised within 5 s, recordings)
    everyday: dict[str, tuple[int, int]]  # class: (clips with a drone, clips)
    aircraft: dict[str, tuple[int, int]]
    synthetic: dict[str, float]  # share of seconds with a drone
    longer: dict[str, tuple[int, int]]  # class: (seconds with a drone, seconds) of five clips back to back


def validate(heard: list[Heard], target: float = TARGET_FP) -> Validation:
    """Leave one source out: each drone model's recordings heard by a model fitted without
    them; each ESC-50 fold's clips by a model fitted without that fold."""
    drones: dict[str, tuple[float, float, int]] = {}
    for group in sorted({h.group for h in heard if h.drone}):
        model = train_on([h for h in heard if h.group != group], target)
        held = [h for h in heard if h.group == group]
        secs, raised = [], []
        for h in held:
            active = evidence(model.scores(h.frames))
            secs += reported_seconds(h, active)[2:]
            raised.append(raised_within(h, active))
        drones[group] = (float(np.mean(secs)) if secs else 0.0, float(np.mean(raised)), len(held))
    everyday: dict[str, list[bool]] = defaultdict(list)
    aircraft: dict[str, list[bool]] = defaultdict(list)
    synthetic: dict[str, float] = {}
    longer: dict[str, list[bool]] = defaultdict(list)
    folds = sorted({h.group for h in heard if not h.drone and h.group.startswith("fold")})
    for fold in folds:
        model = train_on([h for h in heard if h.group != fold], target)
        for h in heard:
            if h.group == fold and h.seconds == 1:
                (everyday if h.everyday else aircraft)[h.kind].append(bool(evidence(model.scores(h.frames)).any()))
            elif h.group == fold:
                longer[h.kind] += reported_seconds(h, evidence(model.scores(h.frames)))
    model = train_on([h for h in heard if h.group != "synthetic"], target)
    for h in heard:
        if h.group == "synthetic":
            synthetic[h.kind] = float(np.mean(reported_seconds(h, evidence(model.scores(h.frames)))))
    return Validation(
        drones,
        {k: (sum(v), len(v)) for k, v in everyday.items()},
        {k: (sum(v), len(v)) for k, v in aircraft.items()},
        synthetic,
        {k: (sum(v), len(v)) for k, v in longer.items()},
    )


def show(v: Validation) -> None:
    print("Drones, each model held out (one detector per recording; seconds from the 3rd on):")
    for group, (secs, raised, n) in v.drones.items():
        print(
            "  %-18s %3d recordings  %5.1f %% of seconds  raised within 5 s: %5.1f %%"
            % (group, n, 100 * secs, 100 * raised)
        )
    flat = [(a, b) for a, b in v.everyday.values()]
    hits, total = sum(a for a, _ in flat), sum(b for _, b in flat)
    print("Everyday sounds, each ESC-50 fold held out (a drone raised in a one-second clip):")
    for kind, (a, b) in sorted(v.everyday.items(), key=lambda kv: -kv[1][0] / kv[1][1]):
        if a:
            print("  %-16s %2d of %2d  %5.1f %%" % (kind, a, b, 100 * a / b))
    worst = max(a / b for a, b in v.everyday.values())
    print(
        "  overall          %3d of %4d  %5.2f %% (worst class %.1f %%)" % (hits, total, 100 * hits / total, 100 * worst)
    )
    every = [(k, a, b) for k, (a, b) in v.longer.items() if k not in real_audio.AIRCRAFT]
    print(
        "Everyday sounds that go on (five clips of a class back to back): %.2f %% of %d seconds; worst: %s"
        % (
            100 * sum(a for _, a, _ in every) / max(1, sum(b for _, _, b in every)),
            sum(b for _, _, b in every),
            ", ".join(
                "%s %.0f %%" % (k, 100 * a / b) for k, a, b in sorted(every, key=lambda r: -r[1] / r[2])[:5] if a
            ),
        )
    )
    for kind, (a, b) in v.aircraft.items():
        a5, b5 = v.longer.get(kind, (0, 1))
        print(
            "Aircraft, apart: %-10s %2d of %2d clips  %5.1f %%; %5.1f %% of seconds heard longer"
            % (kind, a, b, 100 * a / b, 100 * a5 / b5)
        )
    print(
        "Synthesized non-drones (share of 10 s with a drone): "
        + ", ".join("%s %.0f %%" % (k, 100 * s) for k, s in v.synthetic.items())
    )


def write(model: Model, v: Validation) -> None:
    w, b = model.integers()
    drones = ", ".join("%s %.2f" % (g, s) for g, (s, _, _) in v.drones.items())
    hits = sum(a for a, _ in v.everyday.values())
    total = sum(b for _, b in v.everyday.values())
    about = textwrap.fill(
        "The physics-first acoustic detector's evidence model, fitted by "
        "simulators/acoustic_evidence_training.py on %s from the shared real recordings; regenerate "
        "it with `python -m simulators.acoustic_evidence_training`, do not edit it. A frame's log-odds "
        "(UNIT per unit) = (WEIGHTS . features >> SHIFT) + BIAS, at most NO_SERIES with fewer than "
        "MIN_HARMONICS harmonics out, clipped to CLIP_LOW..CLIP_HIGH; evidence = evidence - evidence "
        ">> DECAY_SHIFT + log-odds, within 0..CAP; a drone is reported at ON and cleared under OFF. "
        "Features: %s. Validated leaving each drone model out (share of seconds reported from the 3rd "
        "on): %s; everyday sounds with a fold held out: %d of %d one-second clips."
        % (date.today().isoformat(), ", ".join(NAMES), drones, hits, total),
        width=95,
    )
    MODEL.write_text(
        '''"""%s
"""

from array import array

UNIT = %d
SHIFT = 0
WEIGHTS = array("h", (%s))
BIAS = %d
CLIP_LOW = %d
CLIP_HIGH = %d
DECAY_SHIFT = %d
CAP = %d
ON = %d
OFF = %d
MIN_HARMONICS = %d
NO_SERIES = %d
MIN_FLUTTER = %d
'''
        % (
            about,
            UNIT,
            ", ".join(str(int(x)) for x in w),
            b,
            int(CLIP[0] * UNIT),
            int(CLIP[1] * UNIT),
            DECAY_SHIFT,
            int(CAP * UNIT),
            int(ON * UNIT),
            int(OFF * UNIT),
            MIN_HARMONICS,
            NO_SERIES,
            MIN_FLUTTER,
        )
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.acoustic_evidence_training", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--recordings", type=Path, default=None, help="default: ../shared/data/acoustic")
    parser.add_argument("--seed", type=int, default=1, help="kept for the command line; the fit is deterministic")
    args = parser.parse_args(argv)
    heard = collect(args.recordings or real_audio.folder())
    v = validate(heard)
    show(v)
    model = train_on(heard)
    write(model, v)
    w, b = model.integers()
    print("wrote %s: weights %s, bias %d" % (MODEL.relative_to(ROOT), [int(x) for x in w], b))


if __name__ == "__main__":
    main()
