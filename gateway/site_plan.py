"""The site plan: what the operators' console draws around the fence line, from the config.

The perimeter's polyline gives chainage; the plan adds what an operator finds their way by
(the inner fence, the wall, gates, roads, buildings) and the cameras, each with the preset
that looks at its zones, so that an alarm's evidence names the camera to call up. All in the
perimeter's coordinates (metres, or lon/lat when the perimeter is geographic).
"""

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class PlanLine:
    name: str
    kind: str  # fence, wall, gate, road, building
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Camera:
    name: str
    x: float
    y: float
    preset: str = ""
    zones: tuple[str, ...] = ()


@dataclass(frozen=True)
class SitePlan:
    lines: tuple[PlanLine, ...] = ()
    cameras: tuple[Camera, ...] = ()
    image: str | None = None  # a file the dashboard serves beneath the plan
    image_bounds: tuple[tuple[float, float], tuple[float, float]] | None = None
    cameras_by_zone: dict[str, list[Camera]] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for camera in self.cameras:
            for zone in camera.zones:
                self.cameras_by_zone.setdefault(zone, []).append(camera)

    def cameras_for(self, zone: str | None) -> list[Camera]:
        return list(self.cameras_by_zone.get(zone or "", []))


def time_zone(name: str) -> ZoneInfo:
    """The site's time zone; ValueError naming the problem for a name the system lacks."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone %r (an IANA name such as Europe/London, or UTC)" % name) from None


def site_time(text: str, zone: str) -> float:
    """A time as people give it at the site (`2026-11-25T20:00`): the site's local time unless
    it says its own offset (`Z`, `+01:00`). ValueError naming the text otherwise."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("%r is not a time (e.g. 2026-11-25T20:00)" % text) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=time_zone(zone))
    return when.timestamp()
