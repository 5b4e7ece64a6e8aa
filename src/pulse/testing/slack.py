"""A local stand-in for a Slack incoming webhook: records every JSON body it receives, answers like Slack."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class SlackReceiver:
    """An HTTP server on a free loopback port. `url` is the webhook URL to configure.

    `fail_next(429, 500)` makes the next requests answer those statuses (429 with `Retry-After: 1`),
    to exercise retries; every request is recorded, failed ones included.
    """

    def __init__(self, path: str = "/services/T000/B000/test-webhook") -> None:
        self.path = path
        self.requests: list[dict[str, Any]] = []  # {"path", "status", "headers", "body"}
        self._failures: deque[int] = deque()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        receiver = self

        class _Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    status = receiver._failures.popleft() if receiver._failures else 200
                    if self.path != receiver.path:
                        status = 404
                    try:
                        body: Any = json.loads(raw)
                    except ValueError:
                        body, status = raw.decode("utf-8", "replace"), 400
                    receiver.requests.append(
                        {"path": self.path, "status": status, "headers": dict(self.headers), "body": body}
                    )
                    receiver._arrived.notify_all()
                answer = {200: b"ok", 400: b"invalid_payload", 404: b"no_service", 429: b"rate_limited"}.get(
                    status, b"internal_error"
                )
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                if status == 429:
                    self.send_header("Retry-After", "1")
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-receiver", daemon=True)

    @property
    def url(self) -> str:
        """The webhook URL to give the client under test."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.path}"

    def fail_next(self, *statuses: int) -> None:
        """Answer the next requests with these HTTP statuses instead of 200."""
        with self._lock:
            self._failures.extend(statuses)

    @property
    def delivered(self) -> list[Any]:
        """Bodies of the requests answered with 200, in arrival order."""
        with self._lock:
            return [r["body"] for r in self.requests if r["status"] == 200]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Any]:
        """Wait until `count` bodies were delivered; returns them (fails with what arrived so far)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while sum(r["status"] == 200 for r in self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} Slack messages, got {self.requests!r}")
                self._arrived.wait(left)
        return self.delivered

    def start(self) -> SlackReceiver:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SlackReceiver:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def block_texts(body: dict[str, Any]) -> str:
    """All text of a Block Kit payload joined, for assertions on what a reader of the channel sees."""
    parts: list[str] = [str(body.get("text", ""))]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                parts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(body.get("blocks", []))
    return "\n".join(parts)
