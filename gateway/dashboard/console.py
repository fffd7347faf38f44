"""The console's own routes beside the live page: an alarm's evidence, the sound's mute, the
plan's image, the shift handover. Each answers only within a live session (the app's guard);
a mute is a dashboard happening the journal keeps: an operator who silences the alarm sound
at 3 a.m. is on record, with until when."""

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from gateway.clock import utc_iso
from gateway.dashboard.alarm_detail import alarm_detail
from gateway.dashboard.sessions import COOKIE, Session, SessionStore
from gateway.dashboard.site import Site
from gateway.site_plan import site_time


class Dashboard(Protocol):
    """What these routes use of the app (`app.py`): the site, sessions, and its guards."""

    site: Site
    sessions: SessionStore

    def _session(self, request: Request) -> Session: ...

    def _csrf(self, request: Request, session: Session) -> None: ...

    async def _body(self, request: Request) -> dict[str, Any]: ...

    async def _guard(self, request: Request, handler: Callable[[], Awaitable[Response]]) -> Response: ...


SHIFT_S = 12 * 3600.0  # the handover page's shift unless told
STATIC = Path(__file__).parent / "static"
MAX_MUTE_MINUTES = 10  # the sound comes back by itself: a mute is a moment, not a setting


async def detail(app: Dashboard, request: Request) -> Response:
    async def handle() -> Response:
        app._session(request)
        shown = alarm_detail(app.site, request.path_params["alarm_id"])
        if shown is None:
            return JSONResponse({"error": "no such alarm"}, status_code=404)
        return JSONResponse(shown)

    return await app._guard(request, handle)


async def mute(app: Dashboard, request: Request) -> Response:
    async def handle() -> Response:
        session = app._session(request)
        app._csrf(request, session)
        body = await app._body(request)
        minutes = body.get("minutes")
        if not isinstance(minutes, int | float) or isinstance(minutes, bool) or not 0 < minutes <= MAX_MUTE_MINUTES:
            return JSONResponse({"error": "minutes: 1 to %d" % MAX_MUTE_MINUTES}, status_code=400)
        until = app.site.now() + 60 * minutes
        row: dict[str, Any] = {"operator": session.account.name, "action": "mute", "outcome": "sound muted"}
        row.update({"minutes": minutes, "until": utc_iso(until), "open_alarms": len(app.site.open_alarms())})
        if not app.site.record(row):
            return JSONResponse({"error": "the journal could not take it; the sound stays on"}, status_code=503)
        return JSONResponse({"until": until})

    return await app._guard(request, handle)


async def plan_image(app: Dashboard, request: Request) -> Response:
    async def handle() -> Response:
        app._session(request)
        if not app.site.plan.image:
            return JSONResponse({"error": "no plan image"}, status_code=404)
        return FileResponse(app.site.plan.image, headers={"Cache-Control": "private, max-age=3600"})

    return await app._guard(request, handle)


async def handover_page(app: Dashboard, request: Request) -> Response:
    if app.sessions.get(request.cookies.get(COOKIE)) is None:
        return RedirectResponse("/login", status_code=303)
    return FileResponse(STATIC / "handover.html", headers={"Cache-Control": "no-store"})


async def handover(app: Dashboard, request: Request) -> Response:
    """The handover for ?start=&end= (the site's local time, as `perimeter journal report
    --shift` takes them); the last twelve hours unless told."""

    async def handle() -> Response:
        app._session(request)
        now = app.site.now()
        try:
            start_text, end_text = request.query_params.get("start"), request.query_params.get("end")
            end = site_time(end_text, app.site.timezone) if end_text else now
            start = site_time(start_text, app.site.timezone) if start_text else end - SHIFT_S
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if end <= start:
            return JSONResponse({"error": "the shift must end after it starts"}, status_code=400)
        return JSONResponse(app.site.shift(start, end))

    return await app._guard(request, handle)
