"""The pipeline every engine runs: decode -> validate -> enrich -> model, for one batch of raw messages."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pulse.enrich.domain import StorefrontMap
from pulse.enrich.geoip import GeoLookup, open_geo_database
from pulse.enrich.money import warm_currency_data
from pulse.enrich.privacy import redact_text
from pulse.enrich.useragent import UserAgentParser
from pulse.events.decode import DEFAULT_MAX_EVENT_AGE_DAYS, DEFAULT_MAX_FUTURE_SKEW_S, decode_event
from pulse.events.model import Rejection, RejectReason, SourceRef, Stage
from pulse.model.cache import ModelCaches
from pulse.model.star import StarBatch, UnstorableValueError, model_event

if TYPE_CHECKING:
    from pulse.settings import Settings

# Distinct UTC days of events one batch may hold: each can be a new daily fact partition, so one batch
# of old events (of 100 days, say) cannot create a partition per event. Real late traffic spans a few days.
DEFAULT_MAX_DAYS_PER_BATCH = 31


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """What the pipeline is told from outside, as plain values: the data files to open and its bounds.

    Built from the settings once (`from_settings`); the Spark engine ships it to its executors. The bounds
    are those of `decode_event` (PULSE_MAX_EVENT_BYTES, PULSE_MAX_EVENT_AGE_DAYS, PULSE_MAX_FUTURE_SKEW_S).
    """

    hash_key: bytes = field(repr=False)
    geoip_database: Path | None = None  # None: the bundled database
    storefronts_file: Path | None = None  # None: the bundled storefront map
    max_event_bytes: int = 1_000_000
    max_event_age_days: float = DEFAULT_MAX_EVENT_AGE_DAYS
    max_future_skew_s: float = DEFAULT_MAX_FUTURE_SKEW_S
    privacy_redact: bool = True  # e-mails, IPs and URL credentials in every stored string (PULSE_PRIVACY_REDACT)
    # Distinct UTC days one batch may hold (each may be a new fact partition): PULSE_MAX_DAYS_PER_BATCH.
    max_days_per_batch: int = DEFAULT_MAX_DAYS_PER_BATCH

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineConfig:
        """The pipeline's part of the settings (raises ConfigError when the hash key is missing)."""
        return cls(
            hash_key=settings.require_hash_key(),
            geoip_database=settings.geoip_database,
            storefronts_file=settings.storefronts_file,
            max_event_bytes=settings.max_event_bytes,
            max_event_age_days=settings.max_event_age_days,
            max_future_skew_s=settings.max_future_skew_s,
            privacy_redact=settings.privacy_redact,
            max_days_per_batch=settings.max_days_per_batch,
        )


@dataclass(frozen=True, slots=True)
class Enrichers:
    """Everything the pipeline needs from the outside, built once per process (engines inject it)."""

    storefronts: StorefrontMap
    user_agents: UserAgentParser
    geo: GeoLookup
    hash_key: bytes
    max_event_bytes: int = 1_000_000
    max_event_age_days: float = DEFAULT_MAX_EVENT_AGE_DAYS
    max_future_skew_s: float = DEFAULT_MAX_FUTURE_SKEW_S
    privacy_redact: bool = True
    max_days_per_batch: int = DEFAULT_MAX_DAYS_PER_BATCH
    # What the model made of repeated values; not an init field, so `dataclasses.replace` starts empty ones.
    caches: ModelCaches = field(init=False, default_factory=ModelCaches, repr=False, compare=False)

    @classmethod
    def open(cls, config: PipelineConfig) -> Enrichers:
        """Open the data files (geo database, storefront map, CLDR currencies) and the user-agent parser."""
        warm_currency_data()
        return cls(
            storefronts=StorefrontMap.load(config.storefronts_file),
            user_agents=UserAgentParser(),
            geo=open_geo_database(config.geoip_database),
            hash_key=config.hash_key,
            max_event_bytes=config.max_event_bytes,
            max_event_age_days=config.max_event_age_days,
            max_future_skew_s=config.max_future_skew_s,
            privacy_redact=config.privacy_redact,
            max_days_per_batch=config.max_days_per_batch,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Enrichers:
        """The enrichers the settings describe (what an engine process opens once)."""
        return cls.open(PipelineConfig.from_settings(settings))

    @classmethod
    def create(cls, *, hash_key: bytes, **options: Any) -> Enrichers:
        """`open` with the fields of PipelineConfig as keywords (tests, benchmarks)."""
        return cls.open(PipelineConfig(hash_key=hash_key, **options))


def transform_batch(
    messages: Iterable[tuple[bytes, SourceRef | None]], enrichers: Enrichers, *, now: float
) -> StarBatch:
    """The pure core every engine calls: decode, validate, enrich and model a batch of raw messages.

    A repeated event id inside the batch keeps its first occurrence; the warehouse dedupes across
    batches.
    """
    batch = StarBatch()
    seen: set[str] = set()
    days: set[date] = set()
    for raw, source in messages:
        decoded = decode_event(
            raw, source, now=now, max_bytes=enrichers.max_event_bytes,
            max_event_age_days=enrichers.max_event_age_days, max_future_skew_s=enrichers.max_future_skew_s,
        )
        if isinstance(decoded, Rejection):
            batch.rejections.append(_private_rejection(decoded, enrichers))
            continue
        day = decoded.event_time.date()
        if day not in days:
            if len(days) >= enrichers.max_days_per_batch:  # each new day may be a new partition: bounded
                batch.rejections.append(Rejection(
                    Stage.VALIDATE, RejectReason.EVENT_TIME_OUT_OF_BOUNDS,
                    f"the batch already holds events of {len(days)} days (PULSE_MAX_DAYS_PER_BATCH);"
                    f" this one is of {day.isoformat()}", raw, source))
                continue
            days.add(day)
        # Model before deduplicating, as across batches: whether a copy is rejected never depends on
        # which batch it shares, and only a modelled event claims its id (a later valid copy still loads).
        try:
            row = model_event(decoded, enrichers, batch.dims)
        except UnstorableValueError as exc:
            batch.rejections.append(Rejection(Stage.VALIDATE, exc.reason, str(exc)[:500], raw, source))
            continue
        except Exception as exc:  # noqa: BLE001 - a bug in an enricher must not stop the stream
            detail = f"{type(exc).__name__}: {exc}"[:500]
            failed = Rejection(Stage.ENRICH, RejectReason.ENRICH_FAILED, detail, raw, source)
            batch.rejections.append(_private_rejection(failed, enrichers))
            continue
        if decoded.event_id in seen:
            batch.duplicates_in_batch += 1
            continue
        seen.add(decoded.event_id)
        batch.facts.append(row)
    return batch


def _private_rejection(rejection: Rejection, enrichers: Enrichers) -> Rejection:
    """A rejection whose detail (which may quote the input) has passed the privacy step; raw stays as sent."""
    if not enrichers.privacy_redact:
        return rejection
    detail = redact_text(rejection.detail, enrichers.hash_key)
    return rejection if detail == rejection.detail else dataclasses.replace(rejection, detail=detail)
