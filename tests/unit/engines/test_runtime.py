"""The engines' shared runtime: the retry loop (backoff, budget, stop, hooks) and the clean stop on a signal."""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator

import pytest

from pulse.engines.runtime import GC_THRESHOLDS, RetryLoop, StoppableEngine, StopRequested, freeze_warm_heap
from pulse.errors import TransientError


def _failing(times: int, result: int = 42) -> tuple[Callable[[], int], list[int]]:
    """An action that raises TransientError `times` times, then returns `result`; and its call log."""
    calls: list[int] = []

    def action() -> int:
        calls.append(1)
        if len(calls) <= times:
            raise TransientError(f"database down ({len(calls)})")
        return result

    return action, calls


def test_transient_failures_are_retried_with_a_doubling_capped_backoff(caplog: pytest.LogCaptureFixture) -> None:
    failed: list[tuple[str, float]] = []
    done: list[str] = []
    loop = RetryLoop(0.3, on_failure=lambda what, failing_for: failed.append((what, failing_for)), on_done=done.append)
    action, calls = _failing(2)
    with caplog.at_level(logging.WARNING, logger="pulse.engines.runtime"):
        assert loop(action, "commit a batch") == 42
    assert len(calls) == 3 and loop.failures == 2
    assert [what for what, _ in failed] == ["commit a batch"] * 2
    assert failed[0][1] >= 0.2 and failed[1][1] >= 0.2 + 0.3  # failing for so long, counting the next wait
    assert done == ["commit a batch"]
    assert [r.getMessage() for r in caplog.records] == [
        "could not commit a batch, retrying in 0.2 s: database down (1)",
        "could not commit a batch, retrying in 0.3 s: database down (2)",  # 0.4 capped at 0.3
    ]


def test_a_budget_of_failures_over_the_loop_life_gives_up_with_the_last_error() -> None:
    loop = RetryLoop(0.2, max_failures=3, context=" (batch 7)")
    first, _ = _failing(1)
    assert loop(first, "commit a batch") == 42
    always, calls = _failing(100)
    with pytest.raises(TransientError, match=r"gave up trying to isolate \(batch 7\) after 3 attempts: database down"):
        loop(always, "isolate")
    assert len(calls) == 2 and loop.failures == 3


def test_a_stop_request_ends_the_wait_at_once_and_the_heartbeat_says_why() -> None:
    stop = threading.Event()
    statuses: list[str] = []

    def beat(status: str) -> None:
        statuses.append(status)
        stop.set()  # the operator stops the engine while it waits

    done: list[str] = []
    loop = RetryLoop(30.0, stop=stop, beat=beat, beat_every_s=0.05, on_done=done.append)
    action, calls = _failing(100)
    with pytest.raises(StopRequested, match="stopped while retrying to read the offsets ledger"):
        loop(action, "read the offsets ledger")
    assert len(calls) == 1
    assert statuses == ["retrying: could not read the offsets ledger: database down (1)"]
    assert done == ["read the offsets ledger"]


def test_a_failing_heartbeat_never_stops_the_retries() -> None:
    def beat(status: str) -> None:
        raise TransientError("the heartbeat's database is down too")

    action, calls = _failing(1)
    assert RetryLoop(1.0, stop=threading.Event(), beat=beat, beat_every_s=0.05)(action, "write the heartbeat") == 42
    assert len(calls) == 2


@pytest.fixture
def restored_signals() -> Iterator[None]:
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_request_a_clean_stop(restored_signals: None, sig: signal.Signals) -> None:
    engine = StoppableEngine()
    engine.install_signal_handlers()
    assert not engine.stop_requested.is_set()
    os.kill(os.getpid(), sig)
    assert engine.stop_requested.wait(5)


def test_the_warmed_up_heap_is_frozen_and_full_collections_are_rarer() -> None:
    before = gc.get_threshold()
    warm = [{"cached": i} for i in range(1000)]  # long-lived objects of the warm-up
    try:
        freeze_warm_heap()
        assert gc.get_freeze_count() >= len(warm)
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] > before[0] and GC_THRESHOLDS[2] > before[2]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
