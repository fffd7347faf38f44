"""The perimeter as the security office knows it: a fence line with chainage, zones along
it, and where each node sits.

Chainage is distance in metres along the fence polyline from its first point, as fence
vendors and site drawings measure it. A zone is a chainage range with a name and a priority
(1 = highest). A node sits at a chainage on one side of the line: on the outer fence, on the
inner wall, or inside (ground or netting sensors, where packages land).
"""

import math
from dataclasses import dataclass, field

OUTER_FENCE = "outer_fence"
INNER_WALL = "inner_wall"
INSIDE = "inside"
SIDES = (OUTER_FENCE, INNER_WALL, INSIDE)


@dataclass(frozen=True)
class Zone:
    name: str
    start_m: float
    end_m: float
    priority: int = 3

    def contains(self, chainage_m: float) -> bool:
        return self.start_m <= chainage_m < self.end_m


@dataclass(frozen=True)
class PlacedNode:
    node_id: int
    chainage_m: float
    side: str = OUTER_FENCE
    inside_m: float = 0.0  # how far inside the fence line it stands (a ground node)


@dataclass
class Perimeter:
    """The fence line (x, y metres, or lon/lat degrees when `geographic`), zones and nodes."""

    polyline: list[tuple[float, float]]
    zones: list[Zone] = field(default_factory=list)
    nodes: dict[int, PlacedNode] = field(default_factory=dict)
    geographic: bool = False
    inside: str = "auto"  # the prison's side: auto (a closed line's interior, else left), left, right

    def __post_init__(self) -> None:
        self._cumulative = [0.0]
        for (x0, y0), (x1, y1) in zip(self.polyline, self.polyline[1:], strict=False):
            self._cumulative.append(self._cumulative[-1] + self._distance(x0, y0, x1, y1))

    def _distance(self, x0: float, y0: float, x1: float, y1: float) -> float:
        if not self.geographic:
            return math.hypot(x1 - x0, y1 - y0)
        # Equirectangular: exact enough over a prison's few kilometres.
        mean_lat = math.radians((y0 + y1) / 2)
        dx = math.radians(x1 - x0) * math.cos(mean_lat) * 6371000
        dy = math.radians(y1 - y0) * 6371000
        return math.hypot(dx, dy)

    @property
    def closed(self) -> bool:
        """The line comes back to where it started (within a metre): a whole perimeter."""
        return len(self.polyline) > 2 and self._distance(*self.polyline[0], *self.polyline[-1]) < 1.0

    def inward(self) -> int:
        """+1 if the prison is on the left of the line's direction of travel, -1 if on its right."""
        if self.inside == "left":
            return 1
        if self.inside == "right":
            return -1
        if not self.closed:
            return 1
        # A closed line's interior is on its left when it runs anticlockwise (positive area).
        area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(self.polyline, self.polyline[1:], strict=False))
        return 1 if area >= 0 else -1

    @property
    def corner_chainages(self) -> list[float]:
        """The chainage of each polyline point, in order."""
        return list(self._cumulative)

    @property
    def length_m(self) -> float:
        return self._cumulative[-1]

    def point_at(self, chainage_m: float) -> tuple[float, float]:
        """The polyline point at a chainage (clamped to the line)."""
        if len(self.polyline) == 1:
            return self.polyline[0]
        c = min(max(chainage_m, 0.0), self.length_m)
        for i in range(1, len(self._cumulative)):
            if c <= self._cumulative[i] or i == len(self._cumulative) - 1:
                span = self._cumulative[i] - self._cumulative[i - 1]
                t = (c - self._cumulative[i - 1]) / span if span else 0.0
                (x0, y0), (x1, y1) = self.polyline[i - 1], self.polyline[i]
                return (x0 + t * (x1 - x0), y0 + t * (y1 - y0))
        return self.polyline[-1]

    def zone_at(self, chainage_m: float) -> Zone | None:
        for zone in self.zones:
            if zone.contains(chainage_m):
                return zone
        return None

    def zone_of_node(self, node_id: int) -> Zone | None:
        node = self.nodes.get(node_id)
        return self.zone_at(node.chainage_m) if node else None

    def chainage(self, node_id: int) -> float | None:
        node = self.nodes.get(node_id)
        return node.chainage_m if node else None

    def inside_m(self, node_id: int) -> float:
        node = self.nodes.get(node_id)
        return node.inside_m if node else 0.0

    def side(self, node_id: int) -> str | None:
        node = self.nodes.get(node_id)
        return node.side if node else None
