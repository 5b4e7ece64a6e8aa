"""Collector intake without services: one nesting limit at parse time, and every answer counted as JSON."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from pulse.collect.app import create_app
from pulse.collect.intake import IntakeError, Limits, encode_event, parse_body
from pulse.events.limits import MAX_NESTING
from pulse.settings import load_settings

LIMITS = Limits(max_body_bytes=512_000, max_batch_events=500, max_event_bytes=1_000_000)


def _event_nested(levels: int) -> bytes:
    """One event object whose document nests exactly `levels` deep (the object is level 1)."""
    inner = b"[" * (levels - 1) + b"]" * (levels - 1)
    return b'{"collection": "view_product_detail", "payload": %s}' % inner


def _refusal(body: bytes) -> IntakeError:
    with pytest.raises(IntakeError) as caught:
        parse_body(body, LIMITS)
    return caught.value


def test_an_event_nested_to_the_limit_is_accepted_and_encodes() -> None:
    [event] = parse_body(_event_nested(MAX_NESTING), LIMITS)
    assert encode_event(event, LIMITS).startswith(b'{"collection"')


@pytest.mark.parametrize("levels", [MAX_NESTING + 1, 255, 300, 1024, 1025, 20_000])
def test_deeper_events_are_a_400_too_deep_naming_the_limit(levels: int) -> None:
    refusal = _refusal(_event_nested(levels))
    assert (refusal.status, refusal.reason) == (400, "too_deep")
    assert str(MAX_NESTING) in refusal.detail


def test_the_deep_event_of_a_batch_or_an_ndjson_line_is_named() -> None:
    ok = b'{"collection": "view_home_page"}'
    in_array = _refusal(b"[" + ok + b"," + _event_nested(100) + b"]")
    assert in_array.reason == "too_deep" and "event 1" in in_array.detail
    in_lines = _refusal(ok + b"\n" + _event_nested(2000) + b"\n")
    assert in_lines.reason == "too_deep" and "line 2" in in_lines.detail


def test_an_array_of_events_counts_its_own_level_but_each_event_is_measured_from_itself() -> None:
    events = parse_body(b"[" + _event_nested(MAX_NESTING) + b"]", LIMITS)
    assert len(events) == 1


class Client:
    """Requests straight into the ASGI app (httpx's ASGI transport), with no server and no lifespan."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def request(self, method: str, path: str, content: bytes | None = None) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://collector") as client:
                return await client.request(method, path, content=content)

        return asyncio.run(send())

    def metric(self, line: str) -> bool:
        return line in self.request("GET", "/metrics").text


@pytest.fixture
def client(tmp_path: Path) -> Client:
    """The real app, not started: its Kafka bridge is missing, so reaching Kafka is an unexpected error."""
    return Client(create_app(load_settings(home=tmp_path)))


def test_too_deep_json_is_a_counted_json_400(client: Client) -> None:
    answer = client.request("POST", "/collect", _event_nested(300))
    assert answer.status_code == 400 and answer.headers["content-type"] == "application/json"
    assert answer.json()["error"] == "too_deep"
    assert client.metric('pulse_collect_requests_total{method="POST",route="/collect",status="400"} 1.0')
    assert client.metric('pulse_collect_events_total{outcome="rejected",reason="too_deep"} 1.0')


def test_an_unexpected_error_is_a_counted_json_500_without_the_details(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="pulse.collect.app"):
        answer = client.request("POST", "/collect", orjson.dumps({"collection": "view_home_page"}))
    assert answer.status_code == 500 and answer.headers["content-type"] == "application/json"
    assert answer.json()["error"] == "internal_error"
    assert "bridge" not in answer.text, "the answer says what happened, not the internals"
    assert client.metric('pulse_collect_requests_total{method="POST",route="/collect",status="500"} 1.0')
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["POST /collect failed"]


def test_unknown_routes_and_methods_are_counted_json_answers(client: Client) -> None:
    missing = client.request("GET", "/no/such/path")
    wrong = client.request("DELETE", "/collect")
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    assert (wrong.status_code, wrong.json()["error"]) == (405, "method_not_allowed")
    assert client.metric('pulse_collect_requests_total{method="GET",route="other",status="404"} 1.0')
    assert client.metric('pulse_collect_requests_total{method="DELETE",route="/collect",status="405"} 1.0')
