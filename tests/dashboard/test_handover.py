"""The shift handover on a simulated week (`simulators/insider_week.py`, journalled by the real
gateway): `perimeter journal report --shift` and the dashboard's handover page, in Chromium,
say the same (alarms by outcome, who handled them, what is open, what is silenced until when,
the nodes in trouble), and the nuisance rate per zone is what the reason codes journalled say."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from playwright.async_api import Browser

from simulators.broker import Broker
from simulators.insider_week import INSIDER, simulate
from tests.gateway.harness import free_port, start, stop

# The insider's second night: the north zone masked at 01:48 for an hour ("camera fault"),
# the handover at 02:00 while the mask still runs. Europe/London is UTC in November.
SHIFT = ("2026-11-24T18:00", "2026-11-25T02:00")
PASSWORD = "a week of night shifts"


def cli(config: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "journal", "report", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def reason_codes(journal: Path) -> dict[str, int]:
    """Nuisance clearings per zone, counted straight from the journal's alarm rows."""
    import sqlite3

    with sqlite3.connect(journal) as db:
        rows = db.execute(
            "SELECT json_extract(data, '$.alarm.zone'), json_extract(data, '$.alarm.reason') FROM journal "
            "WHERE kind = 'alarm' AND json_extract(data, '$.action') = 'cleared' AND ts < ?",
            ("2026-11-25T02:00",),
        ).fetchall()
    counts: dict[str, int] = {}
    for zone, reason in rows:
        if str(reason).startswith("nuisance_"):
            counts[zone] = counts.get(zone, 0) + 1
    return counts


async def test_the_handover_page_and_the_report_agree_on_a_simulated_week(browser: Browser, tmp_path: Path) -> None:
    config = simulate(tmp_path / "week")
    report: dict[str, Any] = json.loads(cli(config, "--shift", *SHIFT, "--format", "json"))

    # What the night was: climbs answered by the operator on shift, the insider's mask running.
    assert report["shift"] == {
        "start": "2026-11-24T18:00:00.000Z",
        "end": "2026-11-25T02:00:00.000Z",
        "timezone": "Europe/London",
    }
    assert report["alarms"] and sum(report["by_outcome"].values()) == len(report["alarms"])
    assert {a["outcome"] for a in report["alarms"]} <= {"real", "nuisance", "maintenance", "test", "open"}
    (mask,) = [s for s in report["silenced_at_end"] if s["what"] == "masked"]
    assert (mask["zone"], mask["asked_by"], mask["approved_by"]) == ("north", INSIDER, "s.jones")
    assert mask["until"] > report["shift"]["end"]
    assert report["nuisance_30d"] == reason_codes(config.parent / "journal.sqlite")
    text = cli(config, "--shift", *SHIFT)
    assert "Shift handover Tue 24 Nov 18:00 to Wed 25 Nov 02:00 (Europe/London)" in text
    assert "masked north by %s, approved by s.jones until Wed 25 Nov 02:" % INSIDER in text

    # The same journal behind a running gateway, and the page an operator prints.
    broker = Broker(tmp_path)
    broker.start()
    port = free_port()
    lines = config.read_text().replace('[dashboard]\nlisten = ""', '[dashboard]\nlisten = "127.0.0.1:%d"' % port)
    config.write_text(lines.replace("[metrics]", "[mqtt]\nport = %d\n\n[metrics]" % broker.port))
    gateway, task = await start(config)
    try:
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(10_000)
        url = "http://127.0.0.1:%d" % port
        await page.goto(url + "/login")
        await page.fill("#name", "s.jones")
        await page.fill("#password", PASSWORD)
        await page.click("#login-button")
        await page.wait_for_url(url + "/")
        await page.goto(url + "/handover?start=%s&end=%s" % SHIFT)
        await page.wait_for_selector("body[data-loaded]")

        rows = page.locator("#handover-alarms tbody tr[data-alarm-id]")
        shown = [
            (await r.get_attribute("data-alarm-id"), await r.get_attribute("data-outcome")) for r in await rows.all()
        ]
        assert shown == [(a["alarm_id"], a["outcome"]) for a in report["alarms"]]
        outcomes = {
            str(await li.get_attribute("data-outcome")): int(await li.locator("b").inner_text())
            for li in await page.locator("#outcomes li[data-outcome]").all()
        }
        assert outcomes == report["by_outcome"]
        handled = {
            str(await r.get_attribute("data-operator")): [int(x) for x in (await r.inner_text()).split()[1:]]
            for r in await page.locator("#handled tbody tr[data-operator]").all()
        }
        assert handled == {k: [v["acknowledged"], v["cleared"]] for k, v in report["handled_by"].items()}
        assert [
            await li.get_attribute("data-alarm-id") for li in await page.locator("#open li[data-alarm-id]").all()
        ] == (report["open_at_end"])
        silenced = await page.inner_text("#silenced tbody")
        assert "masked" in silenced and "north" in silenced and INSIDER in silenced and "s.jones" in silenced
        nuisance = {
            str(await r.get_attribute("data-zone")): int((await r.inner_text()).split()[-1])
            for r in await page.locator("#nuisance tbody tr[data-zone]").all()
        }
        assert nuisance == report["nuisance_30d"]
        # Printable: the print stylesheet drops the controls and keeps the tables.
        await page.emulate_media(media="print")
        assert await page.locator("#when").is_hidden()
        assert await page.locator("#handover-alarms").is_visible()
    finally:
        await stop(gateway, task)
        broker.stop()
