"""What only the dashboard needs to remember: each zone's state as last shown, where each
drone track has been, which tracks are on the map. The daemon tells it what it journals;
it stages what the open pages must hear on the live feed, which sends it after the commit."""

from collections.abc import Sequence

from gateway.alarming.alarms import DRONE, Change
from gateway.alarming.fusion import DroneTrack
from gateway.dashboard.live import LiveFeed
from gateway.dashboard.site import Site
from gateway.dashboard.views import alarm_view, log_entry, node_view, tracks_view
from gateway.evidence.hashchain import Entry

TRAIL_POINTS = 600  # a track's trail on the map: its newest positions (ten minutes at one a second)


class DashboardState:
    def __init__(self, site: Site, feed: LiveFeed | None = None) -> None:
        self.site = site
        self.feed = feed or LiveFeed()
        self.zone_state: dict[str, str] = {}
        # drone track -> where it was heard and when (chainage, time), for the map's time marks
        self.track_trails: dict[int, list[tuple[float, float]]] = {}
        self._tracks_shown: tuple[tuple[int, float | None], ...] = ()

    def alarm_changed(self, change: Change) -> None:
        alarm = change.alarm
        if alarm.category == DRONE and alarm.location_m is not None:
            trail = self.track_trails.setdefault(int(alarm.detail.get("track", 0)), [])
            if not trail or trail[-1][0] != alarm.location_m:
                trail.append((alarm.location_m, alarm.updated_at))
                del trail[:-TRAIL_POINTS]
        if self.feed.subscribers:
            self.feed.stage("alarm", dict(alarm_view(self.site, alarm), action=change.action))
            if alarm.category == DRONE:  # the plan moves the drone now, not at the next supervision round
                self.tracks(self.site.drone_tracks())

    def zone(self, zone: str, state: str) -> None:
        if self.zone_state.get(zone) != state:
            self.zone_state[zone] = state
            self.feed.stage("zone", {"zone": zone, "state": state})

    def desk_changed(self) -> None:
        """Requests waiting for approval, and masks, as the pages show them."""
        if self.feed.subscribers:
            site = self.site
            self.feed.stage("desk", {"pending": site.pending(), "masks": site.masks(), "walk_tests": site.walk_tests()})

    def node(self, node_id: int) -> None:
        if self.feed.subscribers:  # a view built only for an open page
            self.feed.stage("node", node_view(self.site, node_id))

    def journalled(self, entry: Entry) -> None:
        self.feed.stage("log", log_entry(entry))

    def tracks(self, tracks: Sequence[DroneTrack]) -> None:
        """Tell the pages where drones are, when that changed (tracks end without an alarm change)."""
        shown = tuple((t.track_id, t.position_m) for t in tracks if t.ended_at is None)
        if shown == self._tracks_shown:
            return
        self._tracks_shown = shown
        live = {t for t, _ in shown}
        for track_id in [t for t in self.track_trails if t not in live]:
            del self.track_trails[track_id]
        self.feed.stage("tracks", {"tracks": tracks_view(self.site, self.track_trails)})
