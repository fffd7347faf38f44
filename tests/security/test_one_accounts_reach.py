"""One account's reach is its own (issue 31, point 5), against the site `perimeter site init`
writes (its Mosquitto with the password file and ACL, the real gateway). Before, a viewer
sending about 10,000 read-only requests in 4 s wrote 10,211 fsync'ed journal rows and, through
the one shared nonce table, had every account's requests refused for 120 s; an operator's 64
pending masks blocked all four-eyes work for 15 minutes. Now a flood of reads writes a row or
two, the others' requests go through at once, and each account has its own share of the
requests waiting for approval. The supervisor's report counts the reads."""

import json
import time

from gateway.alarming.approvals import MAX_PENDING_EACH
from gateway.alarming.request_guard import fresh
from gateway.cli import main as cli
from tests.gateway.harness import start, stop, wait_until
from tests.security.secured_site import PREFIX, SecuredSite

FLOOD = 3000


async def test_a_viewers_flood_of_reads_costs_the_journal_nothing_and_shuts_nobody_out(
    site: SecuredSite, capsys: object
) -> None:
    assert site.gateway is not None and site.task is not None
    rows_before = site.gateway.journal.head_seq
    async with site.console("v.brown") as brown, site.console("j.smith") as smith:
        topic = PREFIX + "/bridge/request/v.brown/alarms"
        started = time.monotonic()
        for i in range(FLOOD):
            body = fresh({"transaction": "flood-%d" % i}, time.time())
            await brown.client.publish(topic, json.dumps(body).encode(), qos=0)
        await wait_until(lambda: "flood-%d" % (FLOOD - 1) in brown.responses, 30)
        flooded_s = time.monotonic() - started
        answers = [brown.responses.get("flood-%d" % i, {}) for i in range(FLOOD)]
        # Its answers waiting for the broker are bounded too: the newest of them, refusals.
        assert answers[-1]["error"] == "v.brown sent more than 2 requests a second: wait a moment"
        # Another account, at once: before, "too many requests in the last 120 s" for everyone.
        asked = await smith.request("mask", zone="north", minutes=30, reason="fence repair, works order 5521")
        assert asked["status"] == "pending", asked
        for minutes in range(2, MAX_PENDING_EACH + 2):
            last = await smith.request("mask", zone="north", minutes=minutes, reason="fence repair")
        assert "%d of your requests are already waiting" % MAX_PENDING_EACH in last["error"]
        async with site.console("m.chief") as chief:  # his share is untouched by j.smith's
            assert (await chief.request("mask", zone="east", minutes=30, reason="gate works"))["status"] == "pending"
    rows = site.gateway.journal.head_seq - rows_before
    # j.smith's nine asks and m.chief's one, and the flood's first refusal: not one row per read.
    assert rows <= 15, rows
    await stop(site.gateway, site.task)  # the tallies of the open windows are journalled at the stop
    site.gateway, site.task = await start(site.config)
    assert cli(["journal", "report", "--by", "operator", "--config", str(site.config), "--format", "jsonl"]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    brown = next(r for r in map(json.loads, out.splitlines()) if r["account"] == "v.brown")
    assert brown["reads"] + brown["throttled"] == FLOOD and brown["reads"] >= 30, (brown, flooded_s)
