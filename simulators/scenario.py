"""Scenario files: the perimeter to try, its weather and the attacks, as TOML.

    [scenario]
    name = "storm-with-climb"
    duration_s = 900
    seed = 7
    [perimeter]
    length_m = 1200        # a fence line; nodes placed along it
    polyline = [[0, 0], [400, 0], [400, 200], [0, 200], [0, 0]]   # optional: its shape on the
                           # plan in metres (closed: the prison inside), length_m long; the
                           # simulators hear along the chainage, the gateway draws the shape
    node_spacing_m = 30
    link = "lora"          # or "serial"
    firmware_nodes = 4     # how many run the real firmware, or "all"; left out: every
                           # node that can sense a scripted event. The rest are behavioural
    sf = 7                 # LoRa spreading factor of every node (7..12)
    heartbeat_s = 60       # every node's heartbeat interval
    uplinks = "enveloped"  # how firmware nodes send: "padded" (one length on air), or "bare"
    rotate_key = false     # the gateway starts a key change: every node agrees its next key (X25519)
    ground_firmware = "near"   # ground nodes on the firmware: within reach of an event, or "all"
    [weather]
    wind_mps = [[0, 4], [300, 14], [600, 6]]   # (time s, speed) breakpoints
    rain_mmph = [[0, 0], [200, 8]]
    [[event]]
    t = 420.0
    kind = "climb"         # climb | cut | throwover | drone | knock | jam | selective_jam | silence
    position_m = 515.0

    [[background]]
    files = ["recordings:background"]   # WAV files or folders of them; "recordings:" is
    level_db = 55                        # ../shared/data/acoustic; dB SPL at each microphone

    [[node]]
    role = "ground"        # ground nodes: a buried geophone inside the fence (README: ground nodes)
    spacing_m = 20         # a row along the whole fence, half a spacing in from each end ...
    inside_m = 14          # ... this far inside the fence line ...
    stagger_m = 8          # ... every other one this much farther in (a zig-zag; 0: a straight row)
    [[node]]
    role = "ground"
    chainage_m = 310       # or one ground node here
    inside_m = 12

    [site]
    timezone = "Europe/London"   # the site's clock on the dashboard and in reports (UTC unless said)
    [[plan.line]]                # the site plan around the fence, as gateway.toml's [plan]
    name = "inner fence"
    kind = "fence"               # fence | wall | gate | road | building
    points = [[6, 6], [394, 6], [394, 194], [6, 194], [6, 6]]

The fence nodes are numbered 1, 2, ... along the line; ground nodes follow, in the order
the [[node]] blocks and their rows give them.

Every `[[background]]` plays real recordings into every node's microphone, clip after clip
in an order of the node's own, each at `level_db` (its RMS), so that simulated nuisance
rates mean something; relative paths are from the scenario file's folder.

A `walker` (someone walking along the fence for 40 s, `offset_m` inside it, from
`position_m`) and a `vehicle` (one passing `position_m` at 8 m/s along a road `offset_m`
inside) are nuisance for the ground nodes: never alarms. A drone event takes `path`
([[t, position_m], ...]) and `drop_t`; a throw-over or a drone's
drop may say the package's `mass_kg` (1 kg unless it says) and how far inside the fence
line it lands, `offset_m` (5 m unless it says); `silence` takes `node`
(and optionally `duration_s`); `jam` takes `duration_s`; `selective_jam` (a reactive jammer
that destroys one node's event frames and lets its heartbeats through) takes `node` and
`duration_s`. A mistake is reported by key, with the file's name, never as a traceback; so
is an attack that no firmware node can sense (`hearing.py`), which would otherwise be a
silent miss.
"""

import math
import tomllib
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from simulators import hearing

KINDS = ("climb", "cut", "throwover", "drone", "knock", "jam", "selective_jam", "silence", "walker", "vehicle")
ROLES = ("ground",)
LINKS = ("lora", "serial")
UPLINKS = ("enveloped", "padded", "bare")


