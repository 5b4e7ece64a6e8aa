"""Collector refusals repeat what was sent only in short, and an absurd Content-Length is a 413, not a 500."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pulse.collect.app import create_app
from pulse.collect.server import running
from pulse.settings import load_settings
from tests.services import free_port


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    """The collector with a Kafka nobody listens on: these refusals come before any produce."""
    settings = load_settings(home=tmp_path, kafka_bootstrap=f"127.0.0.1:{free_port()}",
                             collect_allowed_origins=("https://www.glamira.de",))
    with running(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as test_client:
        yield test_client


def test_a_huge_origin_gets_a_short_refusal(client: httpx.Client) -> None:
    origin = "https://" + "e" * 60_000 + ".example"
    for answer in (client.post("/collect", json={"collection": "x"}, headers={"Origin": origin}),
                   client.options("/collect", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})):
        assert answer.status_code == 403 and answer.json()["error"] == "origin_not_allowed"
        assert len(answer.content) < 300 and "60,016 characters" in answer.json()["detail"]


def test_a_short_origin_is_repeated_whole(client: httpx.Client) -> None:
    answer = client.post("/collect", json={"collection": "x"}, headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403 and "'https://evil.example' may not" in answer.json()["detail"]


@pytest.mark.parametrize("declared", ["9" * 5000, "99999999999999999999", "512001"])
def test_a_content_length_over_the_limit_is_refused_at_once_never_a_500(client: httpx.Client, declared: str) -> None:
    host, port = client.base_url.host, client.base_url.port or 80
    request = (f"POST /collect HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {declared}\r\nConnection: close\r\n\r\n{{}}").encode()
    with socket.create_connection((host, port), timeout=10) as raw:
        raw.sendall(request)
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    if len(declared) <= 18:  # a number the server parses: the collector refuses it before reading the body
        assert status == 413 and b'"body_too_large"' in answer, answer[:300]
    else:  # the HTTP parser may refuse it first; either way a client error, short
        assert status in (400, 413), answer[:300]
    assert len(answer) < 1000
