"""The operator dashboard: a Starlette app inside the gateway's own event loop.

Pages and their assets are files in `static/`, served by the gateway itself (a security
office has no internet). The page reads one live stream (server-sent events): a full
snapshot first, then every change the gateway commits. Actions go through the same
operator desk as MQTT requests, under the name of the logged-in account, never a name the
browser sends, and each is journalled, refused ones included.

Protections, each with a spec in tests/dashboard/:
- no session, no data: every /api route but login answers 401 without a live session;
- CSRF: a change needs the session's CSRF token in `X-CSRF-Token`, a JSON body (which a
  cross-site form cannot send) and, when the browser says where it comes from, our origin;
- a viewer may look but never change anything (403, journalled);
- logins are throttled per name, and the password is checked off the event loop.
"""

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.clock import utc_iso
from gateway.dashboard import console
from gateway.dashboard.live import live_stream
from gateway.dashboard.sessions import COOKIE, Session, SessionStore
from gateway.dashboard.site import Site
from gateway.dashboard.state import DashboardState
from gateway.dashboard.throttle import LoginLimits, LoginThrottle, Refusals
from gateway.dashboard.views import LOG_KINDS, log_entry, snapshot
from gateway.identity.accounts import AccountFile, check_password

log = logging.getLogger("perimeter.dashboard")

STATIC = Path(__file__).parent / "static"
# Leaflet, pinned in package.json beside this file and installed by scripts/setup.sh (npm ci):
# the page draws the site plan with it, served from here (a security office has no internet).
LEAFLET = Path(__file__).parent / "node_modules" / "leaflet" / "dist"
MAX_BODY = 16 * 1024
REFUSAL_WINDOW_S = 60.0  # refused logins from one address: one journal row per this
# The page's own files only: no inline script, no other origin, never inside a frame.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class SecurityHeaders:
    """Adds the headers above to every response (a plain ASGI wrapper: it leaves the
    live stream unbuffered)."""

    def __init__(self, app: ASGIApp, secure: bool) -> None:
        self.app = app
        self.headers = list(SECURITY_HEADERS)
        if secure:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + self.headers
                if scope["path"].startswith("/api/"):
                    message["headers"].append((b"cache-control", b"no-store"))
            await send(message)

        await self.app(scope, receive, with_headers)


