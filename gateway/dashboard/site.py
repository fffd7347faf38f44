"""What the dashboard may see of the site and ask of it: a small read-only interface that the
daemon implements (as transports see only `Receiver`). The dashboard never holds the daemon,
so its views and routes can be specified against a site made in the test."""

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from gateway.alarming.alarms import Alarm
from gateway.alarming.fusion import DroneTrack
from gateway.alarming.perimeter import Perimeter
from gateway.evidence.hashchain import Entry
from gateway.ingest.registry import NodeState
from gateway.site_plan import SitePlan


class Site(Protocol):
    @property
    def site_name(self) -> str: ...

    @property
    def gateway_id(self) -> str: ...

    @property
    def perimeter(self) -> Perimeter: ...

    @property
    def nodes(self) -> Mapping[int, NodeState]: ...

    @property
    def plan(self) -> SitePlan: ...

    @property
    def timezone(self) -> str:
        """The site's time zone (an IANA name): the page shows local time, UTC on hover."""
        ...

    def alarm_rows(self, alarm_id: str) -> list[Entry]:
        """The journal rows about one alarm, oldest first: its changes and the requests naming it."""
        ...

    def events(self, event_ids: Sequence[str]) -> list[Entry]:
        """The journalled events with these ids, oldest first."""
        ...

    def shift(self, start: float, end: float) -> dict[str, Any]:
        """The handover for a shift (`gateway/evidence/shift_report.py`), from the journal."""
        ...

    def nuisance_per_zone(self) -> dict[str, int]:
        """Nuisance alarms cleared per zone in the last 30 days (by their reason codes)."""
        ...

    def open_alarms(self) -> Sequence[Alarm]: ...

    def drone_tracks(self) -> Sequence[DroneTrack]: ...

    def transport_states(self) -> dict[str, str]: ...

    def now(self) -> float: ...

    def recent(self, kinds: list[str], node_id: int | None, before: int | None, limit: int) -> list[Entry]:
        """The newest journal rows of these kinds (before a row number), newest first."""
        ...

    def request(self, account: str, command: str, payload: bytes) -> dict[str, Any] | None:
        """The logged-in account's request, decided by the desk (its role and the four-eyes
        rule), carried out and journalled; its response, None if it could not be journalled
        (nothing was changed)."""
        ...

    def last_error(self) -> str:
        """Why the last change could not be journalled (a full disk, a locked file)."""
        ...

    def pending(self) -> list[dict[str, Any]]:
        """The requests waiting for a second account's approval."""
        ...

    def walk_tests(self) -> dict[int, float]:
        """Node -> until when its detections are tests (walk tests under way)."""
        ...

    def masks(self) -> dict[str, dict[str, Any]]:
        """Each masked zone's mask: who asked, who approved, why, until when."""
        ...

    def record(self, data: dict[str, Any]) -> bool:
        """Journal a dashboard happening (a login, a refused action); False if it could not be."""
        ...
