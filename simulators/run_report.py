"""A scenario run's report: the scorer's verdict on the alarms the office saw, and what was
behind it (which nodes ran the firmware, the frames on the link, the firmware host's pace),
with the timeline plot, written to report.json."""

import json
from pathlib import Path
from typing import Any

import numpy as np

from simulators.medium import LoraMedium, Medium
from simulators.scenario import Scenario
from simulators.scorer import ObservedAlarm, score
from simulators.timeline import LEGEND, render

ZONE_M = 100.0


def write_report(
    scenario: Scenario,
    report_dir: Path,
    seen: list[ObservedAlarm],
    firmware: list[int],
    behavioural: list[int],
    medium: Medium,
    gateway_counters: dict[str, dict[str, int]],
    host_report: dict[str, Any] | None,
    node_levels: dict[int, np.ndarray],
    run: dict[str, Any],
) -> dict[str, Any]:
    report = score(scenario, seen, ZONE_M, monitored_zones=zones_watched(scenario, firmware))
    report["nodes"] = {
        "firmware": firmware,
        "behavioural": behavioural,
        "firmware_code": "device/ on MicroPython (unix port)",
        "behavioural_code": "HELLO and heartbeats only (simulators.frame_node)",
    }
    report.update(run)  # the speed asked for and the runner's own figures
    host = host_report or {"events_reported": 0, "held_back": 0}
    report["firmware_events_reported"] = host["events_reported"]
    report["firmware_host_per_node"] = host.get("per_node", {})
    if host_report is not None:
        report["firmware_host"] = {
            "wall_s": host["wall_s"],
            "speed_up": round(scenario.duration_s / max(host["wall_s"], 1e-3), 1),
            "max_lag_s": host["max_lag_s"],
            "processes": host.get("processes", 1),
        }
    report["frames"] = {
        "link": scenario.link,
        "firmware": medium.traffic.summary(firmware, scenario.duration_s),
        "behavioural": medium.traffic.summary(behavioural, scenario.duration_s),
        "downlinks": medium.downlinks,
        "held_back_by_duty_cycle": host.get("held_back", 0),
        "gateway": gateway_counters,
        "uplinks": scenario.uplinks,
        # packet (= LoRa payload) length -> firmware frames of that length; one: constant length
        "uplink_lengths": {str(n): c for n, c in sorted(medium.uplink_lengths.items())},
    }
    if isinstance(medium, LoraMedium):
        stats = medium.channel.stats
        report["frames"]["radio"] = {
            "sf": scenario.sf,
            "below_floor": stats.below_floor,
            "collided": stats.collided,
            "crc_errors_reported": medium.crc_errors,
            "selectively_jammed": medium.selectively_jammed,
        }
    report["timeline_png"] = str(render(scenario, seen, report_dir / "timeline.png", node_levels))
    report["timeline_legend"] = LEGEND
    (report_dir / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    return report


def zones_watched(scenario: Scenario, firmware: list[int]) -> int:
    """How many zones have a firmware node in them: only those can raise a nuisance alarm."""
    return len({int(scenario.place(n)[0] // ZONE_M) for n in firmware})
