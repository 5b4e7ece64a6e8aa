"""The KPI API and live page: one endpoint per KPI (the same answers as `pulse kpi`), stats, health, docs.

Order of work for one request: bearer token (when configured) -> parameter checks (4xx with a reason)
-> a read-only connection from the pool -> `pulse.warehouse.kpis` (the one implementation the CLI uses
too) -> JSON. Every refusal is `{"error": code, "detail": ...}`; a database that is down answers 503.
"""

from __future__ import annotations

import hmac
import logging
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException

from pulse.errors import ECHO_LIMIT, BadRequestError, quoted
from pulse.ops.metrics import ApiMetrics
from pulse.settings import Settings
from pulse.warehouse.db import reader_pool
from pulse.warehouse.kpis import KPI_NAMES, KpiWindow, as_of, load_stats, run_kpi, today_in

STATIC_DIR = Path(__file__).parent / "static"
# Swagger UI is installed by scripts/install.sh into the venv (never fetched from a CDN at run time).
SWAGGER_DIR = Path(sys.prefix) / "tools" / "node_modules" / "swagger-ui-dist"
PAGE_REFRESH_S = 2.0
POOL_WAIT_S = 3.0
MAX_TEXT_PARAM = 64
_log = logging.getLogger(__name__)


class ApiError(Exception):
    """A refusal with an HTTP status, a stable reason code and a message for people."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers or {}


class KpiReader:
    """Read-only warehouse access for the routes: a connection pool on the reader role."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = reader_pool(settings, name="pulse-api", max_size=settings.api_pool_size)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection; the database being down or unreachable becomes a 503."""
        try:
            with self.pool.connection(timeout=POOL_WAIT_S) as conn:
                yield conn
        except psycopg.errors.InvalidParameterValue as exc:  # a zone Python knows and PostgreSQL does not
            raise ApiError(422, "invalid_parameter", _first_line(exc)) from None
        except psycopg.OperationalError as exc:  # includes the pool's timeout
            _log.warning("KPI read failed: %s", _first_line(exc))
            raise ApiError(503, "database_unavailable", f"the warehouse is unavailable: {_first_line(exc)}",
                           {"Retry-After": "5"}) from None

    def window(self, day: str | None, tz: str | None, include_bots: bool | None) -> KpiWindow:
        """Checked KPI window: a known IANA zone, a real date (default: today there)."""
        try:
            return KpiWindow.parse(day, tz, include_bots, self.settings)
        except BadRequestError as exc:
            raise ApiError(422, "invalid_parameter", f"{exc.param}: {exc}") from None

    def kpi(self, name: str, day: str | None, tz: str | None, include_bots: bool | None,
            country: str | None = None, product_id: str | None = None) -> dict[str, Any]:
        """One KPI answer, exactly as `pulse kpi NAME --format json` prints it."""
        window = self.window(day, tz, include_bots)
        if country is not None:
            _check_text("country", country)
        if product_id is not None:
            _check_text("product_id", product_id)
        with self.connection() as conn:
            try:
                return run_kpi(conn, name, window, country=country, product_id=product_id)
            except BadRequestError as exc:
                raise ApiError(400, "bad_request", str(exc)) from None


def _check_text(name: str, value: str) -> None:
    """Identifiers are 1-64 printable characters (PostgreSQL text cannot even hold U+0000)."""
    if not value.strip() or len(value) > MAX_TEXT_PARAM or any(ch < " " or ch == "\x7f" for ch in value):
        raise ApiError(422, "invalid_parameter",
                       f"{name}: {quoted(value)} is not valid (1 to {MAX_TEXT_PARAM} printable characters)")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------------------------- parameters
DateParam = Annotated[str | None, Query(alias="date", description="Local calendar day, YYYY-MM-DD"
                                        " (default: today in `tz`).", examples=["2026-11-28"])]
TzParam = Annotated[str | None, Query(description="IANA time zone that defines the day (default:"
                                      " PULSE_TIMEZONE).", examples=["Europe/Berlin"])]
BotsParam = Annotated[bool | None, Query(description="Count bot traffic (default: PULSE_INCLUDE_BOTS).")]
CountryParam = Annotated[str, Query(description="ISO country code or English name of the storefront country.",
                                    examples=["DE"])]
