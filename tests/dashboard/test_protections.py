"""What stands between the dashboard and someone who should not change the perimeter,
spoken to over plain HTTP against a running gateway: every route wants a session, every
change wants the CSRF token, a JSON body and our origin, logins are throttled, a removed
account's session ends, and each refusal is journalled."""

import asyncio
import time
import urllib.request
from email.message import Message
from pathlib import Path

import pytest

from gateway.identity.accounts import remove_account
from tests.dashboard.site import OPERATOR, SUPERVISOR, VIEWER, Client, Site

ROUTES = ["/api/session", "/api/snapshot", "/api/log", "/api/stream"]


def dashboard_rows(site: Site) -> list[tuple[str, str, str]]:
    return [
        (e.data["operator"], e.data["action"], e.data["outcome"])
        for e in site.gateway.journal.entries()
        if e.kind == "dashboard"
    ]


async def an_alarm(site: Site) -> str:
    await site.climb(2)
    for _ in range(200):
        if site.gateway.alarms.book.open_alarms():
            return site.gateway.alarms.book.open_alarms()[0].alarm_id
        await asyncio.sleep(0.02)
    raise AssertionError("no alarm")


async def test_without_a_session_nothing_is_shown_and_the_page_sends_you_to_log_in(site: Site) -> None:
    stranger = Client(site.url)
    for route in ROUTES:
        status, body = await stranger.get(route)
        assert status == 401, route
        assert body == {"error": "log in first"}
    status, _ = await stranger.post("/api/alarms/x/ack", {"note": "n"}, csrf="whatever")
    assert status == 401
    status, page = await stranger.get("/login")
    assert status == 200 and '<form id="login"' in page


async def test_every_response_carries_the_security_headers(site: Site) -> None:
    def fetch() -> Message:
        with urllib.request.urlopen(site.url + "/login", timeout=5) as response:  # off the gateway's loop
            return response.headers

    headers = await asyncio.to_thread(fetch)
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"


