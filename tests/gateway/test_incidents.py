"""The site's incident stream for the region: what crosses the WAN, and what does not.

A site with `[region] incidents = true` publishes each change of an incident-worthy alarm
(drone, drop, throw-over, intrusion, tamper, jamming, security) on `P/incidents`, whole, with
a stable id, its place on the map, its outcome once cleared, and the proof behind it (the
journal row's number and hash, the newest signed checkpoint). Staff names stay on the site
unless its config says otherwise. The site can rebuild every revision from its journal.
"""

import asyncio
import json
from pathlib import Path
from typing import Any

from gateway.config import load
from gateway.evidence.witness import new_key, read_public, signed_by
from gateway.outputs.incidents import IncidentSource, incident_at
from tests.gateway.harness import (
    NODES,
    PERIMETER,
    PREFIX,
    Broker,
    Collector,
    Console,
    Pty,
    SimNode,
    serial,
    start,
    stop,
    wait_until,
    write_site,
)

ORIGIN = {"origin_lon": -2.2, "origin_lat": 53.4}


def event(node: SimNode, kind: str, fields: dict[str, int]) -> bytes:
    node.event_no += 1
    return node.frame(kind, dict(fields, event_no=node.event_no, age_ds=1), True)


def incidents(collector: Collector) -> list[dict[str, Any]]:
    return [json.loads(p) for t, p, _ in collector.messages if t == PREFIX + "/incidents"]


def intrusion(collector: Collector) -> str | None:
    """The intrusion alarm's id, once its retained message is out."""
    for topic, payload, _ in collector.messages:
        if "/alarm/" in topic and payload and json.loads(payload)["category"] == "intrusion":
            return topic.rpartition("/")[2]
    return None


async def climb_then_work_it(
    tmp_path: Path, broker: Broker, region: dict[str, Any]
) -> tuple[Any, list[dict[str, Any]]]:
    """A climb at node 2 and a fault at node 3; the operator acknowledges the intrusion with
    a note, the supervisor clears it as an attempted intrusion. The incidents published."""
    tmp_path.mkdir(exist_ok=True)
    new_key(tmp_path / "witness.key", tmp_path / "witness.pub")
    pty = Pty(tmp_path / "ttyFENCE")
    extra = dict(PERIMETER, witness={"key_file": "witness.key", "every_s": 1.0, "off_host": False}, region=region)
    config = write_site(tmp_path, broker.port, transports=serial(("fence", pty.link)), nodes=NODES, extra=extra)
    gw, task = await start(config)
    try:
        async with (
            Collector(broker.port, PREFIX + "/#") as collector,
            Console(broker.port, "j.smith") as operator,
            Console(broker.port, "s.jones") as supervisor,
        ):
            await wait_until(lambda: gw.sink.listening, 10)
            climber, broken = SimNode(2), SimNode(3)
            pty.write(climber.hello() + broken.hello())
            pty.write(event(broken, "FAULT", {"code": 1, "state": 1, "detail": 0}))
            await asyncio.sleep(1.5)  # a checkpoint is signed before the climb
            pty.write(
                event(climber, "FENCE", {"class": 1, "peak": 3000, "noise_floor": 30, "pulses": 12, "duration_ds": 25})
            )
            await collector.wait_for(lambda: intrusion(collector) is not None)
            alarm_id = intrusion(collector)
            await operator.request("ack", alarm_id=alarm_id, note="camera 4: man on the fence")
            answer = await supervisor.request("clear", alarm_id=alarm_id, note="he climbed down", reason="attempted")
            assert answer["status"] == "ok", answer
            await collector.wait_for(lambda: any(t.endswith(str(alarm_id)) and not p for t, p, _ in collector.messages))
            await asyncio.sleep(0.5)  # the incident goes out beside the alarm's retained message
    finally:
        await stop(gw, task)
        pty.unplug()
    return load(config), incidents(collector)


async def test_an_intrusion_reaches_the_region_as_one_incident_with_its_place_outcome_and_proof(
    tmp_path: Path, broker: Broker
) -> None:
    config, published = await climb_then_work_it(tmp_path, broker, dict(ORIGIN, incidents=True))
    # The fault raised an alarm too, but the region hears only of crime: one incident, three revisions.
    assert {i["id"] for i in published} == {"%s:%s" % (config.site_name, published[0]["alarm_id"])}
    assert [i["action"] for i in published] == ["raised", "acknowledged", "cleared"]
    assert [i["revision"] for i in published] == sorted(i["revision"] for i in published)
    first, last = published[0], published[-1]
    assert first["kind"] == "intrusion" and first["zone"] == "north" and first["chainage_m"] == 45.0
    # 45 m east of the plan's origin, on the map: 45 / (111320 cos 53.4 deg) degrees of longitude.
    assert first["site_xy"] == [45.0, 0.0]
    assert abs(first["lonlat"][0] - (-2.2 + 45 / (111_320 * 0.59622))) < 1e-6 and first["lonlat"][1] == 53.4
    assert last["outcome"] == "attempted" and last["cleared_at"] and last["state"] == "cleared"
    # No staff name, no note leaves the site: not in any field.
    for incident in published:
        text = json.dumps(incident)
        assert "j.smith" not in text and "s.jones" not in text and "camera 4" not in text and "climbed" not in text
        assert "staff" not in incident
    # The proof: each revision is the journal row it names, the newest checkpoint is signed
    # by the site's witness key, and the site rebuilds every revision from its journal alone.
    from gateway.evidence.journal import Journal

    journal = Journal(config.journal)
    source = IncidentSource(config.site_name, config.gateway_id, config.perimeter, config.region)
    public = read_public(tmp_path / "witness.pub")
    for incident in published:
        proof = incident["proof"]
        assert journal.hash_at(proof["seq"]) == proof["hash"]
        assert proof["checkpoint"] is not None and signed_by(proof["checkpoint"], public)
        assert proof["checkpoint"]["seq"] < proof["seq"]  # signed before: it covers older rows
        rebuilt = incident_at(source, journal, incident["alarm_id"], proof["seq"])
        assert rebuilt == dict(incident, proof={"seq": proof["seq"], "hash": proof["hash"]})
    journal.close()


async def test_a_site_may_choose_to_name_its_staff_and_a_site_without_a_region_publishes_nothing(
    tmp_path: Path, broker: Broker
) -> None:
    _, named = await climb_then_work_it(tmp_path / "a", broker, dict(ORIGIN, incidents=True, share_staff_names=True))
    assert named[-1]["staff"] == {"acknowledged_by": "j.smith", "cleared_by": "s.jones", "note": "he climbed down"}
    _, none = await climb_then_work_it(tmp_path / "b", broker, {"incidents": False})
    assert none == []
