"""`perimeter region serve`: the regional picture for analysts, read-only.

The region's prisons on a map with their incidents (points; drones' tracks as lines), counts
per prison and kind, the hour-of-week pattern, filters by time, prison and kind, and the
police's export (GeoJSON, CSV) of what is shown. HTTP Basic over TLS (`--tls-cert`), accounts
from `perimeter region analyst add`. Every route answers GET only: nothing here can act on a
site, and the sites' bridges carry nothing back to them anyway.
"""

import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway import dashboard
from region import analysts, export
from region.store import HOUR_OF_WEEK_SQL, SESSION

STATIC = Path(__file__).parent / "static"
LEAFLET = Path(dashboard.__file__).parent / "node_modules" / "leaflet" / "dist"  # the console's, pinned
LOGIN_CACHE_S = 600.0  # a page polls; the scrypt check is not paid on every request
MAX_WINDOW = timedelta(days=400)


class BadQuery(ValueError):
    pass


def _time(request: Request, name: str, default: datetime) -> datetime:
    text = request.query_params.get(name)
    if not text:
        return default
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadQuery("%s: not a time: %r" % (name, text[:40])) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _filters(request: Request) -> dict[str, Any]:
    end = _time(request, "to", datetime.now(UTC))
    start = _time(request, "from", end - timedelta(days=30))
    if not start < end or end - start > MAX_WINDOW:
        raise BadQuery("from must be before to, at most 400 days apart")
    sites = [s for s in request.query_params.getlist("site") if s] or None
    kinds = [k for k in request.query_params.getlist("kind") if k] or None
    bbox = None
    if request.query_params.get("bbox"):
        try:
            west, south, east, north = (float(v) for v in request.query_params["bbox"].split(","))
        except ValueError:
            raise BadQuery("bbox: expected W,S,E,N in degrees") from None
        bbox = (west, south, east, north)
    return {"start": start, "end": end, "sites": sites, "kinds": kinds, "bbox": bbox}


class Analysts(BaseHTTPMiddleware):
    def __init__(self, app: Any, accounts_file: Path) -> None:
        super().__init__(app)
        self.file = accounts_file
        self.cache: dict[str, tuple[str, float]] = {}

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.method not in ("GET", "HEAD"):
            return PlainTextResponse("the regional picture is read-only: nothing here acts on a site", 405)
        header = request.headers.get("authorization", "")
        role = None
        if header.lower().startswith("basic "):
            import base64

            try:
                name, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except ValueError:
                name, password = "", ""
            key = hashlib.sha256(("%s\0%s" % (name, password)).encode()).hexdigest()
            cached = self.cache.get(key)
            if cached and cached[1] > time.time():
                role = cached[0]
            else:
                role = analysts.login(analysts.read(self.file), name, password)
                if role:
                    self.cache[key] = (role, time.time() + LOGIN_CACHE_S)
            request.state.analyst = (name, role)
        if role is None:
            return PlainTextResponse("log in as a regional analyst", 401,
                                     headers={"WWW-Authenticate": 'Basic realm="perimeter region"'})  # fmt: skip
        return await call_next(request)


def app(dsn: str, accounts_file: Path, tiles: str = "") -> Starlette:
    pool: dict[str, Any] = {}

    async def db() -> Any:
        if "pool" not in pool:
            pool["pool"] = await asyncpg.create_pool(dsn, min_size=1, max_size=4, server_settings=SESSION)
        return pool["pool"]

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "region.html")

    async def config(request: Request) -> Response:
        name, role = request.state.analyst
        return JSONResponse({"analyst": name, "role": role, "tiles": tiles})

    async def shown(request: Request) -> tuple[dict[str, Any], list[Any]]:
        """The filters asked for and the incidents they select (BadQuery for bad ones)."""
        f = _filters(request)
        async with (await db()).acquire() as conn:
            return f, await export.window(conn, f["start"], f["end"], f["sites"], f["kinds"], f["bbox"])

    async def incidents(request: Request) -> Response:
        try:
            _, found = await shown(request)
        except BadQuery as exc:
            return PlainTextResponse(str(exc), 400)
        return JSONResponse(export.geojson(found))

    async def download(request: Request) -> Response:
        try:
            f, found = await shown(request)
        except BadQuery as exc:
            return PlainTextResponse(str(exc), 400)
        fmt = request.path_params["fmt"]
        if fmt not in ("csv", "geojson"):
            return PlainTextResponse("export.geojson or export.csv", 404)
        stamp = f["end"].strftime("%Y%m%dT%H%MZ")
        if fmt == "csv":
            body, media = export.csv_text(found), "text/csv"
        else:
            body, media = json.dumps(export.geojson(found)), "application/geo+json"
        disposition = 'attachment; filename="incidents-%s.%s"' % (stamp, fmt)
        return Response(body, media_type=media, headers={"Content-Disposition": disposition})

    async def pattern(request: Request) -> Response:
        try:
            f = _filters(request)
        except BadQuery as exc:
            return PlainTextResponse(str(exc), 400)
        zone = request.query_params.get("tz", "UTC")[:64]
        async with (await db()).acquire() as conn:
            try:
                rows = await conn.fetch(HOUR_OF_WEEK_SQL, f["start"], f["end"], zone)
            except asyncpg.PostgresError:
                return PlainTextResponse("unknown time zone %r" % zone, 400)
            prisons = await conn.fetch(
                "SELECT coalesce(i.site, s.site) AS site, coalesce(i.n, 0) AS n, "
                "coalesce(ST_X(ST_Centroid(s.perimeter)), i.lon) AS lon, "
                "coalesce(ST_Y(ST_Centroid(s.perimeter)), i.lat) AS lat, s.plan AS plan FROM "
                "(SELECT site, count(*) AS n, avg(ST_X(geom)) AS lon, avg(ST_Y(geom)) AS lat FROM incidents "
                "WHERE geom IS NOT NULL GROUP BY site) i FULL JOIN sites s ON s.site = i.site ORDER BY 1"
            )
        keep = [r for r in rows if (not f["sites"] or r["site"] in f["sites"]) and
                (not f["kinds"] or r["kind"] in f["kinds"])]  # fmt: skip
        grid = [[0] * 24 for _ in range(7)]
        by_prison: dict[str, dict[str, int]] = {}
        for r in keep:
            grid[r["day"] - 1][r["hour"]] += r["n"]
            counts = by_prison.setdefault(r["site"], {})
            counts[r["kind"]] = counts.get(r["kind"], 0) + r["n"]
        return JSONResponse({
            "hour_of_week": grid,
            "by_prison": by_prison,
            "prisons": [
                {"site": p["site"], "lon": p["lon"], "lat": p["lat"], "incidents": p["n"],
                 "plan": json.loads(p["plan"]) if p["plan"] else None}
                for p in prisons
            ],
        })  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        if "pool" in pool:
            await pool["pool"].close()

    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/config", config),
            Route("/api/incidents", incidents),
            Route("/api/pattern", pattern),
            Route("/export.{fmt:str}", download),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
            Mount("/vendor/leaflet", StaticFiles(directory=LEAFLET, check_dir=False), name="leaflet"),
        ],
        middleware=[Middleware(Analysts, accounts_file=accounts_file)],
        lifespan=lifespan,
    )
