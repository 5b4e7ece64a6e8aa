"""The engines' runtime glue: a clean stop on request (SIGTERM, Ctrl-C), and the retry loop around the database.

Both engines use them: the native engine retries a transient failure until it succeeds or a stop is requested
(its heartbeat beating "retrying: ..." meanwhile); a Spark task gives up after a budget of failures, so that
Spark retries the task or stops the query.
"""

from __future__ import annotations

import gc
import logging
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pulse.engines.folder_process import FolderProcess, folder_spec
from pulse.errors import PulseError, TransientError
from pulse.ops.metrics import EngineMetrics
from pulse.settings import Settings
from pulse.warehouse.sessions import VisitRules

log = logging.getLogger(__name__)

T = TypeVar("T")

# Garbage collector thresholds once the heap is frozen: a young collection every 20k net allocations (a
# 5,000-event batch allocates several hundred thousand short-lived containers), a full pass after 50 middle ones.
GC_THRESHOLDS = (20_000, 20, 50)
FIRST_RETRY_DELAY_S = 0.2  # then doubled after every failure, up to the loop's max_backoff_s


class StopRequested(PulseError):
    """The engine was asked to stop while a transient failure was being retried: the batch is left
    uncommitted (its offsets too), so the next start reads it again - nothing lost, nothing twice."""


class StoppableEngine:
    """An engine that stops after the batch in flight when asked: `request_stop()`, SIGTERM or Ctrl-C."""

    def __init__(self) -> None:
        self.stop_requested = threading.Event()

    def request_stop(self, *_: object) -> None:
        """Finish the batch in flight, then exit (SIGTERM / Ctrl-C)."""
        if not self.stop_requested.is_set():
            log.info("stop requested: finishing the batch in flight")
        self.stop_requested.set()

    def install_signal_handlers(self) -> None:
        """Route SIGTERM and SIGINT to a clean stop (main thread only)."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)


def freeze_warm_heap() -> None:
    """Move everything alive after the warm-up out of the collector's sight, and collect less often.

    The warm-up loads the enrichers' tables, the caches, the clients and the modules: hundreds of thousands of
    long-lived objects that every full collection would walk again (40-50 ms pauses, straight onto the
    freshness of the batch in flight). `gc.freeze()` puts them in the permanent generation; the hot path frees
    its objects by reference counting, so collecting less often costs little memory. Call once.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    log.debug("heap frozen after the warm-up: %d objects", gc.get_freeze_count())


@dataclass(slots=True)
class RetryLoop:
    """Run a database action until it succeeds, backing off on TransientError (doubling from 0.2 s, capped).

    `stop` ends a wait at once with StopRequested. `max_failures` gives up (TransientError) once the loop has
    seen that many failures over its life (None: never). Hooks: `on_failure(what, failing_for_s)` after each
    failure (metrics, closing a broken connection), `on_done(what)` when an action ends either way, and
    `beat(status)` at least every `beat_every_s` while waiting ("retrying: could not <what>: <why>").
    """

    max_backoff_s: float
    stop: threading.Event | None = None
    max_failures: int | None = None
    context: str = ""  # appended to what is retried in logs and errors, e.g. " (batch 7)"
    on_failure: Callable[[str, float], None] | None = None
    on_done: Callable[[str], None] | None = None
    beat: Callable[[str], None] | None = None
    beat_every_s: float = math.inf
    failures: int = field(default=0, init=False)

    def __call__(self, action: Callable[[], T], what: str) -> T:
        """`action()`'s result, once it succeeds; `what` says what it does ("commit a batch")."""
        delay, first_failure = FIRST_RETRY_DELAY_S, 0.0
        try:
            while True:
                try:
                    return action()
                except TransientError as exc:
                    first_failure = first_failure or time.monotonic()
                    self.failures += 1
                    if self.on_failure is not None:
                        self.on_failure(what, time.monotonic() - first_failure + delay)
                    if self.max_failures is not None and self.failures >= self.max_failures:
                        raise TransientError(f"gave up trying to {what}{self.context} after {self.failures}"
                                             f" attempts: {exc}") from exc
                    log.warning("could not %s%s, retrying in %.1f s: %s", what, self.context, delay, exc)
                    if self._wait(delay, f"retrying: could not {what}: {exc}"):
                        raise StopRequested(f"stopped while retrying to {what}") from exc
                    delay = min(delay * 2, self.max_backoff_s)
        finally:
            if self.on_done is not None:
                self.on_done(what)

    def _wait(self, seconds: float, status: str) -> bool:
        """Wait before the next attempt, beating with `status`; True when a stop was requested."""
        deadline = time.monotonic() + seconds
        while True:
            if self.beat is not None:
                try:
                    self.beat(status)
                except Exception as exc:  # noqa: BLE001 - the database may be the very thing that is down
                    log.debug("heartbeat not written while retrying: %s", exc)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self.stop is not None and self.stop.is_set()
            pause = min(remaining, self.beat_every_s)
            if self.stop is None:
                time.sleep(pause)
            elif self.stop.wait(pause):
                return True


def start_folder(settings: Settings, metrics: EngineMetrics | None = None) -> FolderProcess | None:
    """The folder an engine runs beside its writers (PULSE_FOLD_IN_ENGINE), in a process of its own
    (engines/folder_process.py), started; None when turned off."""
    if not settings.fold_in_engine:
        return None
    spec = folder_spec(settings.loader_url, settings.loader_url_setting, settings.commit_timeout_s,
                       VisitRules.from_settings(settings), settings.fold_interval_s)
    return FolderProcess(spec, on_fold=metrics.folded if metrics else None,
                         on_error=metrics.fold_failed if metrics else None).start()
