"""Where things are on the site, in metres: the perimeter's chainage turned into plan
coordinates (a geographic polyline projected around its first point), a landing's distance
inside the line, and the plan's metres turned back into longitude and latitude for whoever
puts several sites on one map (the region).

The dashboard draws with these and the incident stream reports with them, so a point on an
operator's plan and in the region's store is the same point."""

import math
from collections.abc import Iterable
from typing import Any

from gateway.alarming.perimeter import Perimeter

EARTH_M_PER_DEG_LAT = 110_540.0
EARTH_M_PER_DEG_LON = 111_320.0


def metres(perimeter: Perimeter, point: tuple[float, float]) -> tuple[float, float]:
    if not perimeter.geographic:
        return point
    lon0, lat0 = perimeter.polyline[0]
    lon, lat = point
    return (
        (lon - lon0) * EARTH_M_PER_DEG_LON * math.cos(math.radians(lat0)),
        (lat - lat0) * EARTH_M_PER_DEG_LAT,
    )


def at(perimeter: Perimeter, chainage_m: float) -> list[float]:
    x, y = metres(perimeter, perimeter.point_at(chainage_m))
    return [round(x, 2), round(y, 2)]


def inside(perimeter: Perimeter, chainage_m: float, inside_m: float) -> list[float]:
    """The point `inside_m` metres into the prison from the line at a chainage: along the
    normal of the line there, towards the side the perimeter says the prison is on."""
    if not inside_m:
        return at(perimeter, chainage_m)
    x0, y0 = metres(perimeter, perimeter.point_at(chainage_m - 0.5))
    x1, y1 = metres(perimeter, perimeter.point_at(chainage_m + 0.5))
    x, y = metres(perimeter, perimeter.point_at(chainage_m))
    run = math.hypot(x1 - x0, y1 - y0) or 1.0
    left = perimeter.inward() * inside_m / run  # the left normal of (dx, dy) is (-dy, dx)
    return [round(x - (y1 - y0) * left, 2), round(y + (x1 - x0) * left, 2)]


def points(perimeter: Perimeter, pts: Iterable[tuple[float, float]]) -> list[list[float]]:
    return [[round(x, 2), round(y, 2)] for x, y in (metres(perimeter, p) for p in pts)]


def located(perimeter: Perimeter, location_m: float | None, detail: dict[str, Any]) -> list[float] | None:
    """Where an alarm was located, in metres: a landing at its distance inside the line."""
    if location_m is None:
        return None
    into = detail.get("inside_m")
    return inside(perimeter, location_m, float(into) if isinstance(into, int | float) else 0.0)


def lonlat(perimeter: Perimeter, xy: list[float], origin: tuple[float, float] | None) -> list[float] | None:
    """A plan point (metres) as [lon, lat]: around a geographic polyline's first point, or
    around `origin` (where the plan's (0, 0) lies) for a plan drawn in metres; None when the
    site has said neither. Equirectangular, exact enough over a prison's few kilometres."""
    if perimeter.geographic:
        lon0, lat0 = perimeter.polyline[0]
    elif origin is not None:
        lon0, lat0 = origin
    else:
        return None
    x, y = xy
    lat = lat0 + y / EARTH_M_PER_DEG_LAT
    lon = lon0 + x / (EARTH_M_PER_DEG_LON * math.cos(math.radians(lat0)))
    return [round(lon, 7), round(lat, 7)]
