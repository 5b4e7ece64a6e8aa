"""`pulse health`: brokers, topic, PostgreSQL, schema version, engine liveness, lag and freshness -> ok/warn/fail.

Exit codes a scheduler can act on: 0 healthy, 1 degraded (a warning), 2 unhealthy (a failure).
Ages are measured with the database's clock, so a skewed clock on the checking host cannot fake them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any

import psycopg
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ClusterMetadata, OffsetSpec

from pulse.errors import PulseError
from pulse.settings import Settings
from pulse.sources import kafka
from pulse.warehouse.db import connect_reader
from pulse.warehouse.health import freshness, heartbeats, server_version
from pulse.warehouse.migrate import applied_migrations, available_migrations
from pulse.warehouse.offsets import stored_offsets


class Status(StrEnum):
    """The verdict of one check (ordered by severity)."""

    ok = "ok"
    warn = "warn"
    fail = "fail"


class ExitCode(IntEnum):
    """What `pulse health` exits with."""

    healthy = 0
    degraded = 1
    unhealthy = 2


_SEVERITY = {Status.ok: 0, Status.warn: 1, Status.fail: 2}


@dataclass(frozen=True, slots=True)
class Check:
    """One checked item."""

    name: str
    status: Status
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HealthReport:
    """Every check of one run; the overall status is the worst one."""

    checks: list[Check]
    checked_at: datetime

    @property
    def status(self) -> Status:
        """Worst status of all checks."""
        return max((c.status for c in self.checks), key=_SEVERITY.__getitem__, default=Status.ok)

    @property
    def exit_code(self) -> int:
        """0 healthy, 1 degraded, 2 unhealthy."""
        return _SEVERITY[self.status]

    def as_dict(self) -> dict[str, Any]:
        """Plain values for `--format json`."""
        return {
            "status": str(self.status), "exit_code": self.exit_code, "checked_at": self.checked_at.isoformat(),
            "checks": [
                {"name": c.name, "status": str(c.status), "message": c.message, "details": c.details}
                for c in self.checks
            ],
        }


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a number becomes a warning or a failure."""

    max_lag: int
    max_staleness_s: float
    engine_stale_after_s: float

    @classmethod
    def from_settings(cls, settings: Settings, max_lag: int | None = None,
                      max_staleness_s: float | None = None) -> Thresholds:
        """The configured thresholds, with command-line overrides."""
        return cls(
            max_lag=settings.health_max_lag if max_lag is None else max_lag,
            max_staleness_s=settings.health_max_staleness_s if max_staleness_s is None else max_staleness_s,
            engine_stale_after_s=settings.health_engine_stale_after_s,
        )


def check_health(settings: Settings, thresholds: Thresholds, *, timeout_s: float = 5.0) -> HealthReport:
    """Run every check; never raises for an unhealthy system (that is what the report says)."""
    checks: list[Check] = []
    metadata, kafka_check = _kafka_metadata(settings, timeout_s)
    checks.append(kafka_check)
    checks.append(_topic_check(settings, metadata))
    conn, pg_check = _database(settings)
    checks.append(pg_check)
    if conn is None:
        for name in ("schema", "engine", "lag", "freshness"):
            checks.append(Check(name, Status.fail, "not checked: PostgreSQL is unreachable"))
        return HealthReport(checks, datetime.now(UTC))
    with conn:
        checks.append(_guarded("schema", _schema_check, conn))
        checks.append(_guarded("engine", _engine_check, conn, settings, thresholds))
        checks.append(_guarded("lag", _lag_check, conn, settings, thresholds, metadata, timeout_s))
        checks.append(_guarded("freshness", _freshness_check, conn, thresholds))
    return HealthReport(checks, datetime.now(UTC))


