"""The regional picture in a real browser: an analyst logs in, sees the region's prisons on a
map with their incidents and drone tracks, the counts per prison and the hour-of-week pattern,
filters by prison and kind, and exports what is shown; nothing on the page or behind it can
act on a site."""

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser

from region import analysts
from region.store import PLAN_SQL, SCHEMA_SQL, UPSERT_SQL, plan_args, row_args
from simulators.broker import free_port, wait_for_port
from simulators.region_services import Postgis, missing

pytestmark = pytest.mark.skipif(bool(missing()), reason="needs Debian's %s (scripts/setup.sh)" % missing())
NOW = datetime.now(UTC).replace(microsecond=0)
PRISONS = {"hmp-north": (-2.2, 53.4), "hmp-south": (-1.5, 52.5), "hmp-east": (0.1, 52.2)}


def incident(site: str, n: int, kind: str, hours_ago: float, revision: int = 1) -> dict:
    lon0, lat0 = PRISONS[site]
    at = (NOW - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z")
    lon, lat = lon0 + n * 0.0004, lat0 + 0.0003
    return {
        "schema": "perimeter.incident/1", "id": "%s:%d" % (site, n), "site": site, "gateway": "gw1", "alarm_id": str(n),
        "revision": revision, "action": "raised", "kind": kind, "state": "active", "severity": 2, "zone": "Z01",
        "raised_at": at, "updated_at": at, "cleared_at": None, "outcome": None, "chainage_m": 10.0,
        "site_xy": [10.0, 5.0], "lonlat": [lon, lat], "error_m": 4.0,
        "fundamental_hz": 170 if kind == "drone" else None,
        "track": [[at, 0, 0, lon - 0.002, lat - 0.001], [at, 5, 5, lon, lat]] if kind == "drone" else [],
        "nodes": [1], "proof": {"seq": revision, "hash": "ab" * 32, "checkpoint": None},
    }  # fmt: skip


# Three prisons' month: drones and drops at night at two of them, a climb by day at the third.
INCIDENTS = [
    incident("hmp-north", 1, "drone", 24 * 3 + 1),
    incident("hmp-north", 2, "drone_drop", 24 * 3 + 1),
    incident("hmp-north", 3, "drone", 24 * 10 + 2),
    incident("hmp-south", 1, "drone", 24 * 5 + 3),
    incident("hmp-south", 2, "throw_over", 24 * 6),
    incident("hmp-east", 1, "intrusion", 24 * 2 + 12),
    incident("hmp-east", 2, "<img src=x onerror=alert(1)>", 24 * 40),  # hostile text, and outside the month
]


# hmp-north's plan as its gateway publishes it: a closed wall and a houseblock inside.
PLAN = {
    "schema": "perimeter.site-plan/1", "site": "hmp-north", "gateway": "gw1", "published_at": NOW.isoformat(),
    "perimeter": [[-2.2, 53.4], [-2.196, 53.4], [-2.196, 53.4025], [-2.2, 53.4025], [-2.2, 53.4]], "closed": True,
    "lines": [{"name": "houseblock A", "kind": "building",
               "points": [[-2.199, 53.401], [-2.198, 53.401], [-2.198, 53.4015]]}],
}  # fmt: skip


@pytest.fixture
def store() -> Iterator[Postgis]:
    db = Postgis.start()

    async def fill() -> None:
        conn = await asyncpg.connect(db.dsn())
        await conn.execute(SCHEMA_SQL)
        await conn.executemany(UPSERT_SQL, [row_args(d) for d in INCIDENTS])
        await conn.execute(PLAN_SQL, *plan_args(PLAN))
        await conn.close()

    try:
        asyncio.run(fill())
        yield db
    finally:
        db.stop()


@pytest.fixture
async def served(tmp_path: Path, store: Postgis) -> AsyncIterator[str]:
    accounts = tmp_path / "analysts.txt"
    analysts.add(accounts, "pc.jones", "police_analyst", "a long police password", n=2**10)
    port = free_port()
    perimeter = str(Path(sys.executable).with_name("perimeter"))
    proc = subprocess.Popen([perimeter, "region", "serve", "--db", store.dsn(), "--analysts", str(accounts),
                             "--listen", "127.0.0.1:%d" % port], env=dict(os.environ))  # fmt: skip
    try:
        wait_for_port(port, 30)
        yield "http://127.0.0.1:%d" % port
    finally:
        proc.terminate()
        proc.wait(10)


def fetch(url: str, method: str = "GET", password: str = "a long police password") -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, data=b"{}" if method != "GET" else None)
    request.add_header("Authorization", "Basic " + b64encode(("pc.jones:" + password).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


async def test_an_analyst_sees_the_regions_prisons_incidents_and_pattern_and_exports_them(
    browser: Browser, served: str
) -> None:
    context = await browser.new_context(
        viewport={"width": 1600, "height": 900},
        http_credentials={"username": "pc.jones", "password": "a long police password"},
        accept_downloads=True,
    )
    page = await context.new_page()
    alerts: list[str] = []
    page.on("dialog", lambda d: alerts.append(d.message))
    await page.goto(served)
    await page.wait_for_function("document.body.dataset.ready === '1'", timeout=15000)
    stats = await page.evaluate("window.regionStats")
    # The last 30 days: six incidents (the hostile one is older), two drones' tracks, three prisons.
    assert stats == {"incidents": 6, "tracks": 3, "prisons": 3, "hourTotal": 6, "plans": 1}, stats
    assert await page.locator("path.site-plan").count() == 1 and await page.locator("path.site-plan-line").count() == 1
    assert await page.locator("path.incident-drone").count() == 3
    assert await page.locator("path.drone-track").count() == 3
    assert await page.locator("#prisons tbody tr").count() == 3
    north = await page.locator("#prisons tr[data-site='hmp-north'] td").all_inner_texts()
    assert north[:3] == ["hmp-north", "2", "1"]  # 2 drones, 1 drop
    assert "pc.jones (police analyst)" in await page.inner_text("#who")
    # Filter: hmp-south's drones only.
    await page.select_option("#site", ["hmp-south"])
    await page.check("#kinds input[value='drone']")
    await page.click("#filters button")
    await page.wait_for_function("window.regionStats.incidents === 1")
    assert (await page.evaluate("window.regionStats"))["hourTotal"] == 1
    async with page.expect_download() as info:
        await page.click("#export-geojson")
    exported = json.loads(Path(await (await info.value).path()).read_text())
    ids = [f["id"] for f in exported["features"] if f["properties"]["feature"] == "incident"]
    assert ids == ["hmp-south:1"] and exported["features"][0]["properties"]["incident"]["proof"]["hash"]
    # The police's area: the map on hmp-north alone, exported as shown.
    await page.select_option("#site", [])
    await page.uncheck("#kinds input[value='drone']")
    await page.evaluate("window.regionMap.fitBounds([[53.399, -2.201], [53.402, -2.195]])")
    await page.check("#area")
    await page.click("#filters button")
    await page.wait_for_function("window.regionStats.incidents === 3")  # its two drones and the drop
    async with page.expect_download() as info:
        await page.click("#export-csv")
    rows = Path(await (await info.value).path()).read_text().splitlines()[1:]
    assert sorted(r.split(",")[0] for r in rows) == ["hmp-north:1", "hmp-north:2", "hmp-north:3"]
    await page.uncheck("#area")
    # A month back: the hostile kind is drawn as text; nothing ran.
    await page.fill("#from", (NOW - timedelta(days=60)).strftime("%Y-%m-%dT%H:%M"))
    await page.click("#filters button")
    await page.wait_for_function("window.regionStats.incidents === 7")
    await page.hover("path.incident", force=True)
    assert alerts == [] and await page.locator("img[src=x]").count() == 0
    await context.close()
    # Nothing behind the page acts on anything: every other method is refused, and a wrong
    # password sees nothing.
    for method in ("POST", "PUT", "DELETE"):
        assert fetch(served + "/api/incidents", method)[0] == 405
    assert fetch(served + "/api/incidents", password="wrong password")[0] == 401
    status, body = fetch(served + "/export.csv?from=" + (NOW - timedelta(days=60)).isoformat().replace("+00:00", "Z"))
    assert status == 200 and body.decode().count("\n") == 1 + len(INCIDENTS)
    started = time.time()
    assert fetch(served + "/api/pattern?tz=Nowhere/Else")[0] == 400 and time.time() - started < 5
