"""Recent fence detections, per placed node and in arrival order, for the rules that look
back on them: fence activity before a throw-over, and a neighbour's faint climb.

The work per detection does not grow with how much happened lately: each node's queue and
the expiry queue are in arrival order and expire from the front.
"""

from bisect import bisect_left, bisect_right
from collections import deque
from dataclasses import dataclass

from gateway.alarming.perimeter import Perimeter


@dataclass(frozen=True)
class Heard:
    """One fence detection as the look-back rules need it."""

    at: float
    arrival: int
    event_id: str
    node_id: int
    kind: str  # climb | cut | rattle | faint | unknown
    level: float  # the node's reported peak


class FenceHistory:
    def __init__(self, perimeter: Perimeter) -> None:
        self.perimeter = perimeter
        placed = sorted((c, n) for n in perimeter.nodes if (c := perimeter.chainage(n)) is not None)
        self._chainages = [c for c, _ in placed]
        self._nodes = [n for _, n in placed]
        self._index = {n: i for i, n in enumerate(self._nodes)}
        self._by_node: dict[int, deque[Heard]] = {}
        self._expiry: deque[tuple[float, int]] = deque()  # (at, node)

    def add(self, heard: Heard) -> None:
        """Keep a detection (of a placed node: only those can be near anything)."""
        if heard.node_id in self._index:
            self._by_node.setdefault(heard.node_id, deque()).append(heard)
            self._expiry.append((heard.at, heard.node_id))

    def expire(self, horizon: float) -> None:
        """Forget what was heard before `horizon`."""
        expiry = self._expiry
        while expiry and expiry[0][0] < horizon:
            _at, node = expiry.popleft()
            recent = self._by_node[node]
            recent.popleft()  # each node's queue is in the same arrival order
            if not recent:
                del self._by_node[node]

    def near(self, where: float, radius_m: float, at: float, window_s: float) -> list[Heard]:
        """What nodes within `radius_m` of a place heard in the `window_s` before `at`, in
        the order it arrived."""
        low = bisect_left(self._chainages, where - radius_m)
        high = bisect_right(self._chainages, where + radius_m)
        found = []
        for node in self._nodes[low:high]:
            for heard in reversed(self._by_node.get(node, ())):
                if at - heard.at > window_s:
                    break
                if heard.at <= at:
                    found.append(heard)
        found.sort(key=lambda h: h.arrival)
        return found

    def neighbours(self, node_id: int) -> list[int]:
        """The nearest placed node on each side of this one along the line, on the same side
        of the fence (an inner fence's node is not an outer fence's neighbour)."""
        i = self._index.get(node_id)
        if i is None:
            return []
        side = self.perimeter.side(node_id)
        found = []
        for step in (-1, 1):
            j = i + step
            while 0 <= j < len(self._nodes) and self.perimeter.side(self._nodes[j]) != side:
                j += step
            if 0 <= j < len(self._nodes):
                found.append(self._nodes[j])
        return found
