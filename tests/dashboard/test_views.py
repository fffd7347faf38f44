"""What the dashboard draws, specified against a site made here: the views and the dashboard's
own live state read the site only through its read-only `Site` interface, so no gateway,
broker or browser is needed to say what a page shows."""

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.alarming.alarms import DRONE, INTRUSION, Alarm, AlarmBook, Change
from gateway.alarming.fusion import DroneTrack
from gateway.alarming.perimeter import Perimeter, PlacedNode, Zone
from gateway.dashboard.alarm_detail import alarm_detail
from gateway.dashboard.site import Site
from gateway.dashboard.state import DashboardState
from gateway.dashboard.views import alarm_view, log_entry, node_view, perimeter_view, snapshot, tracks_view
from gateway.evidence.hashchain import Entry
from gateway.ingest.registry import NodeState
from gateway.site_plan import Camera, PlanLine, SitePlan

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
    plan: SitePlan = SitePlan()
    timezone: str = "Europe/London"
    journal: list[Entry] = field(default_factory=list)

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

    def alarm_rows(self, alarm_id: str) -> list[Entry]:
        return [
            e
            for e in self.journal
            if (e.kind == "alarm" and e.data["alarm"]["alarm_id"] == alarm_id)
            or (e.kind == "operator" and alarm_id in e.data.get("request", ""))
        ]

    def events(self, event_ids: Sequence[str]) -> list[Entry]:
        return [e for e in self.journal if e.event_id in event_ids]

    def nuisance_per_zone(self) -> dict[str, int]:
        return {}


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
    (track,) = tracks_view(site, {4: [(20.0, NOW - 30), (40.0, NOW)]})
    assert track == {
        "track": 4,
        "alarm_id": "d-4",
        "position_m": 40.0,
        "xy": [40.0, 0.0],
        "trail": [[20.0, 0.0], [40.0, 0.0]],
        "trail_t": [NOW - 30, NOW],  # the plan marks where it was when
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
        assert live.track_trails == {4: [(35.0, NOW)]}  # where, and when: the plan's time marks
        live.zone("east", "masked")
        live.feed.discard()  # a rollback: the page is never told
        live.feed.flush()
        assert page.queue.empty()

    asyncio.run(scenario())


def test_the_plain_site_is_a_site() -> None:
    site: Site = a_site()  # mypy checks the interface; the spec checks it is all a view needs
    assert snapshot(site, {}, {})["nodes"][0]["name"] == "north-07"


def test_a_landing_is_drawn_inside_the_prison_whichever_way_the_line_runs() -> None:
    # A closed perimeter's interior is the prison: a package that landed 10 m inside is drawn
    # 10 m inside, off the line towards the middle, whether the line was surveyed clockwise
    # or anticlockwise.
    square = [(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0), (0.0, 0.0)]
    landing = Alarm("t-1", "throw_over", "north", 50.0, 2, NOW, NOW, detail={"inside_m": 10.0, "error_m": 4.2})
    anticlockwise = PlainSite(Perimeter(square, [Zone("north", 0.0, 400.0)], {}), {}, [landing])
    assert anticlockwise.perimeter.closed and alarm_view(anticlockwise, landing)["xy"] == [50.0, 10.0]
    clockwise = PlainSite(Perimeter(square[::-1], [Zone("north", 0.0, 400.0)], {}), {}, [landing])
    assert alarm_view(clockwise, landing)["xy"] == [10.0, 50.0]
    # An open line has its prison on the left unless the config says right.
    straight = Perimeter([(0.0, 0.0), (100.0, 0.0)], [], {3: PlacedNode(3, 20.0, "inside", 14.0)}, inside="right")
    ground = PlainSite(straight, {3: NodeState(3, "ground-03", 30)})
    assert node_view(ground, 3)["xy"] == [20.0, -14.0]


def test_the_plan_draws_the_other_fences_buildings_and_cameras_in_metres() -> None:
    site = a_site()
    site.plan = SitePlan(
        (PlanLine("inner fence", "fence", ((5.0, 5.0), (95.0, 5.0))), PlanLine("gym", "building", ((40.0, 20.0),) * 3)),
        (Camera("cam-4", 100.0, -5.0, "north-east corner", ("east",)),),
    )
    plan = snapshot(site, {}, {})["perimeter"]["plan"]
    assert plan["lines"][0] == {"name": "inner fence", "kind": "fence", "points": [[5.0, 5.0], [95.0, 5.0]]}
    assert plan["cameras"] == [{"name": "cam-4", "xy": [100.0, -5.0], "preset": "north-east corner", "zones": ["east"]}]
    shown = snapshot(site, {}, {})
    assert shown["timezone"] == "Europe/London" and shown["reasons"]["nuisance_animal"] == "nuisance: animal"


def test_an_alarms_evidence_lists_every_report_its_trust_its_camera_and_its_history() -> None:
    site = a_site()
    site.plan = SitePlan(cameras=(Camera("cam-2", 90.0, -5.0, "gate 2", ("east",)),))
    raised = Alarm("a-1", INTRUSION, "east", 120.0, 2, NOW, NOW, evidence=["e-1"]).as_json()
    acked = dict(raised, state="acknowledged", acknowledged_by="j.smith", note="camera 2 shows a ladder")
    site.journal = [
        Entry(
            1,
            "2027-01-15T08:00:00.000Z",
            "event",
            7,
            "e-1",
            {"type": "fence", "labels": {"class": "climb"}, "fields": {"peak": 1800}, "transport": "lora"},
            "h1",
        ),
        Entry(
            2,
            "2027-01-15T08:00:04.000Z",
            "event",
            8,
            "e-2",
            {"type": "fence", "labels": {"class": "faint"}, "fields": {"peak": 700}, "transport": "lora"},
            "h2",
        ),
        Entry(
            3,
            "2027-01-15T08:00:00.100Z",
            "alarm",
            None,
            None,
            {"action": "raised", "operator": None, "alarm": raised, "evidence_added": ["e-1"]},
            "h3",
        ),
        Entry(
            4,
            "2027-01-15T08:00:04.100Z",
            "alarm",
            None,
            None,
            {"action": "updated", "operator": None, "alarm": raised, "evidence_added": ["e-2"]},
            "h4",
        ),
        Entry(
            5,
            "2027-01-15T08:01:00.000Z",
            "operator",
            None,
            None,
            {
                "command": "clear",
                "operator": "j.smith",
                "request": '{"alarm_id": "a-1"}',
                "status": "error",
                "error": "clearing needs a reason code",
            },
            "h5",
        ),
        Entry(
            6,
            "2027-01-15T08:01:30.000Z",
            "alarm",
            None,
            None,
            {"action": "acknowledged", "operator": "j.smith", "alarm": acked},
            "h6",
        ),
    ]
    shown = alarm_detail(site, "a-1")
    assert shown is not None
    assert [(r["node_id"], r["type"], r["fields"]) for r in shown["reports"]] == [
        (7, "fence", {"peak": 1800}),
        (8, "fence", {"peak": 700}),
    ]
    assert shown["reports"][0]["node"] == "north-07"
    assert shown["trust"] == {"heard_s": 4.0, "nodes": 2, "node_ids": [7, 8], "reports": 2}
    assert shown["cameras"] == [{"name": "cam-2", "preset": "gate 2"}]
    assert [h["action"] for h in shown["history"]] == ["raised", "updated", "asked to clear: error", "acknowledged"]
    assert shown["history"][-1]["note"] == "camera 2 shows a ladder" and shown["alarm"]["state"] == "acknowledged"
    assert alarm_detail(site, "no-such") is None


def test_a_georeferenced_site_is_drawn_in_metres_around_its_first_point_with_its_image_beneath() -> None:
    # A site surveyed in longitude and latitude: the page's plan is in metres, east and north
    # of the first corner, and an aerial image lies between its two corners.
    lon0, lat0 = -1.5, 52.0
    corner = (lon0 + 0.001, lat0 + 0.001)
    line = Perimeter([(lon0, lat0), (corner[0], lat0), corner], [Zone("north", 0.0, 500.0)], {}, geographic=True)
    site = PlainSite(line, {})
    site.plan = SitePlan(image="/srv/aerial.png", image_bounds=((lon0, lat0), corner))
    view = perimeter_view(site)
    east = 0.001 * 111_320.0 * math.cos(math.radians(lat0))
    assert view["line"][1] == [round(east, 2), 0.0] and view["line"][2][1] == round(0.001 * 110_540.0, 2)
    assert view["plan"]["image"] == {"url": "/api/plan/image", "bounds": [[0.0, 0.0], view["line"][2]]}
