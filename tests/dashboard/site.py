"""Real parts for the dashboard specs: a gateway with its dashboard on a free port, a real
Mosquitto, a pseudo-terminal for frames, accounts for an operator, a viewer and a supervisor, and the
Debian Chromium driven by Playwright."""

import asyncio
import json
import os
import shutil
import ssl
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page

from gateway.daemon import Gateway
from gateway.identity.accounts import add_account
from tests.gateway.harness import Broker, Pty, SimNode, free_port, serial, start, stop, write_site

OPERATOR = ("alice", "correct horse battery")
VIEWER = ("victor", "staple viewer only")
SUPERVISOR = ("sam", "supervisor of the night")
CHROMIUM = "/usr/bin/chromium"
# As the machine's notes say: without the background-networking flags, Chromium keeps
# dialling Google's hosts, which this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A control room's kiosk browser is set up to sound alarms without a click first (the
    # operators' guide says so); without it the page asks for a click ("Sound blocked").
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def perimeter(zones: int, nodes: int, spacing_m: float = 10.0) -> dict[str, Any]:
    """A straight fence with `nodes` nodes `spacing_m` apart in `zones` equal zones (config tables)."""
    length = nodes * spacing_m
    zone_m = length / zones
    return {
        "perimeter": {
            "polyline": [[0, 0], [length / 2, 0], [length / 2, length / 2]],
            "zone": [
                {"name": "Z%03d" % (i + 1), "start_m": i * zone_m, "end_m": (i + 1) * zone_m} for i in range(zones)
            ],
        },
        "alarms": {"fence_window_s": 0.1},
    }


def fence_nodes(nodes: int, spacing_m: float = 10.0) -> list[dict[str, Any]]:
    return [{"id": n, "name": "fence-%03d" % n, "chainage_m": (n - 0.5) * spacing_m} for n in range(1, nodes + 1)]


@dataclass
class Site:
    gateway: Gateway
    broker: Broker
    pty: Pty
    url: str
    nodes: dict[int, SimNode] = field(default_factory=dict)
    requested: list[str] = field(default_factory=list)  # every URL a logged-in page asked for

    def node(self, node_id: int) -> SimNode:
        return self.nodes.setdefault(node_id, SimNode(node_id))

    async def send(self, frame: bytes) -> None:
        """Write a frame into the serial line without blocking the loop the gateway reads it
        on (the two share one event loop here); ACKs coming back are drained and dropped."""
        assert self.pty.master is not None
        view = memoryview(frame)
        while view:
            self.pty.read()
            try:
                view = view[os.write(self.pty.master, view) :]
            except BlockingIOError:
                await asyncio.sleep(0.002)
        await asyncio.sleep(0)

    async def climb(self, node_id: int, peak: int = 3000) -> None:
        await self.send(self.node(node_id).fence(peak=peak))

    async def heartbeat(self, node_id: int, battery_mv: int) -> None:
        await self.send(self.node(node_id).heartbeat(battery_mv))


@asynccontextmanager
async def running_site(
    tmp_path: Path, zones: int = 3, nodes: int = 6, spacing_m: float = 10.0, tls: tuple[Path, Path] | None = None
) -> AsyncIterator[Site]:
    """A gateway with the dashboard on, its perimeter and nodes as `perimeter()` lays them out;
    with `tls` (certificate, key), on every address over HTTPS."""
    accounts = tmp_path / "operators.txt"
    add_account(accounts, OPERATOR[0], "operator", OPERATOR[1])
    add_account(accounts, VIEWER[0], "viewer", VIEWER[1])
    add_account(accounts, SUPERVISOR[0], "supervisor", SUPERVISOR[1])
    port = free_port()
    broker = Broker(tmp_path)
    broker.start()
    pty = Pty(tmp_path / "ttyFENCE")
    dashboard = {"listen": "%s:%d" % ("0.0.0.0" if tls else "127.0.0.1", port), "accounts_file": "operators.txt"}
    if tls:
        dashboard.update(tls_cert=str(tls[0]), tls_key=str(tls[1]))
    try:
        config = write_site(
            tmp_path,
            broker.port,
            transports=serial(("fence", pty.link)),
            nodes=fence_nodes(nodes, spacing_m),
            heartbeat_s=3600,
            extra=dict(perimeter(zones, nodes, spacing_m), dashboard=dashboard),
        )
        gateway, task = await start(config)
        try:
            for _ in range(100):
                if gateway.dashboard is not None and gateway.dashboard.address is not None:
                    break
                await asyncio.sleep(0.05)
            yield Site(gateway, broker, pty, "%s://127.0.0.1:%d" % ("https" if tls else "http", port))
        finally:
            await stop(gateway, task)
    finally:
        pty.unplug()
        broker.stop()


class Client:
    """A plain HTTP client with a cookie jar (urllib, off the event loop)."""

    def __init__(self, url: str, context: ssl.SSLContext | None = None) -> None:
        self.url = url
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), urllib.request.HTTPSHandler(context=context)
        )
        self.csrf = ""

    def _call(self, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=10) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    async def get(self, path: str) -> tuple[int, Any]:
        return await asyncio.to_thread(self._call, "GET", path, None, {})

    async def post(
        self, path: str, body: Any = None, *, csrf: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        sent = {"Content-Type": "application/json"}
        token = self.csrf if csrf is None else csrf
        if token:
            sent["X-CSRF-Token"] = token
        sent.update(headers or {})
        return await asyncio.to_thread(self._call, "POST", path, {} if body is None else body, sent)

    async def login(self, name: str, password: str) -> tuple[int, Any]:
        status, body = await self.post("/api/login", {"name": name, "password": password}, csrf="")
        if status == 200:
            self.csrf = body["csrf"]
        return status, body


def chromium_missing() -> str | None:
    if shutil.which(CHROMIUM) or Path(CHROMIUM).exists():
        return None
    return "no %s (scripts/setup.sh installs Debian's chromium)" % CHROMIUM


async def logged_in(browser: Browser, site: Site, who: tuple[str, str]) -> Page:
    """A page of its own, logged in through the login page, with the live stream open."""
    page = await browser.new_page(viewport={"width": 1500, "height": 1000})
    page.set_default_timeout(10_000)
    page.on("request", lambda request: site.requested.append(request.url))
    await page.goto(site.url + "/")
    assert page.url.endswith("/login"), "the dashboard must send a stranger to the login page"
    await page.fill("#name", who[0])
    await page.fill("#password", who[1])
    await page.click("#login-button")
    await page.wait_for_url(site.url + "/")
    await page.wait_for_selector("#link.up")  # the live stream is open
    return page
