"""The HTTP collector on real Kafka: accepted means in Kafka, refusals say why, Kafka down means 503."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
import pytest
from confluent_kafka import Consumer

from pulse.collect.app import create_app
from pulse.collect.server import running
from pulse.events.limits import MAX_NESTING
from pulse.settings import Settings
from pulse.stack.broker import start_kafka, stop_kafka

pytestmark = pytest.mark.integration

STOREFRONT = "https://www.glamira.de"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


@contextmanager
def collector(settings: Settings, **overrides: Any) -> Iterator[httpx.Client]:
    """A real collector (uvicorn, own thread, free port) and an HTTP client pointed at it."""
    defaults: dict[str, Any] = {"collect_allowed_origins": (STOREFRONT,), "collect_delivery_timeout_s": 3.0}
    app = create_app(settings.model_copy(update=defaults | overrides))
    with running(app) as base, httpx.Client(base_url=base, timeout=30, headers={"User-Agent": UA}) as client:
        yield client


def consume_ids(settings: Settings, expected: set[str], deadline_s: float = 30.0) -> dict[str, dict[str, Any]]:
    """Every event on the topic by id, read until all `expected` ids were seen (or the deadline)."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"check-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([settings.topic])
    seen: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + deadline_s
    try:
        while time.monotonic() < deadline and not expected <= seen.keys():
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                event = orjson.loads(msg.value() or b"{}")
                seen[event["id"]] = event
        # a little longer, so that events nobody expected would show up too
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                event = orjson.loads(msg.value() or b"{}")
                seen[event["id"]] = event
    finally:
        consumer.close()
    return seen


def view(product_id: str = "96672", **fields: Any) -> dict[str, Any]:
    return {"collection": "view_product_detail", "product_id": product_id,
            "current_url": f"https://www.glamira.de/p-{product_id}.html", **fields}


def test_one_event_an_array_ndjson_and_the_pixel_are_accepted_and_every_one_is_in_kafka(pipeline: Settings) -> None:
    now = int(time.time())
    accepted: list[str] = []
    with collector(pipeline) as client:
        one = client.post("/collect", json=view(id="evt-1", time_stamp=now - 5))
        assert one.status_code == 202, one.text
        assert one.json() == {"accepted": 1, "ids": ["evt-1"]}
        accepted += one.json()["ids"]

        many = client.post("/collect", content=orjson.dumps([view("1"), view("2"), view("3", time_stamp=now * 1000)]))
        assert many.status_code == 202 and many.json()["accepted"] == 3
        accepted += many.json()["ids"]

        lines = b"\n".join(orjson.dumps(view(p)) for p in ("4", "5")) + b"\n"
        nd = client.post("/collect", content=lines, headers={"Content-Type": "application/x-ndjson"})
        assert nd.status_code == 202 and nd.json()["accepted"] == 2
        accepted += nd.json()["ids"]

        pixel = client.get("/collect", params={"collection": "view_home_page", "id": "pixel-1"})
        assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
        accepted.append("pixel-1")

        metrics = client.get("/metrics").text
    assert len(set(accepted)) == 7
    assert all(uuid.UUID(i) for i in accepted if not i.startswith(("evt-", "pixel-")))

    in_kafka = consume_ids(pipeline, set(accepted))
    assert set(in_kafka) == set(accepted), "exactly the accepted events are in Kafka"
    first = in_kafka["evt-1"]
    assert first["time_stamp"] == now - 5, "a plausible client time is kept"
    assert first["ip"] == "127.0.0.1" and first["user_agent"] == UA
    assert abs(first["collector_time_stamp"] - time.time()) < 60
    skewed = next(e for e in in_kafka.values() if e.get("product_id") == "3")
    assert skewed["client_time_stamp"] == now * 1000, "an implausible client time is kept aside"
    assert abs(skewed["time_stamp"] - now) < 60, "and replaced by the collector's clock"
    assert in_kafka["pixel-1"]["collection"] == "view_home_page"
    assert 'pulse_collect_events_total{outcome="accepted",reason=""} 7.0' in metrics
    assert "pulse_collect_produce_seconds_bucket" in metrics


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"x" * 5000, 413, "body_too_large"),
        (orjson.dumps([view(str(i)) for i in range(6)]), 413, "batch_too_large"),
        (orjson.dumps(view(blob="y" * 1500)), 413, "event_too_large"),
        (b'{"collection": "view_product_detail", ', 400, "invalid_json"),
        (b'{"collection": "a"}\n{"collection": ', 400, "invalid_json"),
        (orjson.dumps({"product_id": "1"}), 400, "missing_collection"),
        (orjson.dumps([view(), {"collection": "  "}]), 400, "missing_collection"),
        (b"[1, 2]", 400, "not_an_object"),
        (b"", 400, "empty_body"),
    ],
)
def test_refusals_are_json_with_a_reason_and_nothing_reaches_kafka(
    pipeline: Settings, body: bytes, status: int, reason: str
) -> None:
    limits = {"collect_max_body_bytes": 4096, "collect_max_batch_events": 5, "max_event_bytes": 1024}
    with collector(pipeline, **limits) as client:
        answer = client.post("/collect", content=body)
        metrics = client.get("/metrics").text
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"] == reason and answer.json()["detail"]
    assert f'pulse_collect_events_total{{outcome="rejected",reason="{reason}"}}' in metrics
    assert consume_ids(pipeline, set(), deadline_s=0) == {}


