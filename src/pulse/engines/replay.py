"""Replay from quarantine: quarantined messages run again through the CURRENT rules, loaded exactly once.

Each batch of quarantine rows is transformed by `pipeline.transform_batch` from its stored raw bytes and
coordinates, and committed by the normal loader (facts, ledger, rollups of the event's own day) in ONE
transaction with the marks of its rows (`replayed_at`, `replay_outcome`; a still-rejected row takes its new
reason). A run interrupted anywhere and run again neither loses nor doubles anything: a batch is all marked
and loaded or not at all, a loaded row is never replayed again, and the event-id ledger makes a repeat of
an event already in the warehouse harmless.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pulse.errors import DataRejectedError
from pulse.events.model import Rejection, RejectReason, Stage
from pulse.model.star import StarBatch
from pulse.pipeline import Enrichers, transform_batch
from pulse.settings import Settings
from pulse.warehouse.db import connect
from pulse.warehouse.folding import Folder
from pulse.warehouse.loader import BatchResult, WarehouseLoader
from pulse.warehouse.replay import Quarantined, count_candidates, mark_replayed, replay_candidates
from pulse.warehouse.sessions import VisitRules

DEFAULT_BATCH_SIZE = 500
# A rejection that depends on the batch, not on the message (too many days in one batch): the row is run
# again first thing in the next batch instead of being marked.
_BATCH_BOUND = "PULSE_MAX_DAYS_PER_BATCH"


@dataclass(slots=True)
class ReplaySummary:
    """What a replay did (or, dry, would do)."""

    dry_run: bool
    considered: int = 0
    valid: int = 0  # pass the current rules
    loaded: int = 0  # new facts (not dry)
    already_loaded: int = 0  # valid, but their event id was in the warehouse already (not dry)
    skipped: int = 0  # rows another replay loaded meanwhile
    still_rejected: Counter[str] = field(default_factory=Counter)  # by their new reason

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON and the summary table."""
        return {"dry_run": self.dry_run, "considered": self.considered, "valid": self.valid,
                "loaded": self.loaded, "already_loaded": self.already_loaded, "skipped": self.skipped,
                "still_rejected": sum(self.still_rejected.values()),
                "still_rejected_by_reason": dict(sorted(self.still_rejected.items()))}


def replay_quarantine(
    settings: Settings, *, reason: str | None = None, since: datetime | None = None, dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE, enrichers: Enrichers | None = None,
    on_total: Callable[[int], None] | None = None, on_progress: Callable[[int], None] | None = None,
) -> ReplaySummary:
    """Replay the quarantine rows of `reason` quarantined since `since` (all when None) not yet loaded by a
    replay. `dry_run` writes nothing. `on_total(rows)` once, then `on_progress(rows done)` per batch. When
    events loaded (and PULSE_FOLD_IN_ENGINE), one fold at the end brings them into the rollups the KPIs read."""
    enrichers = enrichers or Enrichers.from_settings(settings)
    summary = ReplaySummary(dry_run=dry_run)
    reads = connect(settings.loader_url, setting=settings.loader_url_setting)
    reads.autocommit = True
    loader = WarehouseLoader(settings.loader_url, settings.consumer_group, kpi_zone=settings.timezone,
                             url_setting=settings.loader_url_setting, visit_rules=VisitRules.from_settings(settings))
    try:
        if on_total is not None:
            on_total(count_candidates(reads, reason=reason, since=since))
        after, deferred = 0, list[Quarantined]()
        while True:
            fresh = replay_candidates(reads, reason=reason, since=since, after=after,
                                      limit=max(batch_size - len(deferred), 1))
            rows, deferred = deferred + fresh, list[Quarantined]()
            if not rows:
                break
            after = max([after, *(r.quarantine_id for r in fresh)])
            outcomes, batch = _outcomes(rows, enrichers)
            ready = [r for r in rows if not _batch_bound(outcomes[r.quarantine_id])]
            deferred = [r for r in rows if _batch_bound(outcomes[r.quarantine_id])]
            _tally(summary, [outcomes[r.quarantine_id] for r in ready])
            if not dry_run:
                _commit(loader, ready, outcomes, batch, enrichers, summary)
            if on_progress is not None:
                on_progress(len(ready))
    finally:
        loader.close()
        reads.close()
    if not dry_run and settings.fold_in_engine:
        _fold(settings)  # the KPIs read the rollups: the replayed events count there now, not at the next fold
    return summary