ProductParam = Annotated[str, Query(description="The product id.", examples=["96672"])]
BearerCredentials = Annotated[
    HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False, description="PULSE_API_TOKEN"))
]


def create_app(settings: Settings) -> FastAPI:
    """The API and the live page as an ASGI app; the connection pool opens at startup, closes at shutdown."""
    reader = KpiReader(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reader.pool.open(wait=False)  # a database that is down now answers 503 until it is back
        try:
            yield
        finally:
            reader.pool.close()

    app = FastAPI(
        title="pulse KPI API",
        summary="The six Glamira behaviour KPIs, visitors and revenue, live from the pulse warehouse (read-only).",
        description="Every answer carries `as_of`: the newest event time, the last commit time, and "
        "`rollups_through` (every batch committed before it is counted in the rollups the KPIs read). "
        "Errors are `{\"error\": code, \"detail\": message}`.",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.reader = reader
    _add_error_handlers(app)
    api = APIRouter(prefix="/api", dependencies=[Depends(_token_check(settings))] if settings.api_token else [])

    @api.get("/kpis", summary="The KPI endpoints")
    def kpi_index() -> dict[str, Any]:
        return {"kpis": [{"name": name, "path": f"/api/kpis/{name}"} for name in KPI_NAMES]}

    @api.get("/kpis/top-products", summary="KPI 1: the 10 products with the most views in the day")
    def top_products(day: DateParam = None, tz: TzParam = None, include_bots: BotsParam = None) -> dict[str, Any]:
        return reader.kpi("top-products", day, tz, include_bots)

    @api.get("/kpis/top-countries", summary="KPI 2: the 10 storefront countries with the most views")
    def top_countries(day: DateParam = None, tz: TzParam = None, include_bots: BotsParam = None) -> dict[str, Any]:
        return reader.kpi("top-countries", day, tz, include_bots)

    @api.get("/kpis/top-referrers", summary="KPI 3: the 5 referrer URLs with the most views (direct excluded)")
    def top_referrers(day: DateParam = None, tz: TzParam = None, include_bots: BotsParam = None) -> dict[str, Any]:
        return reader.kpi("top-referrers", day, tz, include_bots)

    @api.get("/kpis/stores-by-country", summary="KPI 4: store ids of one country and their views")
    def stores_by_country(country: CountryParam, day: DateParam = None, tz: TzParam = None,
                          include_bots: BotsParam = None) -> dict[str, Any]:
        return reader.kpi("stores-by-country", day, tz, include_bots, country=country)

    @api.get("/kpis/product-hourly", summary="KPI 5: views of one product per local hour (24 rows)")
    def product_hourly(product_id: ProductParam, day: DateParam = None, tz: TzParam = None,
                       include_bots: BotsParam = None) -> dict[str, Any]:
        return reader.kpi("product-hourly", day, tz, include_bots, product_id=product_id)

    @api.get("/kpis/browser-os-hourly", summary="KPI 6: views per local hour by browser and by OS")
    def browser_os_hourly(day: DateParam = None, tz: TzParam = None,
                          include_bots: BotsParam = None) -> dict[str, Any]:
        return reader.kpi("browser-os-hourly", day, tz, include_bots)

    @api.get("/kpis/visitors", summary="Unique visitors of the day (exact), in all and per storefront")
    def visitors(day: DateParam = None, tz: TzParam = None, include_bots: BotsParam = None) -> dict[str, Any]:
        return reader.kpi("visitors", day, tz, include_bots)

    @api.get("/kpis/sessions", summary="Visits of the day: bounce rate, average duration, pages per visit")
    def sessions(day: DateParam = None, tz: TzParam = None, include_bots: BotsParam = None) -> dict[str, Any]:
        return reader.kpi("sessions", day, tz, include_bots)

    @api.get("/kpis/funnel", summary="Visits reaching each shopping step in order, with conversion rates")
    def funnel(day: DateParam = None, tz: TzParam = None, include_bots: BotsParam = None) -> dict[str, Any]:
        return reader.kpi("funnel", day, tz, include_bots)

    @api.get("/kpis/campaigns", summary="Visits, bounce rate, orders and revenue by landing source and UTM campaign")
    def campaigns(day: DateParam = None, tz: TzParam = None, include_bots: BotsParam = None) -> dict[str, Any]:
        return reader.kpi("campaigns", day, tz, include_bots)

    @api.get("/kpis/realtime", summary="Visitors right now: an event in the last 5 minutes, per storefront")
    def realtime(day: DateParam = None, tz: TzParam = None, include_bots: BotsParam = None) -> dict[str, Any]:
        return reader.kpi("realtime", day, tz, include_bots)

    @api.get("/kpis/revenue", summary="Orders, items, revenue and average order value per currency and storefront")
    def revenue(day: DateParam = None, tz: TzParam = None, include_bots: BotsParam = None) -> dict[str, Any]:
        return reader.kpi("revenue", day, tz, include_bots)

    @api.get("/kpis/{name}", include_in_schema=False)
    def unknown_kpi(name: str) -> dict[str, Any]:
        raise ApiError(404, "unknown_kpi", f"unknown KPI {quoted(name)}; choose one of: {', '.join(KPI_NAMES)}")

    @api.get("/stats", summary="Events loaded, duplicates skipped, quarantined by reason, freshness")
    def stats() -> dict[str, Any]:
        with reader.connection() as conn:
            return load_stats(conn)

    @api.get("/page", summary="What the live page needs: default zone, stale threshold, server clock")
    def page_config() -> dict[str, Any]:
        return {
            "tz": settings.timezone, "today": today_in(settings.timezone).isoformat(),
            "stale_after_s": settings.api_stale_after_s, "refresh_s": PAGE_REFRESH_S,
            "server_time": datetime.now(UTC).isoformat(), "kpis": list(KPI_NAMES),
        }

    app.include_router(api)

    @app.get("/healthz", summary="The warehouse is reachable (200) or not (503); open without a token")
    def healthz() -> JSONResponse:
        try:
            with reader.connection() as conn:
                freshness = as_of(conn)
        except ApiError as exc:
            return JSONResponse({"status": "unavailable", "database": "down", "detail": exc.detail}, 503)
        return JSONResponse({"status": "ok", "database": "up", "as_of": freshness})

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        if not (SWAGGER_DIR / "swagger-ui-bundle.js").is_file():
            return HTMLResponse("<p>Interactive docs need Swagger UI: run <code>bash scripts/install.sh</code>."
                                " The schema is at <a href='/openapi.json'>/openapi.json</a>.</p>", 503)
        return get_swagger_ui_html(openapi_url="/openapi.json", title="pulse KPI API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if SWAGGER_DIR.is_dir():
        app.mount("/docs-assets", StaticFiles(directory=SWAGGER_DIR), name="docs-assets")

    @app.middleware("http")
    async def no_store(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        if request.url.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    # ---- metrics: GET /metrics (Prometheus text format, open like /healthz) and per-request counting
    metrics = ApiMetrics()
    app.state.metrics = metrics

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.middleware("http")
    async def count_requests(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response: Response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", None) or next(
            (mount for mount in ("/static", "/docs-assets") if request.url.path.startswith(mount + "/")), "unmatched")
        metrics.observe(route, request.method, response.status_code, time.perf_counter() - started)
        return response

    return app


def _token_check(settings: Settings) -> Any:
    """A dependency that lets a request through only with the configured bearer token."""
    assert settings.api_token is not None
    expected = settings.api_token.get_secret_value().encode()

    def check(credentials: BearerCredentials) -> None:
        challenge = {"WWW-Authenticate": "Bearer"}
        if credentials is None:
            raise ApiError(401, "unauthorized", "this API needs the header `Authorization: Bearer <token>`",
                           challenge)
        if not hmac.compare_digest(credentials.credentials.encode(), expected):
            raise ApiError(401, "unauthorized", "the bearer token is not valid", challenge)

    return check


def _add_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return JSONResponse({"error": exc.code, "detail": exc.detail}, exc.status, headers=exc.headers)

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ())[1:]) or "request"
            if err.get("type") == "missing":
                problems.append(f"{where}: this query parameter is required")
            else:
                problems.append(f"{quoted(where)[1:-1]}: {err.get('msg')} (got {quoted(err.get('input'))})")
        return JSONResponse({"error": "invalid_parameter", "detail": "; ".join(problems)}, 422)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": code, "detail": str(exc.detail)[:ECHO_LIMIT]}, exc.status_code,
                            headers=exc.headers)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Run the API and live page with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(settings), host=host or settings.api_host, port=port or settings.api_port,
                server_header=False, access_log=False, log_level="warning")