def _guarded(name: str, check: Any, *args: Any) -> Check:
    """Run one database check; a missing table or grant is a failure with the fix in its message."""
    try:
        return check(*args)  # type: ignore[no-any-return]
    except (psycopg.errors.UndefinedTable, psycopg.errors.InsufficientPrivilege) as exc:
        return Check(name, Status.fail, f"{_first_line(exc)} (run `pulse migrate`)")
    except (psycopg.Error, KafkaException, PulseError) as exc:
        return Check(name, Status.fail, _first_line(exc))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ---------------------------------------------------------------------------------------- Kafka
def _admin(settings: Settings, timeout_s: float) -> AdminClient:
    # quiet: connection chatter is not health output, the report says what matters
    return kafka.admin(settings, client_id="pulse-health", timeout_s=timeout_s, quiet=True)


def _kafka_metadata(settings: Settings, timeout_s: float) -> tuple[ClusterMetadata | None, Check]:
    try:
        metadata = _admin(settings, timeout_s).list_topics(timeout=timeout_s)
    except KafkaException as exc:
        return None, Check("brokers", Status.fail,
                           f"no Kafka broker answered at {settings.kafka_bootstrap}: {_first_line(exc)}")
    brokers = sorted(metadata.brokers)
    return metadata, Check(
        "brokers", Status.ok, f"{len(brokers)} broker(s) reachable", {"broker_ids": brokers,
                                                                       "controller_id": metadata.controller_id},
    )


def _topic_check(settings: Settings, metadata: ClusterMetadata | None) -> Check:
    if metadata is None:
        return Check("topic", Status.fail, "not checked: no broker reachable")
    topic = metadata.topics.get(settings.topic)
    if topic is None or topic.error is not None:
        return Check("topic", Status.fail, f"topic {settings.topic!r} does not exist (create it, or check PULSE_TOPIC)")
    parts = topic.partitions.values()
    replication = min((len(p.replicas) for p in parts), default=0)
    offline = sorted(p.id for p in parts if p.leader < 0)
    under = sorted(p.id for p in parts if len(p.isrs) < len(p.replicas))
    details = {"topic": settings.topic, "partitions": len(topic.partitions), "replication_factor": replication,
               "min_in_sync_replicas": min((len(p.isrs) for p in parts), default=0),
               "offline_partitions": offline, "under_replicated_partitions": under}
    shape = f"{settings.topic}: {len(topic.partitions)} partition(s), replication factor {replication}"
    if offline:
        return Check("topic", Status.fail, f"{shape}; partitions without a leader: {offline}", details)
    if under:
        return Check("topic", Status.warn, f"{shape}; under-replicated partitions: {under}", details)
    return Check("topic", Status.ok, f"{shape}, all replicas in sync", details)


# ---------------------------------------------------------------------------------------- PostgreSQL
def _database(settings: Settings) -> tuple[psycopg.Connection | None, Check]:
    try:
        conn = connect_reader(settings, autocommit=True)  # autocommit: one failed query must not poison the next
    except PulseError as exc:
        return None, Check("postgresql", Status.fail, str(exc))
    return conn, Check("postgresql", Status.ok, f"connected (PostgreSQL {server_version(conn) or '?'})")


def _schema_check(conn: psycopg.Connection) -> Check:
    applied = applied_migrations(conn)
    bundled = {m.version: m for m in available_migrations()}
    missing = sorted(set(bundled) - set(applied))
    edited = sorted(v for v in set(bundled) & set(applied) if bundled[v].checksum != applied[v])
    unknown = sorted(set(applied) - set(bundled))
    details = {"applied": max(applied, default=0), "bundled": max(bundled, default=0)}
    if missing:
        return Check("schema", Status.fail, f"migrations {missing} are not applied (run `pulse migrate`)", details)
    if edited:
        return Check("schema", Status.fail, f"applied migrations {edited} differ from this pulse's files", details)
    if unknown:
        return Check("schema", Status.warn, f"the database has migrations {unknown} this pulse does not know"
                                            " (an older pulse against a newer schema)", details)
    return Check("schema", Status.ok, f"schema version {details['applied']} (up to date)", details)


