"""The region's store takes what a consumer hands it from the queue: a new incident, a newer
revision, the same revision again (a redelivery), an older one late; and refuses, keeping it
with the reason, whatever is not an incident, never blocking the queue behind it."""

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from region.consumer import Consumer
from region.store import SCHEMA_SQL
from simulators.region_services import Postgis, missing

pytestmark = pytest.mark.skipif(bool(missing()), reason="needs Debian's %s (scripts/setup.sh)" % missing())
KEY = "perimeter.hmp-north.gw1.incidents"


def incident(revision: int, **changes: Any) -> bytes:
    doc = {
        "schema": "perimeter.incident/1", "id": "hmp-north:a1", "site": "hmp-north", "alarm_id": "a1",
        "revision": revision, "kind": "drone", "state": "active", "raised_at": "2026-12-01T23:10:00.000Z",
        "updated_at": "2026-12-01T23:10:%02d.000Z" % revision, "lonlat": [-2.2, 53.4], "fundamental_hz": 180,
        "track": [["t", 0, 0, -2.21, 53.39], ["t", 5, 5, -2.2, 53.4]], "proof": {"seq": revision, "hash": "ab" * 32},
    }  # fmt: skip
    doc.update(changes)
    return json.dumps(doc).encode()


@pytest.fixture
async def store() -> AsyncIterator[tuple[Consumer, Any]]:
    db = Postgis.start()
    try:
        conn = await asyncpg.connect(db.dsn())
        await conn.execute(SCHEMA_SQL)
        pool = await asyncpg.create_pool(db.dsn(), min_size=1, max_size=2)
        yield Consumer(db.dsn(), []), pool
        await pool.close()
        await conn.close()
    finally:
        db.stop()


async def test_revisions_are_idempotent_and_hostile_messages_are_kept_aside(store: tuple[Consumer, Any]) -> None:
    consumer, pool = store
    for body in (incident(3), incident(3), incident(2), incident(5)):
        await consumer.handle(body, KEY, pool)
    hostile = [
        b"\xff\xfe not json",
        b"[1, 2, 3]",
        incident(6, schema="perimeter.incident/9"),
        incident(6, lonlat=[500, 91]),
        incident(6, track=[["t", 0, 0, "x", "y"], ["t", 0, 0, -2.2, 53.4]]),
        incident(6, raised_at="yesterday"),
        incident(6, id="hmp-south:a1"),  # another prison's id
    ]
    for body in hostile:
        await consumer.handle(body, KEY, pool)
    await consumer.handle(incident(7, site="hmp-south", id="hmp-south:a1"), KEY, pool)  # on hmp-north's key
    await consumer.handle(incident(8), KEY, pool)  # the queue goes on
    async with pool.acquire() as db:
        rows = await db.fetch("SELECT id, revision, ST_NPoints(track) AS points FROM incidents")
        rejected = await db.fetch("SELECT reason FROM rejected ORDER BY received_at")
    assert [(r["id"], r["revision"], r["points"]) for r in rows] == [("hmp-north:a1", 8, 2)]
    assert consumer.stats.stored == 1 and consumer.stats.updated == 2 and consumer.stats.unchanged == 2
    assert len(rejected) == len(hostile) + 1 == consumer.stats.rejected, [r["reason"] for r in rejected]
    reasons = " | ".join(r["reason"] for r in rejected)
    assert "off the Earth" in reasons and "published on" in reasons and "is not the site" in reasons
