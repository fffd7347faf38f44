"""docs/mqtt.md is the MQTT interface: a gateway is driven through everything it publishes (a
node's life, each kind of event, alarms, a forged frame, a comm-fail, requests, an approved
mask, a signed checkpoint), and every topic it used, and every field of every payload, is in
the page. A topic or a field added without a line in the page fails here."""

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

from gateway.evidence.witness import new_key
from tests.gateway.harness import (
    PERIMETER,
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

PAGE = Path(__file__).resolve().parents[2] / "docs" / "mqtt.md"
NODES = [{"id": n, "name": "n%d" % n, "chainage_m": 15.0 + 30 * (n - 1)} for n in (1, 2)]


def event(node: SimNode, kind: str, fields: dict[str, int]) -> bytes:
    node.event_no += 1
    return node.frame(kind, dict(fields, event_no=node.event_no, age_ds=1), True)


def pattern(topic: str) -> str:
    """The documented form of a topic: the prefix as P, ids and names as placeholders."""
    parts = topic.split("/")[3:]  # perimeter/<site>/<gateway>
    out = ["P"]
    for i, part in enumerate(parts):
        before = parts[i - 1] if i else ""
        if before == "node" and part.isdigit():
            part = "<id>"
        elif before == "alarm":
            part = "<alarm_id>"
        elif before in ("zone", "mask") and part in ("north", "east"):
            part = "<zone>"
        elif before == "transport":
            part = "<name>"
        elif before == "event" and parts[0] == "node":
            part = "<kind>"
        elif before in ("request", "response") and i == 2:
            part = "<account>"
        elif i == 3 and parts[1] in ("request", "response"):
            part = "<command>"
        out.append(part)
    return "/".join(out)


def fields(payload: Any, path: str = "") -> set[str]:
    """Every key of a JSON payload, nested keys included."""
    found: set[str] = set()
    if isinstance(payload, dict):
        for key, value in payload.items():
            found.add(key)
            found |= fields(value)
    elif isinstance(payload, list):
        for item in payload:
            found |= fields(item)
    return found


async def test_every_topic_and_payload_field_the_gateway_publishes_is_documented(
    tmp_path: Path, broker: Broker
) -> None:
    new_key(tmp_path / "witness.key", tmp_path / "witness.pub")
    pty = Pty(tmp_path / "ttyFENCE")
    extra = dict(PERIMETER, witness={"key_file": "witness.key", "every_s": 1.0, "off_host": False})
    config = write_site(tmp_path, broker.port, transports=serial(("fence", pty.link)), nodes=NODES, extra=extra,
                        heartbeat_s=1, missed=2)  # fmt: skip
    gw, task = await start(config)
    try:
        async with (
            Collector(broker.port) as collector,
            Console(broker.port, "j.smith") as operator,
            Console(broker.port, "s.jones") as supervisor,
        ):
            await wait_until(lambda: gw.sink.listening, 10)
            node, quiet = SimNode(1), SimNode(2)
            pty.write(node.hello() + node.heartbeat() + quiet.hello())
            pty.write(
                event(node, "FENCE", {"class": 1, "peak": 3000, "noise_floor": 30, "pulses": 12, "duration_ds": 25})
            )
            acoustic = {
                "class": 1,
                "fundamental_hz": 180,
                "harmonics": 5,
                "snr_db": 20,
                "confidence": 200,
                "duration_ds": 30,
            }
            pty.write(event(node, "ACOUSTIC", acoustic))
            pty.write(event(node, "IMPACT", {"peak": 900, "noise_floor": 20, "duration_ms": 120}))
            pty.write(event(node, "THUD", {"level_db": 70, "floor_db": 40, "duration_ms": 150}))
            pty.write(event(node, "TAMPER", {"kind": 1, "state": 1}))
            pty.write(event(node, "FAULT", {"code": 1, "state": 1, "detail": 0}))
            pty.write(SimNode(9).heartbeat())  # a node the site does not have: a security event
            await wait_until(lambda: any("/alarm/" in t for t, _, _ in collector.messages), 10)
            alarms = await operator.request("alarms")
            alarm_id = alarms["data"][0]["alarm_id"]
            await operator.request("ack", alarm_id=alarm_id, note="camera 4 checked")
            masked = await operator.request("mask", zone="east", reason="hedge cutting", minutes=30)
            await supervisor.request("approve", request_id=masked["data"]["request_id"])
            for _ in range(12):  # node 2 falls silent: a comm-fail; checkpoints are signed
                pty.write(node.heartbeat())
                await asyncio.sleep(0.5)
            messages = list(collector.messages)
    finally:
        await stop(gw, task)
        pty.unplug()

    page = PAGE.read_text()
    seen: dict[str, set[str]] = {}
    for topic, payload, _ in messages:
        try:
            decoded = json.loads(payload) if payload else None
        except ValueError:
            decoded = None
        seen.setdefault(pattern(topic), set()).update(fields(decoded))
    if os.environ.get("PERIMETER_SHOW_MQTT"):  # what the page documents, as the gateway sends it
        for topic, payload, retained in messages:
            print(pattern(topic), "retained" if retained else "", payload.decode(errors="replace"))
    kinds = {t for t in seen}
    assert {"P/alarm/<alarm_id>", "P/node/<id>/event/<kind>", "P/witness/checkpoint", "P/bridge/pending"} <= kinds
    for topic in sorted(seen):
        assert "`%s`" % topic in page, "%s is not in docs/mqtt.md" % topic
    documented = set(re.findall(r"`([a-z_0-9]+)`", page))
    for topic, names in sorted(seen.items()):
        missing = sorted(names - documented)
        assert not missing, "%s: fields %s are not in docs/mqtt.md" % (topic, missing)
