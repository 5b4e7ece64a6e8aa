"""The engines' one commit policy: retry what is transient, isolate what the database refuses, lose nothing.

Both engines (the native committer thread and each Spark task) commit a batch through `commit_isolating`:

1. the whole batch, in one transaction (`WarehouseLoader.commit_batch`), transient failures retried by the
   engine's `attempt`, a `runtime.RetryLoop` (backoff, heartbeat, stop, a Spark task's budget);
2. refused as data (SQLSTATE classes 22, 23, 54): once more, whole - a unique violation from a concurrent
   writer or any other one-off goes away on the second try;
3. refused the same way again: the loader bisects it inside one transaction until the refused messages
   stand alone; they are quarantined with PostgreSQL's reason, every other message loads;
4. only if even that is refused (the quarantine rows themselves): every message to quarantine as
   `load_failed`, as before isolation existed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import psycopg

from pulse.errors import DataRejectedError
from pulse.events.model import Rejection, RejectReason, Stage
from pulse.model.star import StarBatch
from pulse.warehouse.loader import BatchResult, Isolation, Messages, Offsets, Transform, WarehouseLoader

log = logging.getLogger(__name__)

# The engine's retry loop around one database action (a runtime.RetryLoop): attempt(action, what) -> its result.
Attempt = Callable[[Callable[[], BatchResult], str], BatchResult]


def commit_isolating(
    loader: WarehouseLoader,
    batch: StarBatch,
    offsets: Offsets,
    messages: Messages,
    transform: Transform,
    attempt: Attempt,
    *,
    guard: Callable[[psycopg.Connection], bool] | None = None,
) -> tuple[BatchResult, StarBatch]:
    """Commit `batch` (the transform of `messages`) exactly once; returns the result and what was committed."""
    def whole() -> BatchResult:
        return loader.commit_batch(batch, offsets, guard=guard)

    first: DataRejectedError | None = None
    for _ in range(2):
        try:
            return attempt(whole, "commit a batch"), batch
        except DataRejectedError as refused:
            if first is None:
                log.warning("the database refused a batch of %d messages, trying once more: %s", len(messages), refused)
            first = refused
    log.warning("refused twice (%s): isolating the refused messages of the batch", first)
    try:
        isolated = attempt(
            lambda: loader.commit_batch(batch, offsets, guard=guard, isolate=Isolation(messages, transform)),
            "isolate refused messages",
        )
        return isolated, batch
    except DataRejectedError as error:
        fallback = quarantine_all(batch, messages, error)
        return attempt(lambda: loader.commit_batch(fallback, offsets, guard=guard), "quarantine a refused batch"), \
            fallback


def quarantine_all(batch: StarBatch, messages: Messages, error: Exception) -> StarBatch:
    """A batch whose every message goes to quarantine (`load_failed`), keeping the transform's own rejections."""
    log.error("quarantining all %d messages of a batch the database refused: %s", len(messages), error)
    already = {r.source for r in batch.rejections}
    return StarBatch(
        rejections=batch.rejections + [
            Rejection(Stage.LOAD, RejectReason.LOAD_FAILED, str(error)[:500], raw, src)
            for raw, src in messages
            if src not in already
        ]
    )
