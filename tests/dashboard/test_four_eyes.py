"""Four eyes on silencing, in a real browser (Debian's Chromium) against a real gateway: an
operator asks for a zone mask and nothing is masked yet; a viewer sees the request waiting
and has nothing to press; a supervisor approves it and the zone turns masked on every page,
with both names shown and journalled; nobody approves their own request; an engineer's walk
test waits for a supervisor too, and the node table then says the node is in a walk test."""

import json
from typing import Any

from playwright.async_api import Browser

from tests.dashboard.site import OPERATOR, SUPERVISOR, VIEWER, Site, logged_in
from tests.gateway.harness import wait_until


def operator_rows(site: Site) -> list[dict[str, Any]]:
    return [e.data for e in site.gateway.journal.entries() if e.kind == "operator"]


async def test_a_mask_takes_effect_only_when_a_second_account_approves_it(browser: Browser, site: Site) -> None:
    alice = await logged_in(browser, site, OPERATOR)
    victor = await logged_in(browser, site, VIEWER)
    sam = await logged_in(browser, site, SUPERVISOR)

    zone = alice.locator('#zones tbody tr[data-zone="Z002"]')
    await zone.locator("input.reason").fill("fence repair, works order 5521")
    await zone.locator("input.minutes").fill("45")
    await zone.locator("button.mask").click()
    await alice.locator("#action-note", has_text="waiting for a supervisor's approval").wait_for()
    assert not site.gateway.alarms.book.masked("Z002", site.gateway.clock.now())

    # Every page lists the request; only a supervisor other than alice has buttons for it.
    for page in (alice, victor, sam):
        await page.locator("#pending tbody tr", has_text="mask zone Z002 for 45 min").wait_for()
    assert "yours" in await alice.inner_text("#pending tbody tr")
    assert await alice.locator("#pending button.approve").count() == 0
    assert "waiting for a supervisor" in await victor.inner_text("#pending tbody tr")
    assert await victor.locator("#pending button").count() == 0
    assert await alice.get_attribute('#zones tbody tr[data-zone="Z002"]', "data-state") == "clear"

    # The viewer cannot approve by going round the page either.
    request_id = await sam.get_attribute("#pending tbody tr", "data-request-id")
    status = await victor.evaluate(
        """async (id) => {
            const session = await (await fetch('/api/session')).json();
            const r = await fetch('/api/requests/' + id + '/approve', {method: 'POST',
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token': session.csrf}, body: '{}'});
            return r.status;
        }""",
        request_id,
    )
    assert status == 403

    await sam.locator("#pending button.approve").click()
    for page in (alice, victor, sam):
        masked = page.locator('#zones tbody tr[data-zone="Z002"][data-state="masked"]')
        await masked.wait_for()
        assert "masked by alice, approved by sam until" in await masked.inner_text()
        await page.wait_for_selector('#map .zone[data-zone="Z002"][data-state="masked"]', state="attached")
        await page.locator("#pending tbody tr").wait_for(state="detached")

    rows = [(r["operator"], r["command"], r["status"]) for r in operator_rows(site)]
    assert rows == [("alice", "mask", "pending"), ("victor", "approve", "error"), ("sam", "approve", "ok")]
    approved = operator_rows(site)[-1]
    assert (approved["requested_by"], approved["approved_by"], approved["request_id"]) == ("alice", "sam", request_id)


async def test_nobody_approves_their_own_request(browser: Browser, site: Site) -> None:
    sam = await logged_in(browser, site, SUPERVISOR)
    zone = sam.locator('#zones tbody tr[data-zone="Z001"]')
    await zone.locator("input.reason").fill("lights out for maintenance")
    await zone.locator("button.mask").click()
    row = sam.locator("#pending tbody tr", has_text="mask zone Z001")
    await row.wait_for()
    assert await row.locator("button.approve").count() == 0 and "yours" in await row.inner_text()
    request_id = await row.get_attribute("data-request-id")
    answer = await sam.evaluate(
        """async (id) => {
            const session = await (await fetch('/api/session')).json();
            const r = await fetch('/api/requests/' + id + '/approve', {method: 'POST',
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token': session.csrf}, body: '{}'});
            return [r.status, (await r.json()).error];
        }""",
        request_id,
    )
    assert answer == [400, "sam asked for this: a different account must approve it"]
    assert not site.gateway.alarms.book.masked("Z001", site.gateway.clock.now())


async def test_a_walk_test_waits_for_approval_and_the_node_table_shows_it(browser: Browser, site: Site) -> None:
    await site.heartbeat(3, 3700)  # heard: a downlink can reach it
    await wait_until(lambda: site.gateway.registry.nodes[3].last_seen is not None, 10)
    sam = await logged_in(browser, site, SUPERVISOR)
    # An engineer at the fence asks over MQTT (here through the same desk, as account e.wright).
    answer = site.gateway.requests.handle("e.wright", "walk_test", json.dumps({"node_id": 3, "minutes": 20}).encode())
    assert answer is not None and answer["status"] == "pending"
    row = sam.locator("#pending tbody tr", has_text="walk test node 3 for 20 min")
    await row.locator("button.approve").click()
    node = sam.locator('#nodes tbody tr[data-node="3"][data-silenced]')
    await node.wait_for()
    assert "walk test until" in await node.inner_text()
    approved = operator_rows(site)[-1]
    assert (approved["requested_by"], approved["approved_by"]) == ("e.wright", "sam")
