"""The run's timeline as a PNG: ground truth against alarms, along the fence and in time.

Drawn with numpy into an RGB raster and written with zlib (a PNG needs nothing more), so
the simulators need no plotting library. x is time, y is the position along the fence.
Truth is drawn as hollow squares and alarms as filled discs, each coloured by kind, and a
line joins every detected event to its alarm. The grey band at the top marks weather-only
time.

Below it, one strip per firmware node (top: the lowest node id), three rows each: the fence
accelerometer's, the microphone's and the impact channel's RMS level per second, darker
for louder (in dB, each sensor scaled over all nodes from its quietest to its loudest
second). A black tick at the left edge separates the nodes.
"""

import struct
import zlib
from pathlib import Path

import numpy as np

from simulators.scenario import Scenario
from simulators.scorer import ObservedAlarm

WIDTH, HEIGHT, MARGIN = 900, 360, 30
ROW = 3  # pixels per sensor row in the signal strips
LEGEND = {
    "x": "scenario time",
    "y (top panel)": "position along the fence",
    "hollow squares": "ground truth",
    "filled discs": "alarms as they reached MQTT",
    "colours": "climb red, cut purple, throwover orange, drone blue, drone_drop cyan, knock grey, jam brown,"
    " silence green",
    "strips below": "per firmware node (lowest id first): fence, microphone and impact RMS per second,"
    " darker is louder",
}
COLOURS = {
    "climb": (214, 39, 40),
    "cut": (148, 103, 189),
    "throwover": (255, 127, 14),
    "drone": (31, 119, 180),
    "drone_drop": (23, 190, 207),
    "knock": (127, 127, 127),
    "jam": (140, 86, 75),
    "silence": (44, 160, 44),
}
ALARM_KIND = {
    "intrusion": "climb",
    "throw_over": "throwover",
    "drone": "drone",
    "drone_drop": "drone_drop",
    "jamming": "jam",
    "comm_fail": "silence",
}


def _png(image: np.ndarray) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    height, width, _ = image.shape
    rows = b"".join(b"\x00" + image[y].tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def _strips(scenario: Scenario, levels: dict[int, np.ndarray]) -> np.ndarray:
    nodes = sorted(levels)
    image = np.full((len(nodes) * (3 * ROW + 2) + MARGIN // 2, WIDTH, 3), 255, dtype=np.uint8)
    if not nodes:
        return image
    db = {n: 20 * np.log10(np.maximum(levels[n], 1e-3)) for n in nodes}
    stacked = [d for d in db.values() if len(d)]
    low = np.min([d.min(axis=0) for d in stacked], axis=0) if stacked else np.zeros(3)
    high = np.max([d.max(axis=0) for d in stacked], axis=0) if stacked else np.ones(3)
    span = np.maximum(high - low, 1e-6)
    width = WIDTH - 2 * MARGIN
    for i, node in enumerate(nodes):
        top = i * (3 * ROW + 2)
        image[top : top + 3 * ROW, MARGIN - 4 : MARGIN - 1] = 0  # the node's tick
        seconds = len(db[node])
        if not seconds:
            continue
        columns = np.minimum((np.arange(width) * scenario.duration_s / width).astype(int), seconds - 1)
        for sensor in range(3):
            shade = 255 - (255 * (db[node][columns, sensor] - low[sensor]) / span[sensor]).clip(0, 255)
            row = np.repeat(shade.astype(np.uint8)[:, None], 3, axis=1)
            image[top + sensor * ROW : top + (sensor + 1) * ROW, MARGIN : MARGIN + width] = row[None, :, :]
    return image


def render(
    scenario: Scenario, alarms: list[ObservedAlarm], path: Path, levels: dict[int, np.ndarray] | None = None
) -> Path:
    image = np.full((HEIGHT, WIDTH, 3), 255, dtype=np.uint8)
    image[MARGIN : HEIGHT - MARGIN, MARGIN] = 0  # axes
    image[HEIGHT - MARGIN, MARGIN : WIDTH - MARGIN] = 0

    def xy(t: float, position: float | None) -> tuple[int, int]:
        x = MARGIN + int((WIDTH - 2 * MARGIN - 1) * min(max(t / scenario.duration_s, 0.0), 1.0))
        p = scenario.length_m / 2 if position is None else position
        y = HEIGHT - MARGIN - int((HEIGHT - 2 * MARGIN - 1) * min(max(p / scenario.length_m, 0.0), 1.0))
        return x, y

    def square(x: int, y: int, colour: tuple[int, int, int], r: int = 5) -> None:
        image[max(0, y - r) : y + r + 1, max(0, x - r)] = colour
        image[max(0, y - r) : y + r + 1, min(WIDTH - 1, x + r)] = colour
        image[max(0, y - r), max(0, x - r) : x + r + 1] = colour
        image[min(HEIGHT - 1, y + r), max(0, x - r) : x + r + 1] = colour

    def disc(x: int, y: int, colour: tuple[int, int, int], r: int = 4) -> None:
        yy, xx = np.ogrid[:HEIGHT, :WIDTH]
        image[(xx - x) ** 2 + (yy - y) ** 2 <= r * r] = colour

    for event in scenario.events:
        colour = COLOURS.get(event.kind, (0, 0, 0))
        if event.path:
            for (t0, p0), (t1, p1) in zip(event.path, event.path[1:], strict=False):
                for k in range(50):
                    f = k / 49
                    x, y = xy(t0 + f * (t1 - t0), p0 + f * (p1 - p0))
                    image[y, x] = colour
        position = event.position_at(event.t)
        if event.kind == "silence" and event.node is not None:
            position = scenario.node_positions[event.node - 1]
        square(*xy(event.t, position), colour)
    for alarm in alarms:
        colour = COLOURS.get(ALARM_KIND.get(alarm.category, ""), (0, 0, 0))
        disc(*xy(alarm.at_s, alarm.location_m), colour)
    if levels:
        image = np.concatenate([image, _strips(scenario, levels)])
    path.write_bytes(_png(image))
    return path
