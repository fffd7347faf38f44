"""Signal models for the simulators, with physical parameters and a seed (numpy).

Each model returns what a node's sensor would read, in the units its driver delivers:
16-bit microphone samples at 8 kHz, ADXL345 counts (3.9 mg/LSB) at 800 Hz on three axes,
and unsigned 16-bit ADC samples of the impact channel at 1 kHz around mid-rail. An event is
felt by each node according to its distance from it.

Acoustics (FIELD.md: drone acoustics). A multirotor's tonal noise is a harmonic series at
the blade-pass frequency, blades x rpm / 60. Its level falls by spherical spreading, -20
log10(d / 1 m), and by atmospheric absorption, which grows with frequency (ISO 9613-1 at
20 °C and 70 % RH, in a simple fit: about 0.5 dB/km at 200 Hz, 5 dB/km at 1 kHz). Sound
pressure becomes samples through an INMP441's sensitivity: -26 dBFS at 94 dB SPL.
"""

import math

import numpy as np

AUDIO_RATE = 8000
FENCE_RATE = 800
IMPACT_RATE = 1000
FULL_SCALE = 32767
MIC_DBFS_AT_94_DB_SPL = -26.0


def spl_to_amplitude(spl_db: float) -> float:
    """Peak sample amplitude of a sine at this sound pressure level (dB SPL, RMS)."""
    dbfs = MIC_DBFS_AT_94_DB_SPL + (spl_db - 94.0)
    return FULL_SCALE * math.sqrt(2) * 10 ** (dbfs / 20)


def absorption_db_per_m(frequency_hz: float) -> float:
    """Atmospheric absorption, a fit to ISO 9613-1 at 20 °C, 70 % RH below 2 kHz."""
    return float(5.0e-3 * (frequency_hz / 1000.0) ** 1.5)


def drone_level_db(source_db_at_1m: float, frequency_hz: float, distance_m: float) -> float:
    """SPL at `distance_m` of a tone emitted at `source_db_at_1m` (dB SPL at 1 m)."""
    d = max(distance_m, 1.0)
    return source_db_at_1m - 20 * math.log10(d) - absorption_db_per_m(frequency_hz) * d


def drone_audio(
    seconds: float,
    distance_m: float,
    rpm: float = 6090,
    blades: int = 2,
    source_db_at_1m: float = 75.0,
    harmonics: int = 6,
    ambient_db: float = 40.0,
    seed: int = 1,
    rotors: int = 4,
    rpm_spread: float = 0.03,
    turbulence: float = 0.01,
    wash_db: float = -6.0,
) -> np.ndarray:
    """Microphone samples of a hovering multirotor `distance_m` away over ambient noise.

    Defaults: a Mavic-class quadcopter (6,090 rpm, 2-blade props: 203 Hz), about 75 dB SPL at
    1 m in its blade-pass series (hover noise of small quadcopters is 70-80 dBA at 1-3 m),
    in a 40 dB SPL night-time ambient.

    As in recordings of real drones (FIELD.md), it is not one harmonic series but one per
    rotor: the flight controller trims each motor to its own speed (`rpm_spread`, relative
    standard deviation) and turbulence jitters each (`turbulence`, correlated over about
    0.2 s), so each harmonic becomes a cluster some 20-40 Hz wide whose lines beat. Under
    the series lies the rotors' broadband wash, `wash_db` relative to the tonal level and
    rolling off above about 800 Hz."""
    rng = np.random.default_rng(seed)
    n = int(seconds * AUDIO_RATE)
    f0 = blades * rpm / 60.0
    signal = np.zeros(n)
    share_db = 10 * math.log10(max(rotors, 1))  # the rotors share the series' power
    for _ in range(rotors):
        base = f0 * (1 + rng.normal(0.0, rpm_spread))
        speed = base * (1 + turbulence * _smoothed_noise(rng, n, int(0.2 * AUDIO_RATE)))
        phase = 2 * np.pi * np.cumsum(speed) / AUDIO_RATE + rng.uniform(0, 2 * np.pi)
        for h in range(1, harmonics + 1):
            if base * h >= AUDIO_RATE / 2:
                break
            level = drone_level_db(source_db_at_1m - share_db - 3.0 * (h - 1), base * h, distance_m)
            signal += spl_to_amplitude(level) * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    spectrum = np.fft.rfft(rng.normal(0.0, 1.0, n))
    frequency = np.fft.rfftfreq(n, 1.0 / AUDIO_RATE)
    wash = np.fft.irfft(spectrum / np.sqrt(1 + (frequency / 800.0) ** 2), n)  # rolls off above 800 Hz
    wash *= (
        spl_to_amplitude(drone_level_db(source_db_at_1m + wash_db, 500, distance_m))
        / math.sqrt(2)
        / (wash.std() + 1e-12)
    )
    noise_rms = spl_to_amplitude(ambient_db) / math.sqrt(2)
    signal += wash + rng.normal(0.0, noise_rms, n)
    return np.clip(np.round(signal), -32768, 32767).astype(np.int16)


