"""Ports and log tails shared by the stack's services."""

from __future__ import annotations

import socket
from pathlib import Path

from pulse.stack.proc import free_port, port_open, rotate, say, tail


def test_a_listening_port_is_open_and_a_free_one_is_not() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert port_open("127.0.0.1", port) and port_open("localhost", port)
    assert not port_open("127.0.0.1", free_port("127.0.0.1"))


def test_tail_gives_the_last_lines_and_nothing_for_a_missing_log(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    log.write_bytes(b"".join(f"line {i}\n".encode() for i in range(100)) + b"bad \xff byte\n")
    assert tail(log, 3) == "line 98\nline 99\nbad \ufffd byte"
    assert tail(tmp_path / "missing.log") == ""


def test_rotate_moves_only_a_large_log_aside(tmp_path: Path) -> None:
    log = tmp_path / "broker.log"
    log.write_text("x" * 20)
    rotate(log, max_bytes=100)
    assert log.exists()
    rotate(log, max_bytes=10)
    assert not log.exists() and (tmp_path / "broker.log.1").read_text() == "x" * 20


def test_say_reports_only_to_a_listener() -> None:
    heard: list[str] = []
    say(None, "nobody listens")
    say(heard.append, "starting")
    assert heard == ["starting"]
