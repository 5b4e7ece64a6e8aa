"""What the stack's services share: progress messages, local ports, process groups and the tails of their logs."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path

Progress = Callable[[str], None]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def say(progress: Progress | None, message: str) -> None:
    """Report `message` to `progress` when there is one."""
    if progress is not None:
        progress(message)


def port_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections on host:port (half a second at most)."""
    host = "127.0.0.1" if host == "localhost" else host
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def free_port(host: str) -> int:
    """A TCP port on `host` that is free right now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Send `sig` to the process group `pid` leads (or to `pid` alone); a process already gone is fine."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a log (its last 64 kB read); empty when it is missing or unreadable."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64_000))
            return "\n".join(handle.read().decode(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def rotate(log: Path, max_bytes: int = 50_000_000) -> None:
    """Move a log past `max_bytes` aside (to <name>.1) so a service starts a new one."""
    if log.exists() and log.stat().st_size > max_bytes:
        log.replace(log.with_name(log.name + ".1"))
