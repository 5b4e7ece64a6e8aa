"""`pulse run --processes N`: a supervisor of N native engine processes in ONE consumer group.

Kafka's group protocol splits the partitions between the children; each child is a whole native engine (its own
consumer, loader, heartbeat identity and metrics port) and commits its batches with its offsets, so exactly once
holds per partition whoever owns it. The supervisor only watches: a child that dies unexpectedly is restarted
after a backoff (logged); SIGTERM/SIGINT are forwarded and the children's clean stop awaited; a child that keeps
failing ends the supervisor with a non-zero status. Services that must run once for all the children (the
folder) run in the parent: `parent_services`.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pulse.engines.runtime import StoppableEngine, start_folder
from pulse.errors import ConfigError
from pulse.settings import Settings

log = logging.getLogger(__name__)

MAX_PROCESSES = 64
CHILD_ENV = {"PULSE_FOLD_IN_ENGINE": "false"}  # one folder for all, in the parent (see _start_parent_folder)
FIRST_RESTART_DELAY_S = 1.0  # doubled after each failure of the same child, up to MAX_RESTART_DELAY_S
MAX_RESTART_DELAY_S = 30.0
HEALTHY_AFTER_S = 60.0  # a child that ran this long is well again: its backoff and failure count start over
MAX_FAILURES = 5  # failures in a row of one child: the supervisor gives up and exits 1
STOP_TIMEOUT_S = 120.0  # after SIGTERM, then SIGKILL
WATCH_EVERY_S = 0.2
_PR_SET_PDEATHSIG = 1


class ParentService(Protocol):
    """A service that runs once in the supervisor for all children (the folder: start()/stop())."""

    def start(self) -> object:
        """Begin."""
        ...

    def stop(self) -> None:
        """End, cleanly."""
        ...


def validate_processes(processes: int) -> int:
    """`processes` if it is between 1 and MAX_PROCESSES, else ConfigError (one line, exit 2)."""
    if not 1 <= processes <= MAX_PROCESSES:
        raise ConfigError(f"--processes must be between 1 and {MAX_PROCESSES}, got {processes}")
    return processes


def child_metrics_ports(port: int, processes: int) -> list[int]:
    """One metrics port per child: PORT+i, or 0 (off) for all when PORT is 0."""
    if not port:
        return [0] * processes
    if port + processes - 1 > 65535:
        raise ConfigError(f"--metrics-port {port} with --processes {processes} needs ports up to"
                          f" {port + processes - 1}, past 65535: choose a lower port")
    return [port + i for i in range(processes)]


def exit_with_supervisor() -> None:
    """In a child: have the kernel send SIGTERM when the supervisor dies (even by kill -9), so no orphan engine
    keeps consuming; a clean stop, as for any SIGTERM. Linux only; elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning("could not follow the supervisor (prctl errno %d)", ctypes.get_errno())
    if os.getppid() == 1:  # the supervisor died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _start_parent_folder(settings: Settings) -> ParentService | None:
    """The ONE folder for all children (they run with PULSE_FOLD_IN_ENGINE=false), started before them and
    stopped after them; None when PULSE_FOLD_IN_ENGINE=false for the supervisor too (`pulse fold` runs it)."""
    return start_folder(settings)


@dataclass(slots=True)
class _Child:
    """One engine process and its restart history."""

    index: int
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    finished: bool = False  # exited 0 on its own (--until-idle): not restarted


