"""The folder of an engine in a process of its own, so that folding never waits for the engine's interpreter lock.

An engine's batches are CPU-bound Python (decode, enrich, the COPY rows), and so is a fold's visit merge
(warehouse/sessions.py): as a thread beside the batches the folder took a sixth of the engine's samples and
slowed both. Here it runs in a spawned child (`multiprocessing`, "spawn": nothing of the parent's threads or
Kafka client is inherited), connected by one pipe:
- the child folds every PULSE_FOLD_INTERVAL_S and sends each Fold (or a failure's text) back, which the parent
  hands to its metrics, as it did for the thread;
- a stop is a message on the pipe: the child folds once more (every batch the engine committed is then in the
  rollups) and exits; when the parent dies, even by kill -9, the pipe's end closes and the child does the same;
- the child ignores SIGINT and SIGTERM (Ctrl-C or systemd signal the whole group): it stops when its engine
  tells it to, after the engine's own last batch;
- a child that dies unexpectedly is started again after a pause (logged); a fold it left half done rolled back
  and is folded by the next one (warehouse/folding.py: exactly once either way).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from pulse.errors import PulseError
from pulse.ops.logging import configure_logging, logging_settings
from pulse.warehouse.folding import Fold, Folder, FolderLoop
from pulse.warehouse.sessions import VisitRules

log = logging.getLogger(__name__)

RESTART_DELAY_S = 1.0


class FoldFailed(PulseError):
    """A fold in the folder process failed (its text; the process retries at the next tick)."""


@dataclass(frozen=True, slots=True)
class FolderSpec:
    """Everything the child needs to fold (it reads no settings of its own: the engine's win)."""

    url: str
    url_setting: str
    statement_timeout_s: float
    visit_rules: VisitRules
    interval_s: float
    logging: tuple[str, str, tuple[str, ...]] = ("INFO", "text", ())


def fold_in_process(spec: FolderSpec, conn: Connection) -> None:
    """The child: fold until the parent says stop or is gone, then fold once more."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure_logging(*spec.logging)

    def send(kind: str, value: object) -> None:
        try:
            conn.send((kind, value))
        except OSError:  # the parent is gone: the next wait sees the closed pipe
            pass

    folder = Folder(spec.url, url_setting=spec.url_setting, statement_timeout_s=spec.statement_timeout_s,
                    visit_rules=spec.visit_rules)
    loop = FolderLoop(folder, spec.interval_s, on_fold=lambda fold: send("fold", fold),
                      on_error=lambda exc: send("error", f"{type(exc).__name__}: {exc}"))
    loop.run_until(conn.poll)  # a message (stop) or the closed end of a dead parent both end the wait


class FolderProcess:
    """A folder child process, watched and restarted; start(), then stop() (after the child's last fold)."""

    def __init__(self, spec: FolderSpec, on_fold: Callable[[Fold], None] | None = None,
                 on_error: Callable[[Exception], None] | None = None, restart_delay_s: float = RESTART_DELAY_S):
        self._spec = spec
        self._on_fold, self._on_error = on_fold, on_error
        self._restart_delay_s = restart_delay_s
        self._context = multiprocessing.get_context("spawn")
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # between stop() and a restart
        self._conn: Connection | None = None
        self._process: BaseProcess | None = None
        self._watcher = threading.Thread(target=self._watch, name="pulse-folder-watch", daemon=True)

    @property
    def pid(self) -> int | None:
        """The child's process id (None before start)."""
        return self._process.pid if self._process is not None else None

    def start(self) -> FolderProcess:
        self._spawn()
        self._watcher.start()
        return self

    def stop(self) -> None:
        """Ask the child for a last fold and wait for it to exit (bounded by the folder's statement timeout)."""
        with self._lock:
            self._stopping.set()
            if self._conn is not None:
                try:
                    self._conn.send(("stop", None))
                except OSError:  # it is gone already: the watcher sees that too
                    pass
        self._watcher.join()

    def _spawn(self) -> None:
        ours, theirs = self._context.Pipe(duplex=True)
        # daemonic: should this process exit without stop(), multiprocessing ends the child instead of waiting
        process = self._context.Process(target=fold_in_process, args=(self._spec, theirs), name="pulse-folder",
                                        daemon=True)
        process.start()
        theirs.close()
        self._conn, self._process = ours, process

    def _watch(self) -> None:
        while True:
            conn, process = self._conn, self._process
            assert conn is not None and process is not None
            self._relay(conn)
            process.join()
            conn.close()
            if self._stopping.is_set():
                return
            log.warning("the folder process exited (status %s): starting another in %.0f s", process.exitcode,
                        self._restart_delay_s)
            if self._stopping.wait(self._restart_delay_s):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self._spawn()

    def _relay(self, conn: Connection) -> None:
        """The child's folds and failures to the callbacks, until its end of the pipe closes."""
        while True:
            try:
                kind, value = conn.recv()
            except (EOFError, OSError):
                return
            try:
                if kind == "fold" and self._on_fold is not None:
                    self._on_fold(value)
                elif kind == "error" and self._on_error is not None:
                    self._on_error(FoldFailed(value))
            except Exception:  # a metrics callback must not end the relay
                log.exception("the folder's %s could not be recorded", kind)


def folder_spec(url: str, url_setting: str, statement_timeout_s: float, visit_rules: VisitRules,
                interval_s: float) -> FolderSpec:
    """The spec of a folder that logs as this process does."""
    return FolderSpec(url, url_setting, statement_timeout_s, visit_rules, interval_s, logging_settings())