def ambient_audio(seconds: float, ambient_db: float = 40.0, seed: int = 1) -> np.ndarray:
    """Microphone samples (float) of a quiet night's broadband ambient at `ambient_db` SPL:
    what `drone_audio` lays under its rotors, without them."""
    rng = np.random.default_rng(seed)
    result: np.ndarray = rng.normal(0.0, spl_to_amplitude(ambient_db) / math.sqrt(2), int(seconds * AUDIO_RATE))
    return result


def _smoothed_noise(rng: np.random.Generator, n: int, span: int) -> np.ndarray:
    """Gaussian noise averaged over `span` samples, scaled back to unit deviation."""
    raw = rng.normal(0.0, 1.0, n + span)
    sums = np.cumsum(raw)
    smooth = (sums[span:] - sums[:-span])[:n]
    result: np.ndarray = smooth / (smooth.std() + 1e-12)
    return result


def fence_attenuation(distance_m: float, length_m: float = 10.0) -> float:
    """How much of a disturbance a fence sensor feels along the mesh (1 at the sensor)."""
    return 1.0 / (1.0 + (distance_m / length_m) ** 2)


def fence_vibration(
    seconds: float,
    wind_mps: float = 0.0,
    rain_mmph: float = 0.0,
    climbs: tuple[tuple[float, ...], ...] = (),
    seed: int = 1,
    cuts: tuple[tuple[float, ...], ...] = (),
    knocks: tuple[tuple[float, ...], ...] = (),
) -> np.ndarray:
    """x,y,z accelerometer counts (shape n x 3) for a sensor on a mesh fence.

    `climbs`, `cuts` and `knocks` are (start s, distance m) near the sensor, or (start s,
    distance m, seed): one climber's hands and feet, or one cutter's snaps, are the same
    wherever they are felt, so every node given the same event seed feels the same impulses,
    each at its own distance (without one, they come from `seed`). A climb is 8 s of
    irregular hand and foot impulses ringing the panel at ~90 Hz. Wind is band-limited flutter whose
    strength grows with the square of the speed and swells in 7 s gusts; rain is drop
    impulses at a rate proportional to the rain rate."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FENCE_RATE)
    t = np.arange(n) / FENCE_RATE
    gust = 1.0 + 0.5 * np.sin(2 * np.pi * t / 7.0 + rng.uniform(0, 2 * np.pi))
    flutter = np.convolve(rng.normal(0, 1, n), np.hanning(9) / np.hanning(9).sum(), mode="same")
    common = flutter * (wind_mps**2) * 0.35 * gust
    impulses = np.zeros(n)
    drops = rng.poisson(rain_mmph * 25 / FENCE_RATE, n)
    impulses += drops * rng.uniform(10, 40, n)
    for climb in climbs:
        start, distance = climb[0], climb[1]
        own = _event_rng(climb, rng)
        k = start
        while k < min(start + 8.0, seconds):
            strength = own.uniform(400, 1200)
            if k >= 0:
                impulses[int(k * FENCE_RATE)] += strength * fence_attenuation(distance)
            k += own.uniform(0.1, 0.4)
    for knock in knocks:
        start, distance = knock[0], knock[1]
        if 0 <= start < seconds:
            impulses[int(start * FENCE_RATE)] += 1500 * fence_attenuation(distance)
    ring = np.exp(-np.arange(200) / (0.06 * FENCE_RATE)) * np.sin(2 * np.pi * 90 * np.arange(200) / FENCE_RATE)
    common += np.convolve(impulses, ring)[:n]
    # A cut: a handful of wire snaps 2-3 s apart, each a sharp crack ringing at ~320 Hz.
    snaps = np.zeros(n)
    for cut in cuts:
        start, distance = cut[0], cut[1]
        own = _event_rng(cut, rng)
        k = start
        for _ in range(5):
            if 0 <= k < seconds:
                snaps[int(k * FENCE_RATE)] += 3000 * fence_attenuation(distance)
            k += own.uniform(2.0, 3.0)
    crack = np.exp(-np.arange(40) / (0.006 * FENCE_RATE)) * np.sin(2 * np.pi * 320 * np.arange(40) / FENCE_RATE)
    common += np.convolve(snaps, crack)[:n]
    xyz = np.stack([common, 0.6 * common, 256 + 0.3 * common], axis=1) + rng.normal(0, 3, (n, 3))
    return np.clip(np.round(xyz), -32768, 32767).astype(np.int16)


def _event_rng(event: tuple[float, ...], fallback: np.random.Generator) -> np.random.Generator:
    """An event's own random numbers when it names a seed (see `fence_vibration`)."""
    return np.random.default_rng(int(event[2])) if len(event) > 2 else fallback


