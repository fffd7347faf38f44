"""What each firmware node's sensors record during a scenario: its fence, audio and impact
channels synthesized from the scenario (`signals.py`; a ground node's geophone, `ground.py`)
at the node's distance from every event, weather all along, real everyday sound mixed in where the scenario names it
(`[[background]]`), and written as the raw files the firmware host plays back. No node
ever reads the ground truth, only these recordings.

Wind on the microphones (`signals.wind_noise_audio`) is left out here for now: the drone
network was trained without it, and with it the storm scenario raised two false drones in
7 minutes on 8 nodes. `perimeter sim coverage` includes it (it is what limits throw-overs
in wind); adding it here waits for the network retrained with wind in its training set.
"""

from pathlib import Path

import numpy as np

from simulators.ground import ground_samples
from simulators.real_audio import BackgroundStream
from simulators.scenario import Scenario
from simulators.signals import (
    AUDIO_RATE,
    FENCE_RATE,
    IMPACT_RATE,
    drone_audio,
    fence_vibration,
    package_impact,
    package_thud,
)

CHUNK_S = 10.0  # synthesized and written this much at a time
DRONE_ALTITUDE_M = 30.0
INAUDIBLE_M = 600.0  # a drone's series is some 27 dB under a 40 dB night there (signals.drone_level_db)


def firmware_nodes(scenario: Scenario) -> list[int]:
    """The node ids (1-based) that run the real firmware (chosen when the scenario loaded)."""
    return list(scenario.firmware_ids)


def levels_per_second(samples: np.ndarray, rate: int, centre: float = 0.0) -> np.ndarray:
    """RMS of each whole second of `samples` (rows of one or more channels)."""
    seconds = len(samples) // rate
    block = samples[: seconds * rate].astype(np.float64).reshape(seconds, rate, -1) - centre
    rms: np.ndarray = np.sqrt((block**2).sum(axis=2).mean(axis=1))
    return rms


def synthesize(
    scenario: Scenario, node_id: int, folder: Path, levels: list[np.ndarray] | None = None
) -> dict[str, str]:
    """Write the node's fence, audio and impact recordings; their paths. With `levels`, also
    append each second's RMS level of the three (rows of fence, audio, impact) for the plot."""
    seed = scenario.seed * 1000 + node_id
    files = {k: folder / ("node%d-%s.raw" % (node_id, k)) for k in ("fence", "audio", "impact")}
    if scenario.is_ground(node_id):
        return _ground_node(scenario, node_id, files, seed, levels)
    where = scenario.node_positions[node_id - 1]
    streams = [BackgroundStream(b.files, b.level_db, seed * 31 + k) for k, b in enumerate(scenario.backgrounds)]
    with (
        open(files["fence"], "wb") as fence,
        open(files["audio"], "wb") as audio,
        open(files["impact"], "wb") as impact,
    ):
        t = 0.0
        while t < scenario.duration_s:
            span = min(CHUNK_S, scenario.duration_s - t)

            def near(kind: str, start: float = t, end: float = t + span) -> tuple[tuple[float, ...], ...]:
                # Each event's own seed: every node feels the same climber's same impulses.
                return tuple(
                    (e.t - start, abs((e.position_m or 0.0) - where), scenario.seed * 7919 + i)
                    for i, e in enumerate(scenario.events)
                    if e.kind == kind and start - 10 <= e.t < end
                )

            wind = scenario.wind_mps.at(t + span / 2)
            rain = scenario.rain_mmph.at(t + span / 2)
            xyz = fence_vibration(
                span, wind, rain, near("climb"), seed + int(t), cuts=near("cut"), knocks=near("knock")
            )
            fence.write(xyz.astype("<i2").tobytes())
            fence_level = levels_per_second(xyz, FENCE_RATE)
            # Ambient, plus every drone in the air during this chunk (two may overlap in time at
            # different places: each node hears each at its own distance).
            sound = drone_audio(span, 1e6, seed=seed + int(t)).astype(np.int32)  # the night's ambient
            for k, drone in enumerate(scenario.events):
                if drone.kind != "drone" or drone.path[0][0] > t + span or drone.path[-1][0] < t:
                    continue
                along = abs((drone.position_at(t + span / 2) or 0.0) - where)
                distance = float(np.hypot(along, DRONE_ALTITUDE_M))
                if distance > INAUDIBLE_M:
                    continue  # far under the night's ambient: synthesizing it changes nothing
                rotors = drone_audio(span, distance, ambient_db=-200.0, seed=seed + int(t) + k + 1)
                start = int(max(0.0, drone.path[0][0] - t) * AUDIO_RATE)
                stop = int(min(span, drone.path[-1][0] - t) * AUDIO_RATE)
                mask = np.zeros(len(sound), dtype=bool)
                mask[start:stop] = True
                sound += np.where(mask, rotors.astype(np.int32), 0)
            for stream in streams:  # real everyday sound, clip after clip
                sound += np.round(stream.take(len(sound))).astype(np.int32)
            thuds = []  # packages landing: (at s in the chunk, distance m, mass kg, the landing's seed)
            for i, e in enumerate(scenario.events):
                if e.kind == "throwover" and t <= e.t < t + span:
                    along = abs((e.position_m or 0.0) - where)
                    thuds.append((e.t - t, float(np.hypot(along, e.offset_m)), e.mass_kg, scenario.seed * 7919 + i))
                if e.kind == "drone" and e.drop_t is not None and t <= e.drop_t < t + span:
                    along = abs((e.position_at(e.drop_t) or 0.0) - where)
                    thuds.append(
                        (e.drop_t - t, float(np.hypot(along, e.offset_m)), e.mass_kg, scenario.seed * 7919 + i)
                    )
            for at, distance, mass, landing in thuds:  # heard in the air: one landing, one sound
                sound += np.round(package_thud(span, at, mass, distance, seed=landing)).astype(np.int32)
            sound = np.clip(sound, -32768, 32767).astype(np.int16)
            audio.write(i2s_slots(sound))
            audio_level = levels_per_second(sound, AUDIO_RATE)
            ground = package_impact(span, span + 1, seed=seed + int(t))  # no thud: noise only
            for at, distance, mass, _landing in thuds:
                thud = package_impact(span, at, mass, distance_m=distance, seed=seed + int(t)).astype(np.int64) - 32768
                ground = np.clip(ground.astype(np.int64) + thud, 0, 65535).astype(np.uint16)
            impact.write(ground.astype("<u2").tobytes())
            if levels is not None:
                impact_level = levels_per_second(ground, IMPACT_RATE, 32768.0)
                n = min(len(fence_level), len(audio_level), len(impact_level))
                levels.append(np.stack([fence_level[:n], audio_level[:n], impact_level[:n]], axis=1))
            t += span
    return {k: str(v) for k, v in files.items()}