def _fold(settings: Settings) -> None:
    folder = Folder(settings.loader_url, url_setting=settings.loader_url_setting,
                    statement_timeout_s=settings.commit_timeout_s, visit_rules=VisitRules.from_settings(settings))
    try:
        folder.fold()
    finally:
        folder.close()


def _outcomes(rows: list[Quarantined], enrichers: Enrichers) -> tuple[dict[int, Rejection | None], StarBatch]:
    """Each row's rejection under the current rules (None: valid), and the rows transformed as one batch."""
    batch = transform_batch([(r.raw, r.source) for r in rows], enrichers, now=time.time())
    by_source = {rej.source: rej for rej in batch.rejections if rej.source is not None}
    outcomes: dict[int, Rejection | None] = {}
    for row in rows:
        if row.source is not None:
            outcomes[row.quarantine_id] = by_source.get(row.source)
        else:  # no coordinates to tell it apart in the batch: its own verdict
            alone = transform_batch([(row.raw, None)], enrichers, now=time.time()).rejections
            outcomes[row.quarantine_id] = alone[0] if alone else None
    return outcomes, batch


def _batch_bound(rejection: Rejection | None) -> bool:
    return rejection is not None and rejection.reason is RejectReason.EVENT_TIME_OUT_OF_BOUNDS and (
        _BATCH_BOUND in rejection.detail)


def _tally(summary: ReplaySummary, outcomes: list[Rejection | None]) -> None:
    summary.considered += len(outcomes)
    summary.valid += sum(o is None for o in outcomes)
    summary.still_rejected.update(str(o.reason) for o in outcomes if o is not None)


def _commit(loader: WarehouseLoader, rows: list[Quarantined], outcomes: dict[int, Rejection | None],
            batch: StarBatch, enrichers: Enrichers, summary: ReplaySummary) -> None:
    """Load the valid rows' facts and mark every row, in one transaction; a batch the database refuses is
    committed row by row, and a row it still refuses is marked rejected (`load_failed`)."""
    valid = [r.quarantine_id for r in rows if outcomes[r.quarantine_id] is None]
    rejected = {i: o for i, o in outcomes.items() if o is not None and i in {r.quarantine_id for r in rows}}
    # The facts only: the still-rejected rows are marked in place, never quarantined a second time.
    facts = StarBatch(facts=batch.facts, dims=batch.dims, duplicates_in_batch=batch.duplicates_in_batch)
    try:
        result = loader.commit_batch(facts, {}, guard=lambda conn: mark_replayed(conn, valid, rejected))
    except DataRejectedError as exc:
        if len(rows) == 1:
            refused = Rejection(Stage.LOAD, RejectReason.LOAD_FAILED, str(exc)[:500], rows[0].raw, rows[0].source)
            _count(loader.commit_batch(StarBatch(), {}, guard=lambda conn: mark_replayed(
                conn, [], {rows[0].quarantine_id: refused})), 0, summary)
            summary.still_rejected[str(RejectReason.LOAD_FAILED)] += 1
            summary.valid -= 1
            return
        for row in rows:
            single, _ = _outcomes([row], enrichers)
            _commit(loader, [row], single, transform_batch([(row.raw, row.source)], enrichers, now=time.time()),
                    enrichers, summary)
        return
    _count(result, len(valid), summary)


def _count(result: BatchResult, valid: int, summary: ReplaySummary) -> None:
    if result.skipped:
        summary.skipped += valid
        return
    summary.loaded += result.loaded
    summary.already_loaded += valid - result.loaded
