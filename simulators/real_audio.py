"""Real recordings for the acoustic detector (`../shared/data/acoustic`, see its README):
drones flying outdoors (DronePrint) and one-second everyday sounds in 50 classes (ESC-50),
read from WAV and brought to the node's 8 kHz. They are never copied into the repository.
"""

import math
import os
import wave
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from simulators.signals import AUDIO_RATE, spl_to_amplitude

ROOT = Path(__file__).resolve().parents[1]
AIRCRAFT = ("airplane", "helicopter")  # real aircraft: reported apart from everyday sounds


def folder() -> Path:
    """The shared recordings: `../shared/data/acoustic` beside the checkout, or
    PERIMETER_RECORDINGS."""
    return Path(os.environ.get("PERIMETER_RECORDINGS") or ROOT.parent / "shared" / "data" / "acoustic")


def _halfband(taps: int = 63) -> np.ndarray:
    # A windowed-sinc low-pass at a quarter of the input rate (3.6 kHz corner at 16 kHz),
    # enough to keep 4-8 kHz from folding into the node's band when halving the rate.
    n = np.arange(taps) - (taps - 1) / 2
    h: np.ndarray = np.sinc(n * 0.45) * 0.45 * np.blackman(taps)
    result: np.ndarray = h / h.sum()
    return result


def read(path: Path) -> np.ndarray:
    """A mono 16-bit WAV as int16 samples at AUDIO_RATE (8 kHz): halved from 16 kHz through
    a low-pass, or taken as it is at 8 kHz."""
    with wave.open(str(path)) as w:
        if w.getsampwidth() != 2:
            raise ValueError("%s: only 16-bit WAV is read" % path)
        rate = w.getframerate()
        raw = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
        if w.getnchannels() > 1:
            raw = raw.reshape(-1, w.getnchannels()).mean(axis=1)
    if rate == 2 * AUDIO_RATE:
        raw = np.convolve(raw, _halfband(), mode="same")[::2]
    elif rate != AUDIO_RATE:
        raise ValueError("%s: %d Hz; the node hears 8 kHz (16 kHz recordings are halved)" % (path, rate))
    return np.clip(np.round(raw), -32768, 32767).astype(np.int16)


@dataclass(frozen=True)
class Recording:
    path: Path
    kind: str  # the drone model ("mavic") or the background class ("church_bells")
    group: str  # what must stay together when validating: the flight, or ESC-50's fold
    drone: bool


def drones(base: Path | None = None) -> list[Recording]:
    """The drone flights: `drone/<model>-flight<n>.wav`."""
    base = base or folder()
    return [Recording(p, p.stem.split("-")[0], p.stem, True) for p in sorted((base / "drone").glob("*.wav"))]


def backgrounds(base: Path | None = None) -> list[Recording]:
    """The everyday sounds: `background/<class>/<fold>-<clip>-<take>-<class>....wav`."""
    base = base or folder()
    return [
        Recording(p, p.parent.name, "fold" + p.name.split("-")[0], False)
        for p in sorted((base / "background").glob("*/*.wav"))
    ]


def windows(samples: np.ndarray, seconds: float = 1.0, hop_s: float | None = None) -> list[np.ndarray]:
    """Whole windows of `seconds` every `hop_s` (back to back by default)."""
    n = int(seconds * AUDIO_RATE)
    hop = int((hop_s or seconds) * AUDIO_RATE)
    return [samples[i : i + n] for i in range(0, len(samples) - n + 1, hop)]


@lru_cache(maxsize=4096)
def _clip(path: Path) -> np.ndarray:
    return read(path).astype(np.float64)


class BackgroundStream:
    """What one microphone hears of a scenario's `[[background]]`: the recordings clip after
    clip, in an order drawn from `seed`, each scaled so its RMS is `level_db` SPL (a clip
    that is all but silent stays as quiet as it is)."""

    def __init__(self, files: tuple[Path, ...], level_db: float, seed: int) -> None:
        self.files = files
        self.rng = np.random.default_rng(seed)
        self.target = spl_to_amplitude(level_db) / math.sqrt(2)
        self._pending = np.zeros(0)

    def take(self, n: int) -> np.ndarray:
        """The next n samples."""
        parts = [self._pending]
        have = len(self._pending)
        while have < n:
            clip = _clip(self.files[int(self.rng.integers(len(self.files)))])
            rms = float(np.sqrt(np.mean(clip**2))) if len(clip) else 0.0
            parts.append(clip * (self.target / rms) if rms >= 10.0 else clip)
            have += len(clip)
        joined = np.concatenate(parts)
        self._pending = joined[n:]
        result: np.ndarray = joined[:n]
        return result
