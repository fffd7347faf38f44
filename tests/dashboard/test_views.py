"""What the dashboard draws, specified against a site made here: the views and the dashboard's
own live state read the site only through its read-only `Site` interface, so no gateway,
broker or browser is needed to say what a page shows."""

import asyncio
from dataclasses import dataclass, field
from typing import Any

from gateway.alarming.alarms import DRONE, INTRUSION, Alarm, AlarmBook, Change
from gateway.alarming.fusion import DroneTrack
from gateway.alarming.perimeter import Perimeter, PlacedNode, Zone
from gateway.dashboard.site import Site
from gateway.dashboard.state import DashboardState
from gateway.dashboard.views import alarm_view, log_entry, node_view, perimeter_view, snapshot, tracks_view
from gateway.evidence.hashchain import Entry
from gateway.ingest.registry import NodeState

NOW = 1_800_000_000.0


@dataclass
class PlainSite:
    """A site held in plain fields: what the daemon would answer, chosen by the spec."""

    perimeter: Perimeter
    nodes: dict[int, NodeState]
    alarms: list[Alarm] = field(default_factory=list)
    tracks: list[DroneTrack] = field(default_factory=list)
    site_name: str = "hmp-north"
    gateway_id: str = "office"
    requests: list[tuple[str, bytes]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)

    def open_alarms(self) -> list[Alarm]:
        return self.alarms

    def drone_tracks(self) -> list[DroneTrack]:
        return self.tracks

    def transport_states(self) -> dict[str, str]:
        return {"fence": "up"}

    def now(self) -> float:
        return NOW

    def recent(self, kinds: list[str], node_id: int | None, before: int | None, limit: int) -> list[Entry]:
        return []

    def request(self, account: str, command: str, payload: bytes) -> dict[str, Any] | None:
        self.requests.append((command, payload))
        return {"data": None, "status": "ok", "error": None, "transaction": None}

    def pending(self) -> list[dict[str, Any]]:
        return []

    def last_error(self) -> str:
        return ""

    def masks(self) -> dict[str, dict[str, Any]]:
        return {}

    def walk_tests(self) -> dict[int, float]:
        return {}

    def record(self, data: dict[str, Any]) -> bool:
        self.records.append(data)
        return True


def a_site() -> PlainSite:
    line = Perimeter(
        [(0.0, 0.0), (100.0, 0.0), (100.0, 50.0)],
        [Zone("north", 0.0, 100.0, 2), Zone("east", 100.0, 150.0)],
        {7: PlacedNode(7, 30.0), 8: PlacedNode(8, 120.0, "inner_wall")},
    )
    node = NodeState(7, "north-07", 30, last_seen=NOW - 5, battery_mv=3600)
    node.via = {"fence": {"transport": "fence", "rssi_dbm": -80}, "lora": {"transport": "lora", "rssi_dbm": -70}}
    return PlainSite(line, {7: node, 8: NodeState(8, "east-08", 30)})


def alarm(alarm_id: str, severity: int, raised_at: float, location_m: float | None = 120.0) -> Alarm:
    return Alarm(alarm_id, INTRUSION, "east", location_m, severity, raised_at, raised_at)


def test_the_perimeter_is_drawn_to_scale_with_its_zones_around_corners() -> None:
    view = perimeter_view(a_site())
    assert view["length_m"] == 150.0 and view["line"] == [[0.0, 0.0], [100.0, 0.0], [100.0, 50.0]]
    east = view["zones"][1]
    assert east["name"] == "east" and east["path"] == [[100.0, 0.0], [100.0, 50.0]]
    assert view["zones"][0]["priority"] == 2


def test_a_node_is_placed_on_the_line_and_shown_by_its_best_reception() -> None:
    site = a_site()
    view = node_view(site, 7)
    assert view["xy"] == [30.0, 0.0] and view["zone"] == "north" and view["battery_mv"] == 3600
    assert (view["transport"], view["rssi_dbm"]) == ("lora", -70)
    assert node_view(site, 8)["xy"] == [100.0, 20.0] and node_view(site, 8)["side"] == "inner_wall"


def test_alarms_come_most_severe_first_then_oldest_first_and_are_placed() -> None:
    site = a_site()
    site.alarms = [alarm("late-2", 2, NOW - 10), alarm("old-3", 3, NOW - 500), alarm("old-2", 2, NOW - 300)]
    shown = snapshot(site, {"north": "clear", "east": "alarm"}, {})
    assert [a["alarm_id"] for a in shown["alarms"]] == ["old-2", "late-2", "old-3"]
    assert shown["alarms"][0]["xy"] == [100.0, 20.0]
    assert (shown["site"], shown["gateway"], shown["server_time"]) == ("hmp-north", "office", NOW)
    assert shown["zones"] == {"north": "clear", "east": "alarm"} and shown["transports"] == {"fence": "up"}
    assert "xy" not in alarm_view(site, alarm("nowhere", 1, NOW, location_m=None))


def test_a_drone_track_in_the_air_is_shown_with_its_trail_and_its_alarm() -> None:
    site = a_site()
    site.tracks = [
        DroneTrack(4, NOW - 30, NOW, {7: 12.0}, position_m=40.0),
        DroneTrack(5, NOW - 90, NOW - 60, position_m=10.0, ended_at=NOW - 60),  # landed or gone: not drawn
    ]
    site.alarms = [Alarm("d-4", DRONE, "north", 40.0, 2, NOW - 30, NOW, detail={"track": 4})]
    (track,) = tracks_view(site, {4: [20.0, 40.0]})
    assert track == {
        "track": 4,
        "alarm_id": "d-4",
        "position_m": 40.0,
        "xy": [40.0, 0.0],
        "trail": [[20.0, 0.0], [40.0, 0.0]],
        "nodes": [7],
    }


def test_each_journal_row_reads_as_one_line() -> None:
    row = Entry(
        9,
        "2027-01-15T03:12:00.000Z",
        "operator",
        None,
        None,
        {"operator": "j.smith", "command": "mask", "status": "error", "error": "no zone 'x'"},
        "h",
    )
    assert log_entry(row)["text"] == "j.smith mask error: no zone 'x'"
    event = Entry(10, "t", "event", 7, "e", {"type": "fence", "labels": {"class": "climb"}, "test": True}, "h")
    assert log_entry(event)["text"] == "fence class=climb (walk test)"


def test_the_live_state_stages_only_what_changed_for_open_pages() -> None:
    async def scenario() -> None:
        site = a_site()
        live = DashboardState(site)
        page = live.feed.subscribe()
        live.zone("north", "alarm")
        live.zone("north", "alarm")  # unchanged: not told twice
        book = AlarmBook("t")
        change = book.trigger(DRONE, "north", 35.0, ["e1"], NOW, key="track-4", detail={"track": 4})
        assert isinstance(change, Change)
        live.alarm_changed(change)
        live.feed.flush()
        told = [page.queue.get_nowait() for _ in range(page.queue.qsize())]
        assert [kind for kind, _ in told] == ["zone", "alarm"]
        assert told[1][1]["action"] == "raised" and told[1][1]["xy"] == [35.0, 0.0]
        assert live.track_trails == {4: [35.0]}
        live.zone("east", "masked")
        live.feed.discard()  # a rollback: the page is never told
        live.feed.flush()
        assert page.queue.empty()

    asyncio.run(scenario())


def test_the_plain_site_is_a_site() -> None:
    site: Site = a_site()  # mypy checks the interface; the spec checks it is all a view needs
    assert snapshot(site, {}, {})["nodes"][0]["name"] == "north-07"