class ScenarioError(Exception):
    """What is wrong with a scenario file, naming the key."""


@dataclass(frozen=True)
class Breakpoints:
    """A quantity that changes over time: linear between (time s, value) breakpoints, held
    constant before the first and after the last."""

    points: tuple[tuple[float, float], ...] = ((0.0, 0.0),)

    def at(self, t: float) -> float:
        times = [p[0] for p in self.points]
        i = bisect_right(times, t)
        if i == 0:
            return self.points[0][1]
        if i == len(self.points):
            return self.points[-1][1]
        (t0, v0), (t1, v1) = self.points[i - 1], self.points[i]
        return v0 + (v1 - v0) * (t - t0) / (t1 - t0)


@dataclass(frozen=True)
class Event:
    t: float
    kind: str
    position_m: float | None = None
    node: int | None = None
    duration_s: float = 0.0
    path: tuple[tuple[float, float], ...] = ()
    drop_t: float | None = None
    mass_kg: float = 1.0  # a thrown or dropped package
    offset_m: float = 5.0  # how far inside the fence line the package lands

    def position_at(self, t: float) -> float | None:
        """Where the event is at time t (a drone moves along its path)."""
        if self.path:
            return Breakpoints(self.path).at(t)
        return self.position_m


@dataclass(frozen=True)
class GroundNode:
    """A ground node: where it stands along the fence and how far inside it."""

    chainage_m: float
    inside_m: float


@dataclass(frozen=True)
class Background:
    """Real recordings every microphone hears, clip after clip, at `level_db` SPL (RMS)."""

    files: tuple[Path, ...]
    level_db: float


