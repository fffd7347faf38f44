"""The ground channel: what a buried geophone inside the fence reads (numpy).

A ground node (`device/detect/ground.py`) is an SM-24 geophone buried 10-30 cm deep, read
through a x100 preamplifier biased at mid-rail by the node's ADC at 1 kHz, the same
unsigned 16-bit samples as a fence node's impact channel. Everything here is in ground
velocity (µm/s) until `to_counts` turns it into those samples.

Physical basis (FIELD.md: thrown packages and the ground; every figure is approximate, for
modelling, and stated where it is used):

- The sensor. SM-24: 28.8 V per m/s above its 10 Hz natural frequency, falling as (f/10)^2
  below it. Preamplifier gain 100; the RP2040's ADC read as `read_u16`, 3.3 V over 65,536
  counts: 1 µm/s is 57 counts, full scale about ±570 µm/s. The ADC's own noise (about 9
  effective bits) is some 20 counts RMS, 0.35 µm/s: above a quiet night's ground, so it is
  the floor on a still night.
- Propagation. Surface (Rayleigh) waves spread as 1/sqrt(r) and soil damps them as
  exp(-pi f r / (Q v)); with Q = 20 and v = 200 m/s (mid-range of FIELD.md's 10-50 and
  100-300 m/s) a 40 Hz wave loses 0.27 dB per metre besides spreading.
- Sources, as peak particle velocity at 1 m (`V1_STEP_UM_S`, `package_v1_um_s`): a heavy
  footstep 25 µm/s (so a footstep stands about 8 times over the ADC's floor 15 m away, where
  seismic intrusion sensors stop hearing footsteps); an impact's peak grows with the square
  root of its energy (dynamic compaction's scaled-distance laws), and a soft taped package
  couples half as well as a heel, so a 1 kg package falling 6 m (59 J) is about 78 µm/s at
  1 m, 18 µm/s at 10 m and 9 µm/s at 20 m. A vehicle is a sustained 10-40 Hz rumble of
  30 µm/s RMS at 1 m (heard at 50-100 m).
- Wind reaches a buried sensor through what it shakes: the fence's posts and panels (and
  trees). Their drag grows with the square of the wind speed, so the ground velocity does
  too: 1 µm/s RMS at 1 m from the fence line at 10 m/s, falling with distance from the line
  as the surface waves of a line of posts do (about 1/sqrt(1 + d) with damping). In gales a
  loose panel slaps its post: short knocks at the fence line, in bursts with the gusts.
- Rain on the soil over the sensor is many tiny impulses, most of their energy above the
  band that carries: about 0.05 µm/s RMS times sqrt(rain mm/h), 0.25 µm/s at 25 mm/h,
  which is why vendors bury geophones rather than mount microphones.
"""

import math

import numpy as np

GROUND_RATE = 1000  # samples per second, as the impact channel
MID_RAIL = 32768
COUNTS_PER_UM_S = 28.8 * 100 / (3.3 / 65536) * 1e-6  # SM-24 x preamp / ADC step: 57.2
ADC_NOISE_COUNTS = 20.0
NATURAL_HZ = 10.0
SOIL_Q = 20.0
WAVE_SPEED_MPS = 200.0
V1_STEP_UM_S = 25.0  # a heavy footstep's peak velocity at 1 m
STEP_ENERGY_J = 1.5  # ... the impact energy that footstep stands for
PACKAGE_COUPLING = 0.5  # a soft taped package against a heel
V1_VEHICLE_UM_S = 30.0  # RMS at 1 m
WIND_UM_S_AT_10 = 1.0  # RMS at 1 m from the fence line in 10 m/s
RAIN_UM_S = 0.05  # RMS per sqrt(mm/h)
GUST_PERIOD_S = 7.0  # as the fence's flutter swells (signals.fence_vibration)