def _ground_node(
    scenario: Scenario, node_id: int, files: dict[str, Path], seed: int, levels: list[np.ndarray] | None
) -> dict[str, str]:
    """A ground node's recording: its geophone only (`ground.py`), the fence and microphone
    files left empty (it has neither)."""
    chainage, inside = scenario.place(node_id)
    files["fence"].write_bytes(b"")
    files["audio"].write_bytes(b"")
    with open(files["impact"], "wb") as impact:
        t = 0.0
        while t < scenario.duration_s:
            span = min(CHUNK_S, scenario.duration_s - t)
            landings, walkers, vehicles = [], [], []
            for i, e in enumerate(scenario.events):
                landed = e.t if e.kind == "throwover" else e.drop_t if e.kind == "drone" else None
                where = e.position_at(landed) if landed is not None else None
                if landed is not None and where is not None and t - 1.0 <= landed < t + span:
                    distance = float(np.hypot(where - chainage, e.offset_m - inside))
                    landings.append((landed - t, distance, e.mass_kg, scenario.seed * 7919 + i))
                across = abs(inside - e.offset_m)
                start = e.position_m or 0.0
                if e.kind == "walker" and e.t - 40.0 <= t <= e.t + 40.0:
                    walkers.append((e.t - t, across, e.t + (chainage - start) / 1.4 - t))
                if e.kind == "vehicle" and e.t - 60.0 <= t <= e.t + 60.0:
                    vehicles.append((e.t - 30.0 - t, across, e.t + (chainage - start) / 8.0 - t))
            samples = ground_samples(
                span,
                seed + int(t),
                wind_mps=scenario.wind_mps.at(t + span / 2),
                rain_mmph=scenario.rain_mmph.at(t + span / 2),
                from_fence_m=inside,
                landings=tuple(landings),
                walkers=tuple(walkers),
                vehicles=tuple(vehicles),
            )
            impact.write(samples.astype("<u2").tobytes())
            if levels is not None:
                rms = levels_per_second(samples, IMPACT_RATE, 32768.0)
                levels.append(np.stack([np.zeros(len(rms)), np.zeros(len(rms)), rms], axis=1))
            t += span
    return {k: str(v) for k, v in files.items()}


def i2s_slots(sound: np.ndarray) -> bytes:
    """16-bit samples as the microphone's 32-bit I2S slots: the sample in the top half, the
    low byte of the 24-bit word dither (0x80), the padding byte zero; little-endian."""
    slots = np.empty((len(sound), 4), dtype=np.uint8)
    value = sound.astype("<i2").view(np.uint8).reshape(-1, 2)
    slots[:, 0] = 0
    slots[:, 1] = 0x80
    slots[:, 2:] = value
    return slots.tobytes()