class Dashboard:
    """The dashboard's routes over one site, its accounts and its sessions."""

    def __init__(
        self,
        site: Site,
        live: DashboardState,
        accounts: AccountFile,
        sessions: SessionStore,
        secure: bool,
        limits: LoginLimits | None = None,
    ) -> None:
        self.site = site
        self.live = live
        self.throttle = LoginThrottle(limits or LoginLimits(), sessions.clock)
        self.refusals = Refusals(REFUSAL_WINDOW_S, site.now)
        self.accounts = accounts
        self.sessions = sessions
        self.secure = secure
        self._transactions = 0
        routes = [
            Route("/", self.index),
            Route("/login", self.login_page),
            Route("/api/login", self.login, methods=["POST"]),
            Route("/api/logout", self.logout, methods=["POST"]),
            Route("/api/session", self.session_info),
            Route("/api/snapshot", self.snapshot),
            Route("/api/log", self.event_log),
            Route("/api/stream", self.stream),
            Route("/api/alarms/{alarm_id}", partial(console.detail, self)),
            Route("/api/alarms/{alarm_id}/{action:str}", self.alarm_action, methods=["POST"]),
            Route("/api/console/mute", partial(console.mute, self), methods=["POST"]),
            Route("/api/plan/image", partial(console.plan_image, self)),
            Route("/handover", partial(console.handover_page, self)),
            Route("/api/handover", partial(console.handover, self)),
            Route("/api/zones/{zone}/{action:str}", self.zone_action, methods=["POST"]),
            Route("/api/requests/{request_id}/{action:str}", self.request_action, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
            Mount("/vendor/leaflet", StaticFiles(directory=LEAFLET, check_dir=False), name="leaflet"),
        ]
        self.app = SecurityHeaders(Starlette(routes=routes), secure)

    # -- who is asking ----------------------------------------------------------------------------

    def _session(self, request: Request) -> Session:
        session = self.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            raise Refused(401, "log in first")
        if not self._account_holds(session):
            raise Refused(401, "your account has changed; log in again")
        return session

    def _account_holds(self, session: Session) -> bool:
        """Whether the session's account is still in the accounts file with the same role; if
        not (removed or demoted since login), every session of it ends now."""
        account = self.accounts.get(session.account.name)
        if account is None or account.role != session.account.role:
            self.sessions.close_account(session.account.name)
            return False
        return True

    async def _body(self, request: Request) -> dict[str, Any]:
        """A change's JSON body; only JSON, so that a cross-site form cannot post one."""
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise Refused(415, "send JSON")
        # Counted as it streams in: a 300 MiB body is refused at its first 16 KiB, never held.
        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_BODY:
            raise Refused(413, "request too large")
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_BODY:
                raise Refused(413, "request too large")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise Refused(400, "the body is not JSON") from None
        if not isinstance(body, dict):
            raise Refused(400, "the body must be a JSON object")
        return body

    def _same_origin(self, request: Request) -> None:
        origin = request.headers.get("origin")
        if origin is not None and origin != "%s://%s" % (request.url.scheme, request.headers.get("host", "")):
            raise Refused(403, "cross-origin request refused")

    def _csrf(self, request: Request, session: Session) -> None:
        token = request.headers.get("x-csrf-token", "")
        try:
            self._same_origin(request)
            if not hmac.compare_digest(token.encode(), session.csrf.encode()):
                raise Refused(403, "missing or wrong CSRF token; reload the page")
        except Refused as exc:
            # A forged request riding a live session: worth a line in the journal.
            self._journal(session.account.name, request.url.path, "refused: %s" % exc, request)
            raise

    async def _guard(self, request: Request, handler: Callable[[], Awaitable[Response]]) -> Response:
        try:
            return await handler()
        except Refused as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except ClientDisconnect:  # gone mid-body (or closed by the web gate): no answer, no traceback
            return Response(status_code=400)

    # -- pages ------------------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        if self.sessions.get(request.cookies.get(COOKIE)) is None:
            return RedirectResponse("/login", status_code=303)
        return FileResponse(STATIC / "index.html")

    async def login_page(self, request: Request) -> Response:
        return FileResponse(STATIC / "login.html")

    # -- login ------------------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        async def handle() -> Response:
            self._same_origin(request)
            body = await self._body(request)
            name, password = body.get("name"), body.get("password")
            if not isinstance(name, str) or not isinstance(password, str) or not name or not password:
                raise Refused(400, "give a name and a password")
            name = name[:64]
            address = request.client.host if request.client else "-"
            wait = self.throttle.wait(address, name)
            if wait:
                self._refused(name, "locked", request)
                raise Refused(429, "too many failed logins; try again in %d s" % (int(wait) + 1))
            if not self.throttle.begin(address, name):
                self._refused(name, "busy", request)
                raise Refused(429, "a login for this name from your address is being checked; try again in a moment")
            account = self.accounts.get(name)
            # Checked off the loop (scrypt takes ~50 ms); a made-up name costs as much as a real one.
            hashed = account.hashed if account else _DUMMY_HASH
            try:
                ok = await asyncio.to_thread(check_password, password, hashed)
            finally:
                self.throttle.end(address, name)
            if account is None or not ok:
                locked = self.throttle.failed(address, name)
                self._refused(name, "locked" if locked else "failed", request)
                raise Refused(401, "wrong name or password")
            self.throttle.succeeded(address, name)
            self.sessions.sweep()  # sessions nobody came back to go here, not at their next request
            session = self.sessions.open(account)
            self._journal(name, "login", "ok", request)
            response = JSONResponse({"name": account.name, "role": account.role, "csrf": session.csrf})
            response.set_cookie(
                COOKIE,
                session.token,
                max_age=int(self.sessions.absolute_s),
                httponly=True,
                samesite="strict",
                secure=self.secure,
                path="/",
            )
            return response

        return await self._guard(request, handle)

    async def logout(self, request: Request) -> Response:
        async def handle() -> Response:
            session = self._session(request)
            self._csrf(request, session)
            self.sessions.close(session.token)
            self._journal(session.account.name, "logout", "ok", request)
            response = JSONResponse({"ok": True})
            response.delete_cookie(COOKIE, path="/")
            return response

        return await self._guard(request, handle)

    async def session_info(self, request: Request) -> Response:
        async def handle() -> Response:
            session = self._session(request)
            account = session.account
            return JSONResponse({"name": account.name, "role": account.role, "csrf": session.csrf})

        return await self._guard(request, handle)

    # -- what the page shows ----------------------------------------------------------------------

    async def snapshot(self, request: Request) -> Response:
        async def handle() -> Response:
            self._session(request)
            return JSONResponse(self._snapshot())

        return await self._guard(request, handle)

    def _snapshot(self) -> dict[str, Any]:
        return snapshot(self.site, self.live.zone_state, self.live.track_trails)

    async def event_log(self, request: Request) -> Response:
        async def handle() -> Response:
            self._session(request)
            kinds = [k for k in request.query_params.getlist("kind") if k in LOG_KINDS] or list(LOG_KINDS)
            try:
                node = request.query_params.get("node")
                node_id = int(node) if node else None
                before = request.query_params.get("before")
                limit = min(500, max(1, int(request.query_params.get("limit", "200"))))
                entries = self.site.recent(kinds, node_id, int(before) if before else None, limit)
            except ValueError:
                raise Refused(400, "node, before and limit are numbers") from None
            return JSONResponse([log_entry(e) for e in entries])

        return await self._guard(request, handle)

    async def stream(self, request: Request) -> Response:
        try:
            session = self._session(request)
        except Refused as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        return StreamingResponse(
            self._events(session),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    def _events(self, session: Session) -> AsyncIterator[str]:
        return live_stream(
            self.live.feed,
            self._snapshot,
            lambda: self._account_holds(session),
            lambda: self.sessions.get(session.token) is not None,
            self.site.now,
        )

    # -- actions ----------------------------------------------------------------------------------

    async def alarm_action(self, request: Request) -> Response:
        action = request.path_params["action"]
        if action not in ("ack", "clear"):
            return JSONResponse({"error": "no such action"}, status_code=404)
        return await self._act(request, action, {"alarm_id": request.path_params["alarm_id"]}, ("note", "reason"))

    async def zone_action(self, request: Request) -> Response:
        action = request.path_params["action"]
        if action not in ("mask", "unmask"):
            return JSONResponse({"error": "no such action"}, status_code=404)
        return await self._act(request, action, {"zone": request.path_params["zone"]}, ("reason", "minutes"))

    async def request_action(self, request: Request) -> Response:
        """A supervisor approves or refuses another account's silencing request."""
        action = request.path_params["action"]
        if action not in ("approve", "refuse"):
            return JSONResponse({"error": "no such action"}, status_code=404)
        return await self._act(request, action, {"request_id": request.path_params["request_id"]}, ("note",))

    async def _act(self, request: Request, command: str, target: dict[str, Any], keys: tuple[str, ...]) -> Response:
        async def handle() -> Response:
            session = self._session(request)
            self._csrf(request, session)
            body = await self._body(request)
            account = session.account
            self._transactions += 1
            payload = dict(target, transaction="dashboard-%d" % self._transactions)
            payload.update({k: body[k] for k in keys if k in body})
            # The desk decides what this account's role allows (as for MQTT) and journals it.
            response = self.site.request(account.name, command, json.dumps(payload).encode())
            if response is None:
                reason = self.site.last_error()
                raise Refused(503, "the journal could not take it (%s); nothing was changed, try again" % reason)
            if response["status"] == "error":
                raise Refused(403 if response.get("forbidden") else 400, str(response["error"]))
            return JSONResponse(response["data"], status_code=202 if response["status"] == "pending" else 200)

        return await self._guard(request, handle)

    def _refused(self, name: str, outcome: str, request: Request) -> None:
        """A refused login: journalled if it is the first from its address in the window, else
        counted into that window's summary row (a flood writes a row a minute, not thousands)."""
        self.journal_refusals()
        client = request.client.host if request.client else "-"
        if self.refusals.refused((client, outcome)):
            self._journal(name, "login", outcome, request)

    def journal_refusals(self, everything: bool = False) -> None:
        """One row for each window of refusals that has passed (or, at a stop, every window)
        with more than its first."""
        for key, count, since in self.refusals.due(everything):
            client, outcome = key if isinstance(key, tuple) else ("-", str(key))
            summary = {"operator": None, "action": "login", "outcome": "%s x%d more" % (outcome, count)}
            self.site.record(dict(summary, client=client, count=count, since=utc_iso(since)))

    def _journal(
        self, name: str, action: str, outcome: str, request: Request, target: dict[str, Any] | None = None
    ) -> None:
        client = request.client.host if request.client else None
        data: dict[str, Any] = {"operator": name, "action": action, "outcome": outcome, "client": client}
        if target:
            data["target"] = target
        self.site.record(data)


# A hash nobody's password matches, checked for unknown names so that timing does not tell
# which names exist. Made with the real parameters, once, at import.
_DUMMY_HASH = "scrypt$16384$8$1$%s$%s" % ("00" * 16, "00" * 32)