def attenuation(distance_m: float, frequency_hz: float = 40.0) -> float:
    """What of a surface wave's velocity at 1 m is left at `distance_m`."""
    r = max(distance_m, 1.0)
    return float(math.exp(-math.pi * frequency_hz * (r - 1.0) / (SOIL_Q * WAVE_SPEED_MPS)) / math.sqrt(r))


def package_v1_um_s(mass_kg: float, drop_m: float = 6.0) -> float:
    """Peak ground velocity 1 m from a package of `mass_kg` landing after falling `drop_m`."""
    energy = mass_kg * 9.81 * drop_m
    return V1_STEP_UM_S * PACKAGE_COUPLING * math.sqrt(max(energy, 0.0) / STEP_ENERGY_J)


def package_peak_um_s(mass_kg: float, distance_m: float, drop_m: float = 6.0) -> float:
    """Peak ground velocity of a landing `distance_m` away (the gateway's model of it)."""
    return package_v1_um_s(mass_kg, drop_m) * attenuation(distance_m)


def fence_wind_um_s(wind_mps: float, from_fence_m: float) -> float:
    """RMS ground velocity that wind through the fence makes `from_fence_m` inside it."""
    d = max(from_fence_m, 0.0)
    damping = math.exp(-math.pi * 20.0 * d / (SOIL_Q * WAVE_SPEED_MPS))  # post sway and slaps: ~20 Hz
    return WIND_UM_S_AT_10 * (wind_mps / 10.0) ** 2 * damping / math.sqrt(1.0 + d)


def _geophone(signal: np.ndarray) -> np.ndarray:
    """The SM-24's response: flat above 10 Hz, falling as (f/10)^2 below."""
    n = len(signal)
    if n == 0:
        return signal
    f = np.fft.rfftfreq(n, 1.0 / GROUND_RATE)
    ratio = (f / NATURAL_HZ) ** 2
    response = ratio / np.sqrt((1 - ratio) ** 2 + (2 * 0.7 * f / NATURAL_HZ) ** 2 + 1e-12) if n > 1 else 1.0
    return np.fft.irfft(np.fft.rfft(signal) * response, n)


def _band(rng: np.random.Generator, n: int, low: float, high: float) -> np.ndarray:
    """Unit-RMS noise between `low` and `high` Hz."""
    if n < 2:
        return np.zeros(n)
    f = np.fft.rfftfreq(n, 1.0 / GROUND_RATE)
    spectrum = np.fft.rfft(rng.normal(0.0, 1.0, n)) * ((f >= low) & (f <= high))
    out = np.fft.irfft(spectrum, n)
    result: np.ndarray = out / (out.std() + 1e-12)
    return result


def _impulse(rng: np.random.Generator, peak_um_s: float, distance_m: float) -> np.ndarray:
    """One impact as felt `distance_m` away: a few cycles of the soil's 25-60 Hz ringing,
    damped over 15-30 ms (longer farther off, where the wave train has spread)."""
    f = rng.uniform(25.0, 60.0)
    tau = rng.uniform(0.015, 0.030) * (1.0 + distance_m / 40.0)
    k = np.arange(int(0.25 * GROUND_RATE)) / GROUND_RATE
    shape = np.exp(-k / tau) * np.sin(2 * np.pi * f * k + rng.uniform(0, 0.5))
    result: np.ndarray = shape * peak_um_s / (np.abs(shape).max() + 1e-12)
    return result


def _add(out: np.ndarray, at_s: float, pulse: np.ndarray) -> None:
    i = int(round(at_s * GROUND_RATE))
    if i >= len(out) or i + len(pulse) <= 0:
        return
    start = max(i, 0)
    out[start : min(len(out), i + len(pulse))] += pulse[start - i : min(len(out), i + len(pulse)) - i]


