"""The HTTP collector: POST /collect (and a GET pixel) -> checked, stamped events -> Kafka, acknowledged.

Order of work for one request: rate limit (per client IP) -> CORS origin -> size -> parse -> stamp ->
produce and await Kafka's acknowledgement -> 202. Every refusal is a JSON body with a reason code, and
every answer (an unexpected error too: a JSON 500) is counted in `pulse_collect_requests_total`.
"""

from __future__ import annotations

import base64
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from pulse.collect.intake import (
    IntakeError,
    IpNetwork,
    Limits,
    RequestFacts,
    check_event,
    client_ip,
    encode_event,
    json_refusal,
    parse_body,
    parse_networks,
    stamp_event,
)
from pulse.collect.metrics import CollectorMetrics
from pulse.collect.producer import KafkaBridge, KafkaUnavailable
from pulse.collect.ratelimit import RateLimiter
from pulse.errors import quoted
from pulse.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
PREFLIGHT_MAX_AGE_S = 600
_log = logging.getLogger(__name__)


@dataclass
class Collector:
    """What the routes share: settings-derived limits, the Kafka bridge, the rate limiter, metrics."""

    settings: Settings
    limits: Limits
    trusted: tuple[IpNetwork, ...]
    origins: frozenset[str]
    limiter: RateLimiter
    metrics: CollectorMetrics
    bridge: KafkaBridge | None = None

    def origin_allowed(self, origin: str) -> bool:
        """True for a configured storefront origin (or any, when "*" is configured)."""
        return "*" in self.origins or origin.rstrip("/") in self.origins

    def cors_headers(self, request: Request) -> dict[str, str]:
        """CORS response headers for an allowed Origin; none otherwise."""
        origin = request.headers.get("origin")
        if not origin or not self.origin_allowed(origin):
            return {}
        # sendBeacon always sends credentials, so the origin is echoed rather than "*"
        return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}