@dataclass(frozen=True)
class Scenario:
    name: str
    duration_s: float
    seed: int
    length_m: float
    node_spacing_m: float
    link: str
    firmware_nodes: int | None  # None: every node that can sense a scripted event
    wind_mps: Breakpoints
    rain_mmph: Breakpoints
    events: tuple[Event, ...] = field(default_factory=tuple)
    source: str = ""
    sf: int = 7
    heartbeat_s: int = 60
    backgrounds: tuple[Background, ...] = ()
    firmware_ids: tuple[int, ...] = ()  # the nodes (1-based) that run the real firmware
    uplinks: str = "enveloped"  # as device/delivery.py sends them
    rotate_key: bool = False  # the gateway starts with a key change under way
    ground_nodes: tuple[GroundNode, ...] = ()  # ids follow the fence nodes'
    ground_firmware: str = "near"  # "near": the ground nodes within reach of an event run the firmware; "all"
    polyline: tuple[tuple[float, float], ...] = ()  # the fence line's shape on the plan (metres); () straight
    timezone: str = "UTC"  # the site's, for the gateway's dashboard and reports
    plan: dict[str, Any] = field(default_factory=dict, compare=False)  # gateway.toml's [plan], as written

    @property
    def node_positions(self) -> list[float]:
        """Chainage of each fence node (id = index + 1), half a spacing in from each end."""
        count = max(1, int(self.length_m // self.node_spacing_m))
        return [self.node_spacing_m * (i + 0.5) for i in range(count)]

    @property
    def node_count(self) -> int:
        """Fence and ground nodes."""
        return len(self.node_positions) + len(self.ground_nodes)

    def place(self, node_id: int) -> tuple[float, float]:
        """A node's chainage and how far inside the fence it stands (0: on the fence)."""
        fence = self.node_positions
        if node_id <= len(fence):
            return fence[node_id - 1], 0.0
        ground = self.ground_nodes[node_id - len(fence) - 1]
        return ground.chainage_m, ground.inside_m

    def is_ground(self, node_id: int) -> bool:
        return node_id > len(self.node_positions)


def _get(table: dict[str, Any], path: str, key: str, kinds: tuple[type, ...], default: Any = ...) -> Any:
    if key not in table:
        if default is ...:
            raise ScenarioError("%s.%s is required" % (path, key))
        return default
    value = table[key]
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = "/".join(k.__name__ for k in kinds)
        raise ScenarioError("%s.%s: expected %s, got %r" % (path, key, names, value))
    return value


def _breakpoints(table: dict[str, Any], key: str, duration: float) -> Breakpoints:
    raw = table.get(key, [[0, 0]])
    ok = (
        isinstance(raw, list)
        and raw
        and all(isinstance(p, list) and len(p) == 2 and all(type(v) in (int, float) for v in p) for p in raw)
    )
    if not ok:
        raise ScenarioError("weather.%s: expected [[time s, value], ...], e.g. [[0, 4], [300, 14]]" % key)
    points = tuple((float(t), float(v)) for t, v in raw)
    if any(b[0] <= a[0] for a, b in zip(points, points[1:], strict=False)):
        raise ScenarioError("weather.%s: breakpoint times must increase" % key)
    if any(v < 0 for _, v in points):
        raise ScenarioError("weather.%s: values cannot be negative" % key)
    return Breakpoints(points)


def parse(text: str, source: str = "scenario.toml") -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError("%s: not valid TOML: %s" % (source, exc)) from None
    try:
        return _parse(data, source)
    except ScenarioError as exc:
        raise ScenarioError("%s: %s" % (source, exc)) from None


def _parse(data: dict[str, Any], source: str) -> Scenario:
    unknown = set(data) - {"scenario", "perimeter", "weather", "event", "background", "node", "site", "plan"}
    if unknown:
        raise ScenarioError("unknown table %s" % ", ".join(sorted(unknown)))
    sc = data.get("scenario", {})
    pe = data.get("perimeter", {})
    we = data.get("weather", {})
    duration = float(_get(sc, "scenario", "duration_s", (int, float)))
    if duration <= 0:
        raise ScenarioError("scenario.duration_s must be positive")
    polyline = _polyline(pe)
    length = float(_get(pe, "perimeter", "length_m", (int, float), round(_length(polyline), 1) if polyline else ...))
    if polyline and abs(_length(polyline) - length) > 1.0:
        raise ScenarioError("perimeter.polyline: %.1f m long, but length_m is %s" % (_length(polyline), length))
    site = data.get("site", {})
    timezone = _get(site, "site", "timezone", (str,), "UTC")
    unknown_site = set(site) - {"timezone"}
    if unknown_site:
        raise ScenarioError("site: unknown key %s (known: timezone)" % ", ".join(sorted(unknown_site)))
    plan = data.get("plan", {})
    if not isinstance(plan, dict):
        raise ScenarioError("plan: expected a table (as gateway.toml's [plan], [[plan.line]], [[plan.camera]])")
    spacing = float(_get(pe, "perimeter", "node_spacing_m", (int, float)))
    if length <= 0 or spacing <= 0 or spacing > length:
        raise ScenarioError("perimeter: length_m and node_spacing_m must be positive, spacing within the length")
    link = _get(pe, "perimeter", "link", (str,), "lora")
    if link not in LINKS:
        raise ScenarioError("perimeter.link: %r is not one of %s" % (link, ", ".join(LINKS)))
    ground = _ground_nodes(data.get("node", []), length)
    nodes = max(1, int(length // spacing)) + len(ground)
    raw_firmware = _get(pe, "perimeter", "firmware_nodes", (int, str), None)
    if raw_firmware is None:
        firmware: int | None = None
    elif raw_firmware == "all":
        firmware = nodes
    elif isinstance(raw_firmware, str):
        raise ScenarioError('perimeter.firmware_nodes: expected a count or "all", got %r' % raw_firmware)
    else:
        firmware = raw_firmware
        if not 0 <= firmware <= nodes:
            raise ScenarioError("perimeter.firmware_nodes: %d is outside 0..%d (the node count)" % (firmware, nodes))
    sf = _get(pe, "perimeter", "sf", (int,), 7)
    if not 7 <= sf <= 12:
        raise ScenarioError("perimeter.sf: %d is not a LoRa spreading factor (7..12)" % sf)
    heartbeat = _get(pe, "perimeter", "heartbeat_s", (int,), 60)
    if not 10 <= heartbeat <= 3600:
        raise ScenarioError("perimeter.heartbeat_s: %d is outside 10..3600" % heartbeat)
    uplinks = _get(pe, "perimeter", "uplinks", (str,), "enveloped")
    if uplinks not in UPLINKS:
        raise ScenarioError("perimeter.uplinks: %r is not one of %s" % (uplinks, ", ".join(UPLINKS)))
    rotate_key = _get(pe, "perimeter", "rotate_key", (bool,), False)
    ground_firmware = _get(pe, "perimeter", "ground_firmware", (str,), "near")
    if ground_firmware not in ("near", "all"):
        raise ScenarioError('perimeter.ground_firmware: %r is not "near" or "all"' % ground_firmware)
    events = []
    raw_events = data.get("event", [])
    if not isinstance(raw_events, list):
        raise ScenarioError("event: expected [[event]] blocks")
    for i, e in enumerate(raw_events):
        path = "event[%d]" % i
        kind = _get(e, path, "kind", (str,))
        if kind not in KINDS:
            raise ScenarioError("%s.kind: %r is not one of %s" % (path, kind, ", ".join(KINDS)))
        t = float(_get(e, path, "t", (int, float)))
        if not 0 <= t < duration:
            raise ScenarioError("%s.t: %s is outside the scenario (0..%s s)" % (path, t, duration))
        mass = float(_get(e, path, "mass_kg", (int, float), 1.0))
        if not 0.05 <= mass <= 20:
            raise ScenarioError("%s.mass_kg: %s is not a package one can throw (0.05..20 kg)" % (path, mass))
        offset = float(_get(e, path, "offset_m", (int, float), 5.0))
        if not 0 <= offset <= 100:
            raise ScenarioError("%s.offset_m: %s is not 0..100 m inside the fence" % (path, offset))
        event = Event(t=t, kind=kind, duration_s=float(_get(e, path, "duration_s", (int, float), 0.0)))
        if kind in ("silence", "selective_jam"):
            node = _get(e, path, "node", (int,))
            if not 1 <= node <= nodes:
                raise ScenarioError("%s.node: %d is not a node (1..%d)" % (path, node, nodes))
            event = Event(t=t, kind=kind, node=node, duration_s=event.duration_s or duration - t)
            if kind == "selective_jam" and link != "lora":
                raise ScenarioError('%s.kind: a selective jammer needs a radio link (perimeter.link = "lora")' % path)
        elif kind == "jam":
            if event.duration_s <= 0:
                raise ScenarioError("%s.duration_s: a jam needs a positive duration" % path)
        elif kind == "drone":
            raw = e.get("path")
            if (
                not isinstance(raw, list)
                or len(raw) < 2
                or not all(isinstance(p, list) and len(p) == 2 and all(type(v) in (int, float) for v in p) for p in raw)
            ):
                raise ScenarioError("%s.path: expected [[t, position_m], ...] with at least two points" % path)
            points = tuple((float(a), float(b)) for a, b in raw)
            drop = e.get("drop_t")
            if drop is not None and (type(drop) not in (int, float) or not points[0][0] <= drop <= points[-1][0]):
                raise ScenarioError("%s.drop_t: must be a time within the path" % path)
            event = Event(
                t=t, kind=kind, path=points, drop_t=None if drop is None else float(drop), mass_kg=mass, offset_m=offset
            )
        else:
            position = float(_get(e, path, "position_m", (int, float)))
            if not 0 <= position <= length:
                raise ScenarioError("%s.position_m: %s is off the fence (0..%s m)" % (path, position, length))
            event = Event(t=t, kind=kind, position_m=position, mass_kg=mass, offset_m=offset)
        events.append(event)
    scenario = Scenario(
        backgrounds=_backgrounds(data.get("background", []), source),
        name=_get(sc, "scenario", "name", (str,)),
        duration_s=duration,
        seed=int(_get(sc, "scenario", "seed", (int,), 1)),
        length_m=length,
        node_spacing_m=spacing,
        link=link,
        firmware_nodes=firmware,
        wind_mps=_breakpoints(we, "wind_mps", duration),
        rain_mmph=_breakpoints(we, "rain_mmph", duration),
        events=tuple(sorted(events, key=lambda ev: ev.t)),
        source=source,
        sf=sf,
        heartbeat_s=heartbeat,
        uplinks=uplinks,
        rotate_key=rotate_key,
        ground_nodes=ground,
        ground_firmware=ground_firmware,
        polyline=polyline,
        timezone=timezone,
        plan=plan,
    )
    return replace(scenario, firmware_ids=choose_firmware(scenario))


def _polyline(pe: dict[str, Any]) -> tuple[tuple[float, float], ...]:
    raw = pe.get("polyline")
    if raw is None:
        return ()
    if (
        not isinstance(raw, list)
        or len(raw) < 2
        or not all(isinstance(p, list) and len(p) == 2 and all(type(v) in (int, float) for v in p) for p in raw)
    ):
        raise ScenarioError("perimeter.polyline: expected [[x, y], ...] in metres, at least two points")
    return tuple((float(x), float(y)) for x, y in raw)


def _length(polyline: tuple[tuple[float, float], ...]) -> float:
    return sum(math.dist(a, b) for a, b in zip(polyline, polyline[1:], strict=False))


def _ground_nodes(raw: Any, length: float) -> tuple[GroundNode, ...]:
    if not isinstance(raw, list):
        raise ScenarioError("node: expected [[node]] blocks")
    out: list[GroundNode] = []
    for i, n in enumerate(raw):
        path = "node[%d]" % i
        unknown = set(n) - {"role", "spacing_m", "chainage_m", "inside_m", "stagger_m"}
        if unknown:
            raise ScenarioError("%s: unknown key %s" % (path, ", ".join(sorted(unknown))))
        role = _get(n, path, "role", (str,))
        if role not in ROLES:
            raise ScenarioError(
                "%s.role: %r is not one of %s (fence nodes come from [perimeter])" % (path, role, ", ".join(ROLES))
            )
        inside = float(_get(n, path, "inside_m", (int, float), 14.0))
        stagger = float(_get(n, path, "stagger_m", (int, float), 0.0))
        if not (1.0 <= inside - stagger / 2 and inside + stagger / 2 <= 200.0):
            raise ScenarioError("%s.inside_m: a ground node stands 1..200 m inside the fence (stagger included)" % path)
        if ("spacing_m" in n) == ("chainage_m" in n):
            raise ScenarioError("%s: give spacing_m (a row along the fence) or chainage_m (one node)" % path)
        if "chainage_m" in n:
            chainage = float(_get(n, path, "chainage_m", (int, float)))
            if not 0 <= chainage <= length:
                raise ScenarioError("%s.chainage_m: %s is off the fence (0..%s m)" % (path, chainage, length))
            out.append(GroundNode(chainage, inside))
            continue
        spacing = float(_get(n, path, "spacing_m", (int, float)))
        if not 5.0 <= spacing <= length:
            raise ScenarioError("%s.spacing_m: %s is not 5 m..the fence's length" % (path, spacing))
        low = inside - stagger / 2
        out += [GroundNode(spacing * (k + 0.5), low + stagger * (k % 2)) for k in range(max(1, int(length // spacing)))]
    return tuple(out)


def choose_firmware(scenario: Scenario) -> tuple[int, ...]:
    """The nodes that run the firmware: by default every node that can sense an event; with
    a count, the nearest to the events first. Every attack must be sensed by one of them."""
    positions = scenario.node_positions
    wanted: list[int] = [
        e.node for e in scenario.events if e.kind in ("silence", "selective_jam") and e.node is not None
    ]
    attacks = [e for e in scenario.events if e.kind in hearing.ATTACKS]
    ground = [scenario.place(n) for n in range(len(positions) + 1, scenario.node_count + 1)]
    felt = [len(positions) + k for e in scenario.events for k in hearing.feeling(e, ground)]
    if scenario.ground_firmware == "all":  # a storm's nuisance: every ground node on the firmware
        felt = list(range(len(positions) + 1, scenario.node_count + 1))
    if scenario.firmware_nodes is None:
        for e in attacks:
            wanted += hearing.hearing(e, positions)
        return tuple(sorted(set(wanted + felt)))
    if scenario.firmware_nodes >= scenario.node_count:
        return tuple(range(1, scenario.node_count + 1))
    places = [p for e in scenario.events for p in hearing.places(e)]
    for rank in (0, 1):  # the nearest node to every event first, then the second nearest
        for place in places:
            nearest = sorted(range(len(positions)), key=lambda i: abs(positions[i] - place))
            if rank < len(nearest) and nearest[rank] + 1 not in wanted:
                wanted.append(nearest[rank] + 1)
    step = max(1, len(positions) // max(1, scenario.firmware_nodes))
    for i in range(0, len(positions), step):  # the rest spread along the fence
        if i + 1 not in wanted:
            wanted.append(i + 1)
    chosen = sorted(set(wanted[: scenario.firmware_nodes] + felt))  # ground nodes that feel something: always
    for e in attacks:
        heard = hearing.hearing(e, positions) + [len(positions) + k for k in hearing.feeling(e, ground)]
        if not set(heard) & set(chosen):
            index = scenario.events.index(e)
            far = ""
            if chosen:
                closest = min(chosen, key=lambda n: _distance(positions[n - 1], e))
                far = "; the nearest firmware node, %d, stands at %.0f m" % (closest, positions[closest - 1])
            raise ScenarioError(
                "%s: no firmware node can sense it (reach %.0f m%s). Raise perimeter.firmware_nodes, or leave"
                " it out to run every node within reach." % (hearing.describe(e, index), hearing.reach_m(e), far)
            )
    return tuple(chosen)


def _backgrounds(raw: Any, source: str) -> tuple[Background, ...]:
    if not isinstance(raw, list):
        raise ScenarioError("background: expected [[background]] blocks")
    base = Path(source).parent
    out = []
    for i, b in enumerate(raw):
        path = "background[%d]" % i
        names = _get(b, path, "files", (list, str))
        names = [names] if isinstance(names, str) else names
        if not names or not all(isinstance(n, str) for n in names):
            raise ScenarioError('%s.files: expected a list of paths, e.g. ["recordings:background"]' % path)
        level = float(_get(b, path, "level_db", (int, float)))
        if not 0 <= level <= 120:
            raise ScenarioError("%s.level_db: %s is outside 0..120 dB SPL" % (path, level))
        files: list[Path] = []
        for name in names:
            where = _recordings() / name[len("recordings:") :] if name.startswith("recordings:") else base / name
            if where.is_dir():
                found = sorted(where.rglob("*.wav"))
            else:
                found = [where] if where.is_file() else []
            if not found:
                raise ScenarioError("%s.files: no WAV recordings at %s" % (path, where))
            files += found
        out.append(Background(tuple(files), level))
    return tuple(out)


def _recordings() -> Path:
    # Imported here: the gateway's command line loads scenarios without numpy (the [sim]
    # extra), and real_audio needs it.
    from simulators.real_audio import folder

    return folder()


def load(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ScenarioError("cannot read scenario %s: %s" % (p, exc.strerror)) from None
    return parse(text, str(p))


def _distance(position: float, event: Event) -> float:
    return min((abs(position - p) for p in hearing.places(event)), default=0.0)