async def test_a_change_needs_the_csrf_token_json_and_our_origin(site: Site) -> None:
    alarm_id = await an_alarm(site)
    alice = Client(site.url)
    assert (await alice.login(*OPERATOR))[0] == 200
    path = "/api/alarms/%s/ack" % alarm_id
    assert (await alice.post(path, {"note": "n"}, csrf=""))[0] == 403
    assert (await alice.post(path, {"note": "n"}, csrf="x" * 43))[0] == 403
    assert (await alice.post(path, {"note": "n"}, headers={"Origin": "http://evil.example"}))[0] == 403
    # A cross-site form can post text/plain or form data; never JSON.
    status, body = await alice.post(path, b"note=n", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415, body
    assert (await alice.post(path, {"note": "x" * 20_000}))[0] == 413
    assert site.gateway.alarms.book.alarms[alarm_id].state == "active"
    refused = [r for r in dashboard_rows(site) if r[2].startswith("refused")]
    assert len(refused) == 3 and all(r[0] == "alice" for r in refused)

    status, body = await alice.post(path, {"note": "seen on camera 2"}, headers={"Origin": site.url})
    assert status == 200 and body["state"] == "acknowledged" and body["acknowledged_by"] == "alice"


async def test_the_operator_is_the_logged_in_account_not_a_name_the_browser_sends(site: Site) -> None:
    alarm_id = await an_alarm(site)
    alice = Client(site.url)
    await alice.login(*OPERATOR)
    status, body = await alice.post("/api/alarms/%s/ack" % alarm_id, {"note": "n", "operator": "mallory"})
    assert status == 200 and body["acknowledged_by"] == "alice"


async def test_clear_mask_and_unmask_go_through_the_operator_desk(site: Site) -> None:
    alarm_id = await an_alarm(site)
    alice = Client(site.url)
    await alice.login(*OPERATOR)
    status, body = await alice.post("/api/alarms/%s/clear" % alarm_id, {"note": "done", "reason": "test"})
    assert status == 400 and "acknowledged before" in body["error"]
    assert (await alice.post("/api/alarms/%s/ack" % alarm_id, {"note": "looking"}))[0] == 200
    assert (await alice.post("/api/alarms/%s/clear" % alarm_id, {"note": "fox", "reason": "nuisance_animal"}))[0] == 200
    assert not site.gateway.alarms.book.open_alarms()

    status, body = await alice.post("/api/zones/Z002/mask", {"reason": "fence repair", "minutes": 30})
    assert status == 202 and body["requested_by"] == "alice"  # waits for a second account
    assert (await alice.get("/api/snapshot"))[1]["zones"]["Z002"] == "clear"
    sam = Client(site.url)
    await sam.login(*SUPERVISOR)
    status, body = await sam.post("/api/requests/%s/approve" % body["request_id"], {})
    assert status == 200 and body["result"]["approved_by"] == "sam"
    snapshot = (await alice.get("/api/snapshot"))[1]
    assert snapshot["zones"]["Z002"] == "masked" and snapshot["masks"]["Z002"]["approved_by"] == "sam"
    assert (await alice.post("/api/zones/Z002/unmask", {}))[0] == 200
    assert (await alice.get("/api/snapshot"))[1]["zones"]["Z002"] == "clear"
    assert (await alice.post("/api/zones/nowhere/mask", {"reason": "r", "minutes": 5}))[0] == 400
    commands = [
        (e.data["operator"], e.data["command"], e.data["status"])
        for e in site.gateway.journal.entries()
        if e.kind == "operator"
    ]
    assert commands == [
        ("alice", "clear", "error"),
        ("alice", "ack", "ok"),
        ("alice", "clear", "ok"),
        ("alice", "mask", "pending"),
        ("sam", "approve", "ok"),
        ("alice", "unmask", "ok"),
        ("alice", "mask", "error"),
    ]


async def test_logins_are_throttled_per_address_and_name_and_journalled_without_flooding(site: Site) -> None:
    guesser = Client(site.url)
    for _ in range(4):
        assert await guesser.login("alice", "wrong guess") == (401, {"error": "wrong name or password"})
    assert await guesser.login("nobody", "wrong guess") == (401, {"error": "wrong name or password"})
    status, body = await guesser.login("alice", "fifth guess")  # the fifth failure locks the name here
    assert status == 401
    status, body = await guesser.login(*OPERATOR)  # even the right password waits now
    assert status == 429 and "try again" in body["error"]
    assert (await Client(site.url).login(*VIEWER))[0] == 200  # other names are not locked
    # The first refusal of each kind is a row at once; the rest are counted into one summary
    # row per minute (and at a stop), so a flood of guesses cannot flood the journal.
    assert [r[2] for r in dashboard_rows(site) if r[0] == "alice"] == ["failed", "locked"]
    assert site.gateway.dashboard is not None and site.gateway.dashboard.app is not None
    site.gateway.dashboard.app.journal_refusals(everything=True)
    summaries = sorted(r[2] for r in dashboard_rows(site) if r[0] is None)
    assert summaries == ["failed x4 more", "locked x1 more"]


async def test_a_removed_account_is_logged_out_at_its_next_request(site: Site, tmp_path: Path) -> None:
    victor = Client(site.url)
    await victor.login(*VIEWER)
    assert (await victor.get("/api/snapshot"))[0] == 200
    remove_account(tmp_path / "operators.txt", VIEWER[0])
    status, body = await victor.get("/api/snapshot")
    assert status == 401 and "log in again" in body["error"]


async def test_a_removed_accounts_open_live_stream_ends_at_once(site: Site, tmp_path: Path) -> None:
    # Before, the stream only looked at its session every 15 s, and not at the accounts file:
    # a removed viewer's page kept receiving alarms 17 s later (issue 31, point 6).
    victor = Client(site.url)
    await victor.login(*VIEWER)
    heard: list[tuple[float, str]] = []

    def listen() -> None:
        with victor.opener.open(site.url + "/api/stream", timeout=30) as stream:
            for line in stream:
                if line.startswith(b"event: "):
                    heard.append((time.monotonic(), line[7:].strip().decode()))

    listener = asyncio.create_task(asyncio.to_thread(listen))
    for _ in range(200):
        if heard:
            break
        await asyncio.sleep(0.02)
    assert heard and heard[0][1] == "snapshot"
    remove_account(tmp_path / "operators.txt", VIEWER[0])
    removed = time.monotonic()
    await an_alarm(site)
    async with asyncio.timeout(5):
        await listener
    after = [kind for at, kind in heard if at >= removed]
    assert after == ["logout"], heard
    assert heard[-1][0] - removed < 2.0


@pytest.mark.parametrize("query", ["?node=seven", "?before=x", "?limit=many"])
async def test_a_bad_event_log_query_gets_a_clear_answer(site: Site, query: str) -> None:
    alice = Client(site.url)
    await alice.login(*OPERATOR)
    status, body = await alice.get("/api/log" + query)
    assert status == 400 and "numbers" in body["error"]


async def test_the_event_log_filters_by_kind_and_node(site: Site) -> None:
    await an_alarm(site)
    await site.climb(3)
    alice = Client(site.url)
    await alice.login(*OPERATOR)
    for _ in range(100):
        status, entries = await alice.get("/api/log?kind=event&node=3")
        if entries:
            break
        await asyncio.sleep(0.02)
    assert status == 200 and entries and {(e["kind"], e["node_id"]) for e in entries} == {("event", 3)}
    _, alarms = await alice.get("/api/log?kind=alarm")
    assert alarms and all(e["kind"] == "alarm" and e["text"].startswith("intrusion ") for e in alarms)
    assert alarms[-1]["text"].startswith("intrusion raised")  # newest first: the raise is last


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


async def test_a_300_mib_body_is_refused_as_it_streams_in_and_the_radio_path_goes_on(site: Site) -> None:
    """A login POST of 300 MiB (announced, or chunked with no length) is refused at its first
    16 KiB; the gateway (this process) does not grow by the body, and frames still flow."""
    host, port = site.url.removeprefix("http://").split(":")
    before = rss_mib()
    frames_ok = site.gateway.pipeline.counters["fence"]["frames_ok"]
    for framing in (b"Content-Length: 314572800\r\n", b"Transfer-Encoding: chunked\r\n"):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /api/login HTTP/1.1\r\nHost: %s:%s\r\n" % (host.encode(), port.encode()))
        writer.write(b"Content-Type: application/json\r\n" + framing + b"\r\n")
        chunk = b"x" * 65536
        sent = 0
        answer = asyncio.ensure_future(reader.readline())
        while not answer.done() and sent < 300 * 2**20:
            writer.write(b"10000\r\n" + chunk + b"\r\n" if b"chunked" in framing else chunk)
            sent += len(chunk)
            try:
                await asyncio.wait_for(writer.drain(), 5)
            except (ConnectionError, TimeoutError):
                break
            if sent % (4 * 2**20) == 0:
                await site.climb(1 + sent // (4 * 2**20) % 6)  # the fence keeps talking meanwhile
        status_line = await asyncio.wait_for(answer, 10)
        writer.close()
        assert status_line.startswith(b"HTTP/1.1 413"), status_line
        assert sent < 16 * 2**20, "the gateway read %d MiB before refusing" % (sent >> 20)
    await site.climb(3)
    for _ in range(100):
        if site.gateway.pipeline.counters["fence"]["frames_ok"] > frames_ok:
            break
        await asyncio.sleep(0.02)
    assert site.gateway.pipeline.counters["fence"]["frames_ok"] > frames_ok
    assert rss_mib() - before < 10