def _engine_check(conn: psycopg.Connection, settings: Settings, thresholds: Thresholds) -> Check:
    beats = heartbeats(conn, settings.topic)
    if not beats:
        return Check("engine", Status.fail, f"no engine has ever run on topic {settings.topic!r} (start `pulse run`)")
    live = [b for b in beats if not b.stopped and b.age_s <= thresholds.engine_stale_after_s]
    if live:
        details = {"engines": [{"engine_id": b.engine_id, "engine": b.engine, "host": b.host, "pid": b.pid,
                                "heartbeat_age_s": round(b.age_s, 1), "status": b.status or "running"} for b in live]}
        stalled = [b for b in live if b.status]
        if stalled:  # alive, but not loading: a transient failure is being retried
            return Check("engine", Status.warn, f"{len(live)} engine(s) alive, {len(stalled)} not loading:"
                                                f" {stalled[0].engine} {stalled[0].engine_id} is {stalled[0].status}",
                         details)
        return Check("engine", Status.ok, f"{len(live)} engine(s) running, newest heartbeat"
                                          f" {live[0].age_s:.1f} s ago", details)
    last = beats[0]
    how = "stopped cleanly" if last.stopped else "no heartbeat (crashed or hung?)"
    return Check("engine", Status.fail, f"no engine running: the last one ({last.engine} {last.engine_id} on"
                                        f" {last.host}, pid {last.pid}) {how}, last beat {last.age_s:.0f} s ago",
                 {"last_engine_id": last.engine_id, "heartbeat_age_s": round(last.age_s, 1)})


def _lag_check(conn: psycopg.Connection, settings: Settings, thresholds: Thresholds,
               metadata: ClusterMetadata | None, timeout_s: float) -> Check:
    if metadata is None or settings.topic not in metadata.topics:
        return Check("lag", Status.fail, "not checked: the topic's offsets cannot be read from Kafka")
    committed = stored_offsets(conn, settings.consumer_group, settings.topic)
    partitions = sorted(metadata.topics[settings.topic].partitions)
    admin = _admin(settings, timeout_s)
    ends = _offsets(admin, settings.topic, partitions, OffsetSpec.latest(), timeout_s)
    starts = _offsets(admin, settings.topic, partitions, OffsetSpec.earliest(), timeout_s)
    per_partition = {p: max(ends[p] - max(committed.get(p, 0), starts[p]), 0) for p in partitions}
    total = sum(per_partition.values())
    details = {"consumer_group": settings.consumer_group, "lag": total, "max_lag": thresholds.max_lag,
               "per_partition": per_partition}
    if total > thresholds.max_lag:
        return Check("lag", Status.warn, f"{total:,} messages not yet in the warehouse (above {thresholds.max_lag:,})",
                     details)
    return Check("lag", Status.ok, f"{total:,} messages behind", details)


def _offsets(admin: AdminClient, topic: str, partitions: list[int], spec: OffsetSpec,
             timeout_s: float) -> dict[int, int]:
    futures = admin.list_offsets({TopicPartition(topic, p): spec for p in partitions}, request_timeout=timeout_s)
    return {tp.partition: int(f.result(timeout=timeout_s).offset) for tp, f in futures.items()}


def _freshness_check(conn: psycopg.Connection, thresholds: Thresholds) -> Check:
    state = freshness(conn)
    if state.newest_event_time is None or state.event_age_s is None:
        return Check("freshness", Status.warn, "no event has been loaded yet")
    age, commit_age = state.event_age_s, state.commit_age_s or 0.0
    details = {"newest_event_time": state.newest_event_time.isoformat(),
               "last_commit_at": state.last_commit_at.isoformat() if state.last_commit_at else None,
               "event_age_s": round(age, 1), "max_staleness_s": thresholds.max_staleness_s}
    if age > thresholds.max_staleness_s:
        return Check("freshness", Status.warn, f"newest event is {age:,.0f} s old"
                                               f" (above {thresholds.max_staleness_s:,.0f} s)", details)
    return Check("freshness", Status.ok, f"newest event {age:,.1f} s old, last commit {commit_age:,.1f} s ago",
                 details)