def test_a_client_over_its_rate_gets_429_while_others_go_on(pipeline: Settings) -> None:
    with collector(pipeline, collect_rate_limit_per_s=0.2, collect_rate_limit_burst=3) as client:
        answers = [client.post("/collect", json=view()).status_code for _ in range(4)]
        limited = client.post("/collect", json=view())
        other = client.post("/collect", json=view(), headers={"X-Forwarded-For": "203.0.113.50"})
    assert answers == [202, 202, 202, 429]
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    assert other.status_code == 202, "another client (behind the trusted local proxy) has its own bucket"


def test_cors_answers_storefront_origins_and_refuses_others(pipeline: Settings) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    with collector(pipeline) as client:
        allowed = client.options("/collect", headers={"Origin": STOREFRONT, **preflight})
        refused = client.options("/collect", headers={"Origin": "https://evil.example", **preflight})
        post_allowed = client.post("/collect", json=view(), headers={"Origin": STOREFRONT})
        post_refused = client.post("/collect", json=view(), headers={"Origin": "https://evil.example"})
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == STOREFRONT
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert allowed.headers["access-control-allow-headers"].lower() == "content-type"
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
    assert refused.json()["error"] == "origin_not_allowed"
    assert post_allowed.status_code == 202 and post_allowed.headers["access-control-allow-origin"] == STOREFRONT
    assert post_refused.status_code == 403


def _ip_of(client: httpx.Client, pipeline: Settings, forwarded: str | None) -> str:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    answer = client.post("/collect", json=view(), headers=headers)
    assert answer.status_code == 202, answer.text
    event_id = answer.json()["ids"][0]
    return str(consume_ids(pipeline, {event_id})[event_id]["ip"])


def test_the_client_ip_comes_from_the_trusted_proxy_chain_only(pipeline: Settings) -> None:
    trusted = ("127.0.0.1/32", "10.0.0.0/8")
    with collector(pipeline, collect_trusted_proxies=trusted) as client:
        assert _ip_of(client, pipeline, None) == "127.0.0.1"
        assert _ip_of(client, pipeline, "203.0.113.9") == "203.0.113.9"
        assert _ip_of(client, pipeline, "203.0.113.9, 10.1.2.3") == "203.0.113.9", "through two trusted proxies"
        assert _ip_of(client, pipeline, "1.2.3.4, 198.51.100.7, 10.1.2.3") == "198.51.100.7", "a forged hop"
        assert _ip_of(client, pipeline, "not-an-ip, 10.1.2.3") == "10.1.2.3"
    with collector(pipeline, collect_trusted_proxies=()) as client:
        assert _ip_of(client, pipeline, "203.0.113.9") == "127.0.0.1", "nobody trusted: the peer is the client"


def test_kafka_down_means_503_and_nothing_accepted_is_lost(stack: Settings, pipeline: Settings) -> None:
    accepted: list[str] = []
    with collector(pipeline, collect_delivery_timeout_s=2.0) as client:
        before = client.post("/collect", json=[view("1"), view("2")])
        assert before.status_code == 202
        accepted += before.json()["ids"]
        assert client.get("/healthz").json()["kafka"] == "up"
        try:
            stop_kafka(stack)
            down = client.post("/collect", json=[view("3")])
            assert down.status_code == 503, down.text
            assert down.json()["error"] == "kafka_unavailable" and down.headers["retry-after"]
            health = client.get("/healthz")
            assert health.status_code == 503 and health.json()["kafka"] == "down"
        finally:
            start_kafka(stack)
        deadline = time.monotonic() + 90
        while True:  # the producer reconnects on its own; poll until it delivers again
            again = client.post("/collect", json=[view("4"), view("5")])
            if again.status_code == 202 or time.monotonic() > deadline:
                break
        assert again.status_code == 202, again.text
        accepted += again.json()["ids"]
        assert client.get("/healthz").status_code == 200
        metrics = client.get("/metrics").text
    assert 'pulse_collect_events_total{outcome="rejected",reason="kafka_unavailable"}' in metrics
    in_kafka = consume_ids(pipeline, set(accepted))
    assert set(accepted) <= set(in_kafka), "every 202-accepted event is in Kafka"


def _nested_view(event_id: str, levels: int) -> bytes:
    """A view whose document nests exactly `levels` deep (the event object is level 1)."""
    inner = b"[" * (levels - 1) + b"]" * (levels - 1)
    return b'{"collection": "view_product_detail", "id": "%s", "product_id": "1", "payload": %s}' % (
        event_id.encode(), inner)


def test_json_nested_past_the_limit_is_a_counted_400_and_the_limit_itself_reaches_kafka(pipeline: Settings) -> None:
    # The reproduction: 255-1,024 levels parsed, then failed to re-encode (a plain-text 500, uncounted).
    too_deep = [MAX_NESTING + 1, 255, 600, 1024, 1025, 5000]
    with collector(pipeline) as client:
        at_limit = client.post("/collect", content=_nested_view("deep-ok", MAX_NESTING))
        refused = [client.post("/collect", content=_nested_view(f"deep-{n}", n)) for n in too_deep]
        metrics = client.get("/metrics").text
    assert at_limit.status_code == 202, at_limit.text
    for answer in refused:
        assert answer.status_code == 400 and answer.headers["content-type"] == "application/json", answer.text
        assert answer.json()["error"] == "too_deep" and str(MAX_NESTING) in answer.json()["detail"]
    assert f'pulse_collect_requests_total{{method="POST",route="/collect",status="400"}} {len(too_deep)}.0' in metrics
    assert f'pulse_collect_events_total{{outcome="rejected",reason="too_deep"}} {len(too_deep)}.0' in metrics
    assert 'pulse_collect_requests_total{method="POST",route="/collect",status="202"} 1.0' in metrics
    in_kafka = consume_ids(pipeline, {"deep-ok"})
    assert set(in_kafka) == {"deep-ok"}, "only the event within the limit reached Kafka"
