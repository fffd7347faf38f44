"""The dashboard in a real browser (Debian's Chromium, driven by Playwright) against a real
gateway, Mosquitto and journal: an operator logs in, sees a climb's alarm appear live,
acknowledges it with a note, and the acknowledgement is on MQTT and in the journal under
their name; a viewer sees the same alarm and cannot acknowledge it; requests without a
session or without the CSRF token are refused."""

import asyncio
import json
from typing import Any

from playwright.async_api import Browser

from tests.dashboard.site import OPERATOR, VIEWER, Site, logged_in
from tests.gateway.harness import Collector, wait_until

PREFIX = "perimeter/test/gw"


def journal_rows(site: Site, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in site.gateway.journal.entries() if e.kind == kind]


async def test_operator_sees_a_climb_live_and_acknowledges_it_with_a_note(browser: Browser, site: Site) -> None:
    async with Collector(site.broker.port, PREFIX + "/alarm/#") as mqtt:
        page = await logged_in(browser, site, OPERATOR)
        assert await page.inner_text("#who") == "alice (operator)"
        assert await page.locator("#nodes tbody tr").count() == 6

        await site.climb(2)
        row = page.locator('#alarms tbody tr[data-state="active"]')
        await row.wait_for()
        assert "intrusion" in await row.inner_text()
        alarm_id = await row.get_attribute("data-alarm-id")
        assert alarm_id is not None
        await page.wait_for_selector('#map .zone[data-zone="Z001"][data-state="alarm"]', state="attached")
        await page.wait_for_selector('#map .alarm-marker[data-alarm-id="%s"]' % alarm_id, state="attached")

        # A note is required: acknowledging without one is refused and says why.
        await row.locator("button.ack").click()
        await page.locator("#action-error", has_text="note").wait_for()
        assert site.gateway.alarms.book.alarms[alarm_id].state == "active"

        await row.locator("input.note").fill("camera 4 shows a man on the fence; patrol sent")
        await row.locator("button.ack").click()
        acked = page.locator('#alarms tbody tr[data-alarm-id="%s"][data-state="acknowledged"]' % alarm_id)
        await acked.wait_for()
        assert "acknowledged by alice" in await acked.inner_text()
        await page.wait_for_selector('#map .zone[data-zone="Z001"][data-state="acknowledged"]', state="attached")

        # On MQTT: the retained alarm, acknowledged by the logged-in operator with the note.
        def acknowledged_on_mqtt() -> list[dict[str, Any]]:
            found = [json.loads(p) for t, p, _ in mqtt.messages if t.endswith("/alarm/" + alarm_id) and p]
            return [a for a in found if a["state"] == "acknowledged"]

        await wait_until(lambda: acknowledged_on_mqtt(), 10)
        on_mqtt = acknowledged_on_mqtt()[-1]
        assert on_mqtt["acknowledged_by"] == "alice"
        assert on_mqtt["note"] == "camera 4 shows a man on the fence; patrol sent"

    # In the journal: the alarm change and the operator's request, both under alice.
    changes = [r for r in journal_rows(site, "alarm") if r["alarm"]["alarm_id"] == alarm_id]
    assert [c["action"] for c in changes] == ["raised", "acknowledged"]
    assert changes[-1]["operator"] == "alice"
    requests = [r for r in journal_rows(site, "operator") if r["command"] == "ack"]
    assert [(r["operator"], r["status"]) for r in requests] == [("alice", "error"), ("alice", "ok")]
    logins = [(r["operator"], r["action"], r["outcome"]) for r in journal_rows(site, "dashboard")]
    assert ("alice", "login", "ok") in logins
    assert site.gateway.journal.verify().ok

    # The event log shows the same, newest first.
    await page.wait_for_selector('#log tbody tr[data-kind="alarm"]')
    assert "intrusion acknowledged" in await page.inner_text("#log tbody")

    # Nothing came from anywhere but the gateway: no CDN, no fonts, no internet.
    assert site.requested and all(url.startswith(site.url + "/") for url in site.requested), site.requested


async def test_a_viewer_sees_the_alarm_but_cannot_acknowledge_it(browser: Browser, site: Site) -> None:
    page = await logged_in(browser, site, VIEWER)
    await site.climb(4)
    row = page.locator('#alarms tbody tr[data-state="active"]')
    await row.wait_for()
    alarm_id = await row.get_attribute("data-alarm-id")
    assert await row.locator("button.ack").count() == 0
    assert "view only" in await row.inner_text()
    assert await page.locator("#zones button.mask").count() == 0

    # Going round the page does not help: the gateway refuses the viewer's request itself.
    status = await page.evaluate(
        """async (id) => {
            const session = await (await fetch('/api/session')).json();
            const r = await fetch('/api/alarms/' + id + '/ack', {method: 'POST',
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token': session.csrf},
                body: JSON.stringify({note: 'I am only a viewer'})});
            return r.status;
        }""",
        alarm_id,
    )
    assert status == 403
    assert site.gateway.alarms.book.alarms[alarm_id].state == "active"
    refused = [r for r in journal_rows(site, "operator") if r["status"] == "error"]
    assert [(r["operator"], r["command"]) for r in refused] == [("victor", "ack")]
    assert refused[0]["error"] == "victor is a viewer: a viewer may not ack"