def create_app(settings: Settings) -> Starlette:
    """The collector as an ASGI app; Kafka is connected at startup and flushed at shutdown."""
    collector = Collector(
        settings=settings,
        limits=Limits(settings.collect_max_body_bytes, settings.collect_max_batch_events, settings.max_event_bytes),
        trusted=parse_networks(settings.collect_trusted_proxies),
        origins=frozenset(o.rstrip("/") for o in settings.collect_allowed_origins),
        limiter=RateLimiter(settings.collect_rate_limit_per_s, settings.collect_rate_limit_burst),
        metrics=CollectorMetrics(),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        collector.bridge = KafkaBridge(settings)
        try:
            yield
        finally:
            left = collector.bridge.close()
            if left:
                _log.error("%d events were still unacknowledged at shutdown (their requests got 503)", left)

    async def collect_post(request: Request) -> Response:
        return await _collect(collector, request, pixel=False)

    async def collect_get(request: Request) -> Response:
        return await _collect(collector, request, pixel=True)

    async def preflight(request: Request) -> Response:
        origin = request.headers.get("origin", "")
        if not origin or not collector.origin_allowed(origin):
            return _error(403, "origin_not_allowed", f"origin {quoted(origin)} may not send events here", {})
        headers = collector.cors_headers(request) | {
            "Access-Control-Allow-Methods": "POST, GET, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
        }
        return Response(status_code=204, headers=headers)

    async def healthz(request: Request) -> Response:
        up = collector.bridge is not None and await collector.bridge.reachable()
        doc = {"status": "ok" if up else "unavailable", "kafka": "up" if up else "down", "topic": settings.topic}
        if not up and collector.bridge is not None and collector.bridge.broker_error:
            doc["detail"] = collector.bridge.broker_error
        return JSONResponse(doc, status_code=200 if up else 503)

    async def metrics(request: Request) -> Response:
        return Response(collector.metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def tracker(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ("pulse-tracker.js", "pulse-tracker.min.js"):
            return _error(404, "not_found", "no such file", {})
        return FileResponse(STATIC_DIR / name, media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=3600"})

    def answered(route: str, handler: Handler, *, timed: bool = False) -> Handler:
        async def endpoint(request: Request) -> Response:
            return await _answer(collector, route, handler, timed, request)

        return endpoint

    routes = [
        Route("/collect", answered("/collect", collect_post, timed=True), methods=["POST"]),
        Route("/collect", answered("/collect", collect_get, timed=True), methods=["GET"]),
        Route("/collect", answered("/collect", preflight), methods=["OPTIONS"]),
        Route("/healthz", answered("/healthz", healthz), methods=["GET"]),
        Route("/metrics", answered("/metrics", metrics), methods=["GET"]),
        Route("/{name:str}", answered("/{name}", tracker), methods=["GET"]),
    ]

    async def unrouted(request: Request, exc: Exception) -> Response:
        """No such route (404) or method (405): a JSON answer, counted like every other."""
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        route = request.url.path if request.url.path in ("/collect", "/healthz", "/metrics") else "other"
        collector.metrics.requests.labels(route, request.method, str(status)).inc()
        reason = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        return _error(status, reason, f"{request.method} {route}: {reason.replace('_', ' ')}", {})

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: unrouted})
    app.state.collector = collector
    return app


Handler = Callable[[Request], Awaitable[Response]]


async def _answer(collector: Collector, route: str, handler: Handler, timed: bool, request: Request) -> Response:
    """Run a route's handler; count its answer by route, method and status; a crash becomes a JSON 500."""
    started = time.perf_counter()
    try:
        response = await handler(request)
    except Exception as exc:  # noqa: BLE001 - a bug must still get an answer, and be counted
        _log.error("%s %s failed: %s: %s", request.method, route, type(exc).__name__, str(exc)[:200], exc_info=True)
        collector.metrics.rejected("internal_error")
        response = _error(500, "internal_error", "the collector failed on this request; it was not stored", {})
    if timed:
        collector.metrics.request_seconds.observe(time.perf_counter() - started)
    collector.metrics.requests.labels(route, request.method, str(response.status_code)).inc()
    return response


async def _collect(collector: Collector, request: Request, *, pixel: bool) -> Response:
    received_at = time.time()
    cors = collector.cors_headers(request)
    peer = request.client.host if request.client else None
    ip = client_ip(peer, request.headers.get("x-forwarded-for"), collector.trusted)
    wait = collector.limiter.allow(ip)
    if wait > 0:
        collector.metrics.rejected("rate_limited")
        headers = cors | {"Retry-After": str(max(1, math.ceil(wait)))}
        return _error(429, "rate_limited", f"too many requests from {ip}; retry in {wait:.1f} s", headers)
    origin = request.headers.get("origin")
    if origin and not collector.origin_allowed(origin):
        collector.metrics.rejected("origin_not_allowed")
        return _error(403, "origin_not_allowed", f"origin {quoted(origin)} may not send events here", {})
    try:
        events = _pixel_events(request) if pixel else parse_body(await _read_body(request, collector.limits),
                                                                  collector.limits)
        facts = RequestFacts(received_at, ip, request.headers.get("user-agent"))
        messages = []
        for index, event in enumerate(events):
            stamp_event(event, facts)
            messages.append((_key(event), encode_event(event, collector.limits, index)))
    except IntakeError as bad:
        collector.metrics.rejected(bad.reason)
        return _error(bad.status, bad.reason, bad.detail, cors)
    assert collector.bridge is not None, "the app's lifespan starts the Kafka bridge"
    started = time.perf_counter()
    try:
        await collector.bridge.send(messages)
    except KafkaUnavailable as exc:
        collector.metrics.rejected("kafka_unavailable", len(messages))
        return _error(503, "kafka_unavailable", f"events not stored, retry later: {exc}", cors | {"Retry-After": "5"})
    collector.metrics.produce_seconds.observe(time.perf_counter() - started)
    collector.metrics.accepted(len(messages))
    if pixel:
        return Response(PIXEL_GIF, media_type="image/gif", headers=cors | {"Cache-Control": "no-store"})
    ids = [event["id"] for event in events]
    return Response(orjson.dumps({"accepted": len(ids), "ids": ids}), status_code=202,
                    media_type="application/json", headers=cors)


async def _read_body(request: Request, limits: Limits) -> bytes:
    """The body, refusing (413) as soon as it is known to pass the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and (len(declared) > 18 or int(declared) > limits.max_body_bytes):
        raise IntakeError(413, "body_too_large", f"body of {declared[:20]} bytes > limit {limits.max_body_bytes}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limits.max_body_bytes:
            raise IntakeError(413, "body_too_large", f"body over the limit of {limits.max_body_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _pixel_events(request: Request) -> list[dict[str, Any]]:
    """GET /collect?d=<JSON object>, or the fields as plain query parameters (all strings)."""
    data = request.query_params.get("d")
    if data is not None:
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise json_refusal(str(exc), "parameter d") from None
    else:
        event = {k: v for k, v in request.query_params.items() if k != "_"}  # "_" is a cache buster
    check_event(event)
    return [event]


def _key(event: dict[str, Any]) -> bytes | None:
    """Kafka key: the device id, so one device's events keep their order in one partition."""
    device = event.get("device_id")
    return device.encode() if isinstance(device, str) and device else None


def _error(status: int, reason: str, detail: str, headers: dict[str, str]) -> Response:
    return Response(orjson.dumps({"error": reason, "detail": detail}), status_code=status,
                    media_type="application/json", headers=headers)


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Run the collector with uvicorn until interrupted (proxy headers are handled by the app)."""
    import uvicorn

    uvicorn.run(
        create_app(settings), host=host or settings.collect_host, port=port or settings.collect_port,
        proxy_headers=False, server_header=False, access_log=False, log_level="warning",
    )