def ground_velocity(
    seconds: float,
    seed: int = 1,
    wind_mps: float = 0.0,
    rain_mmph: float = 0.0,
    from_fence_m: float = 10.0,
    landings: tuple[tuple[float, float, float, int], ...] = (),
    walkers: tuple[tuple[float, float, float], ...] = (),
    vehicles: tuple[tuple[float, float, float], ...] = (),
    quiet_um_s: float = 0.1,
) -> np.ndarray:
    """Ground velocity (µm/s) at a buried sensor `from_fence_m` inside the fence, as its
    geophone renders it, before the ADC.

    `landings`: (at s, distance m, mass kg, the landing's seed), each felt with the same
    ringing at every node given that seed. `walkers`: (start s, closest distance m, at s of
    the closest pass): someone walking past at 1.4 m/s, 1.8 steps a second, for 40 s from
    the start. `vehicles`: (start s, closest distance m, at s of the closest pass): a
    vehicle passing at 8 m/s. `quiet_um_s`: the site's ground noise on a still night
    (distant traffic, machinery), RMS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * GROUND_RATE)
    t = np.arange(n) / GROUND_RATE
    v = quiet_um_s * _band(rng, n, 5.0, 80.0)
    if wind_mps > 0:
        gust = 1.0 + 0.5 * np.sin(2 * np.pi * t / GUST_PERIOD_S + rng.uniform(0, 2 * np.pi))
        v += fence_wind_um_s(wind_mps, from_fence_m) * gust * _band(rng, n, 2.0, 60.0)
        # Gales: loose panels slap their posts, a few a second in the strongest gusts.
        rate = max(0.0, wind_mps - 12.0) * 0.15
        for k in np.nonzero(rng.random(n) < rate * gust / GROUND_RATE)[0]:
            along = rng.uniform(-15.0, 15.0)
            d = math.hypot(along, from_fence_m)
            _add(v, k / GROUND_RATE, _impulse(rng, rng.uniform(5.0, 20.0) * attenuation(d), d))
    if rain_mmph > 0:
        v += RAIN_UM_S * math.sqrt(rain_mmph) * _band(rng, n, 30.0, 200.0)
    for start, closest, at in walkers:
        step_at = start
        while step_at < min(start + 40.0, seconds):
            d = math.hypot(closest, 1.4 * (step_at - at))
            strength = V1_STEP_UM_S * rng.uniform(0.6, 1.2)
            _add(v, step_at, _impulse(rng, strength * attenuation(d), d))
            step_at += rng.normal(1 / 1.8, 0.03)
    for start, closest, at in vehicles:
        span = (t >= start) & (t < start + 60.0)
        far = np.maximum(np.hypot(closest, 8.0 * (t - at)), 1.0)
        level = V1_VEHICLE_UM_S * np.exp(-math.pi * 20.0 * (far - 1) / (SOIL_Q * WAVE_SPEED_MPS)) / np.sqrt(far)
        v += np.where(span, level, 0.0) * _band(rng, n, 10.0, 40.0)
    for at, distance, mass, landing_seed in landings:
        own = np.random.default_rng(landing_seed)
        _add(v, at, _impulse(own, package_peak_um_s(mass, distance), distance))
    result: np.ndarray = _geophone(v)
    return result


def to_counts(velocity_um_s: np.ndarray, seed: int = 1) -> np.ndarray:
    """The ADC's unsigned 16-bit samples of the preamplified geophone, with its own noise."""
    rng = np.random.default_rng(seed + 104729)
    counts = MID_RAIL + velocity_um_s * COUNTS_PER_UM_S + rng.normal(0.0, ADC_NOISE_COUNTS, len(velocity_um_s))
    return np.clip(np.round(counts), 0, 65535).astype(np.uint16)


def ground_samples(seconds: float, seed: int = 1, **kwargs: object) -> np.ndarray:
    """`ground_velocity` as the ground node's ADC reads it (unsigned 16-bit, 1 kHz)."""
    return to_counts(ground_velocity(seconds, seed, **kwargs), seed)  # type: ignore[arg-type]