async def test_an_aircraft_overhead_reaches_the_operator_as_an_aircraft_and_never_as_a_drone_alarm(
    browser: Browser, site: Site
) -> None:
    async with Collector(site.broker.port, PREFIX + "/#") as mqtt:
        page = await logged_in(browser, site, OPERATOR)
        fields = {"age_ds": 0, "fundamental_hz": 92, "harmonics": 6, "snr_db": 24, "confidence": 90}
        for node_id in (2, 3):  # two nodes hear it, for longer than a drone needs to be an alarm
            await site.send(
                site.node(node_id).frame("ACOUSTIC", dict(fields, event_no=1, duration_ds=0, **{"class": 3}), True)
            )
        await page.locator("#log tbody tr", has_text="aircraft overhead (92 Hz): not a drone").first.wait_for()
        await asyncio.sleep(3.0)
        for node_id in (2, 3):
            await site.send(
                site.node(node_id).frame("ACOUSTIC", dict(fields, event_no=2, duration_ds=30, **{"class": 4}), True)
            )
        await page.locator("#log tbody tr", has_text="aircraft gone").first.wait_for()

        def heard_on_mqtt() -> list[dict[str, Any]]:
            return [json.loads(p) for t, p, _ in mqtt.messages if "/event/acoustic" in t and p]

        await wait_until(lambda: len(heard_on_mqtt()) == 4, 10)
        assert sorted(e["labels"]["class"] for e in heard_on_mqtt()) == ["aircraft"] * 2 + ["aircraft_gone"] * 2
        assert [t for t, p, _ in mqtt.messages if "/alarm/" in t and p] == []
    assert site.gateway.alarms.book.alarms == {}
    assert await page.locator("#alarms tbody tr").count() == 0
    assert len([r for r in journal_rows(site, "event") if r["type"] == "acoustic"]) == 4


async def test_requests_without_a_session_or_the_csrf_token_are_refused(browser: Browser, site: Site) -> None:
    await site.climb(6)
    await wait_until(lambda: site.gateway.alarms.book.open_alarms(), 10)
    alarm_id = site.gateway.alarms.book.open_alarms()[0].alarm_id
    page = await logged_in(browser, site, OPERATOR)
    post = """async ([id, headers]) => {
        const r = await fetch('/api/alarms/' + id + '/ack', {method: 'POST',
            headers: Object.assign({'Content-Type': 'application/json'}, headers),
            body: JSON.stringify({note: 'forged'})});
        return r.status;
    }"""
    assert await page.evaluate(post, [alarm_id, {}]) == 403  # logged in, but no CSRF token
    assert await page.evaluate(post, [alarm_id, {"X-CSRF-Token": "not-the-token"}]) == 403

    # A stranger's browser, with no session at all.
    stranger = await browser.new_page()
    await stranger.goto(site.url + "/login")
    assert await stranger.evaluate(post, [alarm_id, {"X-CSRF-Token": "anything"}]) == 401
    assert await stranger.evaluate("async () => (await fetch('/api/snapshot')).status") == 401
    assert site.gateway.alarms.book.alarms[alarm_id].state == "active"

    # After logout the old session is worth nothing, even with its CSRF token.
    token = await page.evaluate("async () => (await (await fetch('/api/session')).json()).csrf")
    await page.click("#logout")
    await page.wait_for_url(site.url + "/login")
    assert await page.evaluate(post, [alarm_id, {"X-CSRF-Token": token}]) == 401


async def test_the_queue_puts_the_most_severe_first_then_the_oldest(browser: Browser, site: Site) -> None:
    page = await logged_in(browser, site, OPERATOR)
    fault = {"event_no": 1, "age_ds": 0, "code": 4, "state": 1, "detail": 3100}  # battery low: a fault
    await site.send(site.node(1).frame("FAULT", fault, ack_req=True))
    await page.locator('#alarms tbody tr[data-category="fault"]').wait_for()
    await site.climb(5)  # newer, but an intrusion (severity 2)
    # By its category: a row's text also holds the reason codes' names ("intrusion" among them).
    await page.locator('#alarms tbody tr[data-category="intrusion"]').wait_for()
    rows = page.locator("#alarms tbody tr")
    severities = [int(await rows.nth(i).get_attribute("data-severity") or 0) for i in range(2)]
    assert severities[0] < severities[1], severities
    assert "intrusion" in await rows.nth(0).inner_text() and "fault" in await rows.nth(1).inner_text()
    # Acknowledging does not move it: the queue stays where the operator's eyes are.
    await rows.nth(0).locator("input.note").fill("checking camera 7")
    await rows.nth(0).locator("button.ack").click()
    await page.locator('#alarms tbody tr[data-state="acknowledged"]').wait_for()
    assert "intrusion" in await rows.nth(0).inner_text()