def package_impact(
    seconds: float, at_s: float, mass_kg: float = 0.5, drop_m: float = 6.0, distance_m: float = 5.0, seed: int = 1
) -> np.ndarray:
    """Impact-channel ADC samples: one thud of a package of `mass_kg` falling `drop_m`.

    The geophone's peak grows with the square root of the impact energy (m g h) and falls
    with distance over the ground as 1/(1 + d/5 m)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * IMPACT_RATE)
    samples = 32768 + rng.normal(0, 30, n)
    energy = mass_kg * 9.81 * drop_m
    peak = 4000 * math.sqrt(energy / 30.0) / (1 + distance_m / 5.0)
    i = int(at_s * IMPACT_RATE)
    k = np.arange(min(200, n - i))
    samples[i : i + len(k)] += peak * np.exp(-k / 25.0) * np.sin(2 * np.pi * 40 * k / IMPACT_RATE)
    return np.clip(np.round(samples), 0, 65535).astype(np.uint16)


THUD_DB_AT_1M = 80.0  # dB SPL: 1 kg falling 6 m onto a yard's tarmac (see package_thud)
THUD_REFERENCE_J = 1.0 * 9.81 * 6.0


def thud_level_db(mass_kg: float, distance_m: float, drop_m: float = 6.0) -> float:
    """The thud's level (dB SPL, as `spl_to_amplitude` reads it) at `distance_m`."""
    energy = mass_kg * 9.81 * drop_m
    source = THUD_DB_AT_1M + 10 * math.log10(max(energy, 1e-3) / THUD_REFERENCE_J)
    return drone_level_db(source, 200.0, distance_m)


def package_thud(
    seconds: float, at_s: float, mass_kg: float = 1.0, distance_m: float = 10.0, drop_m: float = 6.0, seed: int = 1
) -> np.ndarray:
    """Microphone samples (float, no ambient) of a package landing `distance_m` away.

    Physical basis: a soft package (drugs and phones wrapped in tape) striking hard ground
    is a short, heavily damped impact. The package and the surface it strikes ring at low
    frequencies (their modes lie below ~400 Hz for bodies of this size and stiffness) for
    a few tens of milliseconds, with a brief broadband slap at contact. Only a tiny share of
    the impact energy m g h is radiated (about 1e-6, which makes a 1 kg package falling 6 m
    about 80 dB SPL at 1 m, like a heavy book dropped on a floor heard from across a room);
    that share is taken as constant, so the level rises 10 dB per tenfold energy. It then
    spreads spherically and is absorbed as `drone_level_db` describes. Each landing gets
    its own modes (three decaying partials at 70-350 Hz, 15-30 ms) from `seed`."""
    rng = np.random.default_rng(seed)
    n = int(seconds * AUDIO_RATE)
    out = np.zeros(n)
    start = int(at_s * AUDIO_RATE)
    if not 0 <= start < n:
        return out
    length = min(n - start, int(0.2 * AUDIO_RATE))
    t = np.arange(length) / AUDIO_RATE
    pulse = np.zeros(length)
    for _ in range(3):
        f = rng.uniform(70.0, 350.0)
        tau = rng.uniform(0.015, 0.030)
        pulse += rng.uniform(0.5, 1.0) * np.exp(-t / tau) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    slap = rng.normal(0.0, 1.0, length) * np.exp(-t / 0.003)
    slap = np.convolve(slap, np.ones(4) / 4, mode="same")  # the slap's top rolls off above ~1 kHz
    pulse += 0.5 * slap
    peak = spl_to_amplitude(thud_level_db(mass_kg, distance_m, drop_m))
    out[start : start + length] = pulse * peak / (np.abs(pulse).max() + 1e-12)
    return out


def wind_noise_audio(seconds: float, wind_mps: float, seed: int = 1) -> np.ndarray:
    """Microphone samples (float) of wind on a node's microphone behind a fur windshield.

    Physical basis: wind noise at a microphone is turbulence pressure, not sound: its level
    grows with the dynamic pressure, ~ v^2 (40 log10 v dB), and its spectrum falls steeply
    with frequency (about f^-2 above a few tens of hertz), so it lands exactly in a thud's
    band. Behind a fur windshield it is taken as 45 dB SPL in 70-300 Hz at 10 m/s (fur
    windshields measure 20-30 dB better than bare foam there), i.e. 57 dB at 20 m/s and 33 dB
    at 5 m/s. Gusts swell it over 7 s as they swell the fence's flutter (`fence_vibration`).
    """
    rng = np.random.default_rng(seed)
    n = int(seconds * AUDIO_RATE)
    if wind_mps <= 0 or n == 0:
        return np.zeros(n)
    spectrum = np.fft.rfft(rng.normal(0.0, 1.0, n))
    frequency = np.fft.rfftfreq(n, 1.0 / AUDIO_RATE)
    shaped = np.fft.irfft(spectrum / np.maximum(frequency, 20.0), n)  # f^-1 amplitude: f^-2 power
    band = np.fft.irfft(
        np.fft.rfft(shaped) * ((frequency >= 70) & (frequency <= 300)), n
    )  # what of it lies in the thud's band
    level = 45.0 + 40 * math.log10(wind_mps / 10.0)
    t = np.arange(n) / AUDIO_RATE
    gust = 1.0 + 0.5 * np.sin(2 * np.pi * t / 7.0 + rng.uniform(0, 2 * np.pi))
    scale = spl_to_amplitude(level) / math.sqrt(2) / (band.std() + 1e-12)
    result: np.ndarray = shaped * scale * gust
    return result