@dataclass
class Supervisor(StoppableEngine):
    """Start, watch, restart and stop N `pulse run` children; `run()` returns the exit status."""

    settings: Settings
    processes: int
    until_idle: float | None = None
    metrics_port: int = 0
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    parent_services: list[ParentService] = field(default_factory=list)
    pulse_options: Sequence[str] = ()  # options of `pulse` itself for the children (--log-level=WARNING)
    spawn: Callable[[Sequence[str], Mapping[str, str]], subprocess.Popen[bytes]] | None = None
    first_restart_delay_s: float = FIRST_RESTART_DELAY_S
    max_failures: int = MAX_FAILURES

    def __post_init__(self) -> None:
        StoppableEngine.__init__(self)
        validate_processes(self.processes)
        self._children = [_Child(i, self._child_argv(port)) for i, port in
                          enumerate(child_metrics_ports(self.metrics_port, self.processes))]
        self._child_env = {**self.env, **CHILD_ENV}

    def _child_argv(self, metrics_port: int) -> list[str]:
        argv = [sys.executable, "-m", "pulse.cli", *self.pulse_options, "run", "--supervised",
                "--metrics-port", str(metrics_port)]
        return argv + (["--until-idle", str(self.until_idle)] if self.until_idle is not None else [])

    def run(self) -> int:
        """Supervise until stopped or every child finished; 0 when all stopped cleanly, 1 when one kept failing."""
        for service in self.parent_services:
            service.start()
        folder = _start_parent_folder(self.settings)  # started already
        services = self.parent_services + ([folder] if folder is not None else [])
        try:
            for child in self._children:
                self._start(child)
            status = self._watch()
        finally:
            status_on_stop = self._stop_children()
            for service in reversed(services):
                service.stop()
        return status or status_on_stop

    def pids(self) -> list[int | None]:
        """The children's process ids (None while one waits for its restart)."""
        return [c.process.pid if c.process is not None else None for c in self._children]

    def _start(self, child: _Child) -> None:
        spawn = self.spawn or (lambda argv, env: subprocess.Popen(list(argv), env=dict(env)))
        child.process, child.started, child.restart_at = spawn(child.argv, self._child_env), time.monotonic(), None
        log.info("engine process %d started", child.index, extra={"pulse.engine.child": child.index,
                                                                  "process.pid": child.process.pid})

    def _watch(self) -> int:
        while not self.stop_requested.wait(WATCH_EVERY_S):
            now = time.monotonic()
            for child in self._children:
                if child.process is None:
                    if child.restart_at is not None and now >= child.restart_at:
                        self._start(child)
                    continue
                code = child.process.poll()
                if code is None:
                    continue
                child.process = None
                if code == 0:
                    child.finished = True
                    log.info("engine process %d finished", child.index)
                elif self._failed(child, code, now):
                    return 2 if code == 2 else 1
            if all(c.finished for c in self._children):
                return 0
        return 0

    def _failed(self, child: _Child, code: int, now: float) -> bool:
        """Schedule the restart of a child that died; True when the supervisor should give up."""
        if now - child.started >= HEALTHY_AFTER_S:
            child.failures = 0
        child.failures += 1
        how = f"killed by signal {-code}" if code < 0 else f"exited with {code}"
        if code == 2:  # a setting or a login it refuses: restarting cannot help
            log.error("engine process %d %s (a bad setting?): stopping all", child.index, how)
            return True
        if child.failures >= self.max_failures:
            log.error("engine process %d %s, %d failures in a row: stopping all", child.index, how, child.failures)
            return True
        delay = min(self.first_restart_delay_s * 2 ** (child.failures - 1), MAX_RESTART_DELAY_S)
        log.warning("engine process %d %s: restarting it in %.0f s", child.index, how, delay,
                    extra={"pulse.engine.child": child.index, "pulse.engine.failures": child.failures})
        child.restart_at = now + delay
        return False

    def _stop_children(self) -> int:
        """SIGTERM to every running child, wait for their clean stop (SIGKILL after STOP_TIMEOUT_S); 1 if one
        did not stop cleanly."""
        running = [c for c in self._children if c.process is not None]
        for child in running:
            assert child.process is not None
            child.process.send_signal(signal.SIGTERM)
        status = 0
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for child in running:
            assert child.process is not None
            try:
                code = child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("engine process %d did not stop in %.0f s: killed", child.index, STOP_TIMEOUT_S)
                child.process.kill()
                code = child.process.wait()
            if code != 0:
                log.error("engine process %d stopped with %d", child.index, code)
                status = 1
            child.process = None
        return status
