"""The operators' console in Chromium against a real gateway, Mosquitto and journal: an alarm
an operator hears until it is acknowledged, a mute the journal keeps, the title that tells a
video wall, the keyboard, an alarm's evidence at a glance, and a clearing that must say what
the alarm was (the nuisance rate per zone is counted from it)."""

from typing import Any

from playwright.async_api import Browser, Page

from tests.dashboard.site import OPERATOR, Site, logged_in
from tests.gateway.harness import wait_until


def journal_rows(site: Site, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in site.gateway.journal.entries() if e.kind == kind]


async def sound(page: Page) -> dict[str, Any]:
    """What the page's alarm sound is doing: its AudioContext's state, and whether it beeps."""
    result: dict[str, Any] = await page.evaluate(
        "() => ({context: perimeterAlert.context && perimeterAlert.context.state,"
        " sounding: perimeterAlert.sounding, severity: perimeterAlert.severity})"
    )
    return result


async def test_an_alarm_sounds_until_it_is_acknowledged_and_a_mute_is_on_record(browser: Browser, site: Site) -> None:
    page = await logged_in(browser, site, OPERATOR)
    assert (await sound(page))["context"] is None  # nothing open: no sound was ever made

    await site.climb(2)
    row = page.locator('#alarms tbody tr[data-state="active"]')
    await row.wait_for()
    await page.wait_for_function("() => perimeterAlert.sounding && perimeterAlert.context.state === 'running'")
    assert (await sound(page))["severity"] == 2  # an intrusion's tone
    assert (await page.title()).startswith("(1) INTRUSION Z001")

    # The keyboard: j selects, a takes the operator to the (required) note, Enter acknowledges.
    await page.keyboard.press("j")
    assert await row.get_attribute("data-selected") is not None
    await page.keyboard.press("a")
    await page.keyboard.type("camera 1: a man on the fence, patrol sent")
    await page.keyboard.press("Enter")
    await page.locator('#alarms tbody tr[data-state="acknowledged"]').wait_for()
    await page.wait_for_function("() => !perimeterAlert.sounding && perimeterAlert.context.state === 'suspended'")
    assert await page.title() == "Perimeter"

    # The climber again (escalated: active once more) sounds again; m mutes it for two
    # minutes, and the journal says who did, when, and with how many alarms open.
    await site.climb(5)
    await page.wait_for_function("() => perimeterAlert.sounding")
    await page.keyboard.press("m")
    await page.wait_for_function("() => perimeterAlert.context.state === 'suspended'")
    assert await page.get_attribute("#sound", "data-state") == "muted"
    mutes = [r for r in journal_rows(site, "dashboard") if r.get("action") == "mute"]
    assert [(m["operator"], m["minutes"], m["open_alarms"], m["outcome"]) for m in mutes] == [
        ("alice", 2, 1, "sound muted")
    ]
    assert "alice mute sound muted" in await page.inner_text("#log tbody")
    assert site.gateway.journal.verify().ok


async def test_an_alarms_evidence_and_a_clearing_that_must_say_what_it_was(browser: Browser, site: Site) -> None:
    page = await logged_in(browser, site, OPERATOR)
    await site.climb(2)
    await site.climb(3, peak=2500)  # the neighbour felt it too: one alarm, two nodes' reports
    row = page.locator('#alarms tbody tr[data-state="active"]')
    await row.wait_for()
    alarm_id = await row.get_attribute("data-alarm-id")
    await wait_until(lambda: site.gateway.alarms.book.alarms[str(alarm_id)].evidence_count == 2, 5)
    row = page.locator('#alarms tbody tr[data-alarm-id="%s"]' % alarm_id)

    await page.keyboard.press("o")  # the top alarm's evidence
    detail = page.locator("#detail")
    await detail.wait_for()
    assert await detail.get_attribute("data-alarm-id") == alarm_id
    evidence = page.locator("#evidence tbody tr")
    await wait_until_count(evidence, 2)
    assert [await r.get_attribute("data-node") for r in await evidence.all()] == ["2", "3"]
    assert "fence-002 (2)" in await evidence.nth(0).inner_text() and "climb" in await evidence.nth(0).inner_text()
    assert "peak 2500" in await evidence.nth(1).inner_text()
    assert "by 2 nodes (2, 3)" in await page.inner_text("#detail-trust")
    # Times are the site's; UTC is in the title, for a report or a call to the police.
    assert (await evidence.nth(0).locator("td.time").get_attribute("title") or "").endswith("UTC")
    assert "raised" in await page.inner_text("#history tbody")

    await row.locator("input.note").fill("fox on camera 1")
    await row.locator("button.ack").click()
    await page.locator('#alarms tbody tr[data-state="acknowledged"]').wait_for()
    # Clearing without a reason code is refused, by the gateway, and the page says why.
    await row.locator("button.clear").click()
    await page.locator("#action-error", has_text="reason code").wait_for()
    assert site.gateway.alarms.book.alarms[str(alarm_id)].state == "acknowledged"
    assert "acknowledged" in await page.inner_text("#history tbody")  # the open view followed it

    await row.locator("select.reason").select_option("nuisance_animal")
    await row.locator("button.clear").click()
    await page.locator('#alarms tbody tr[data-alarm-id="%s"]' % alarm_id).wait_for(state="detached")
    await page.locator('#zones tbody tr[data-zone="Z001"] td.nuisance', has_text="1").wait_for()
    cleared = [r for r in journal_rows(site, "alarm") if r["action"] == "cleared"]
    assert [(c["alarm"]["alarm_id"], c["alarm"]["reason"], c["operator"]) for c in cleared] == [
        (alarm_id, "nuisance_animal", "alice")
    ]
    refused = [r for r in journal_rows(site, "operator") if r["command"] == "clear"]
    assert [r["status"] for r in refused] == ["error", "ok"]


async def wait_until_count(locator: Any, count: int) -> None:
    for _ in range(100):
        if await locator.count() == count:
            return
        await locator.page.wait_for_timeout(50)
    assert await locator.count() == count
