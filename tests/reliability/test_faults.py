"""Faults during a run with hostile input mixed in: kill -9 of the engine, PostgreSQL restarts, PostgreSQL
refusing connections, Kafka restarts. After each: one fact per distinct valid event, no duplicates,
every rejected message quarantined with its reason, and the engine still running."""

from __future__ import annotations

import json
import random
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from pulse.settings import Settings
from pulse.stack.broker import start_kafka, stop_kafka
from pulse.stack.cluster import restart_postgres
from pulse.testing.engine import (
    EngineProcess,
    end_offsets,
    offsets_consumed,
    wait_until_caught_up,
    wait_until_loading,
)
from tests.reliability.audit import audit_warehouse
from tests.reliability.report import Row, Scale
from tests.reliability.workload import Sent, engine_env, mixed, send
from tests.services import pulse_cli, superuser

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


def _retries(log: str) -> int:
    return log.count("retrying in")


def _finish(settings: Settings, engine: EngineProcess, sent: list[Sent], row: Row) -> None:
    """The engine reaches the end of the topic and is still running; the warehouse passes the audit;
    then a SIGTERM stops it cleanly."""
    wait_until_caught_up(settings, engine)
    audit = audit_warehouse(settings, sent)
    audit.fill(row)
    assert engine.alive(), "the engine died"
    row.retries += _retries(engine.stop())
    assert not audit.problems, audit.summary()


def test_kill_9_at_random_moments(workspace: Settings, scale: Scale, report_row: Row) -> None:
    report_row.scenario = "kill -9 of the engine at random moments"
    sent = send(workspace, mixed(seed=21, synthetic_count=scale.kill_events, now=time.time()))
    total = end_offsets(workspace)
    rng = random.Random(21)
    mid_stream = 0
    for _ in range(scale.kills):
        with EngineProcess(engine_env(workspace)) as engine:
            # anywhere from start-up (before the first commit) to deep into loading
            time.sleep(rng.uniform(0.5, 5.0))
            mid_stream += offsets_consumed(workspace) < total
            engine.kill()
            report_row.retries += _retries(engine.log())
    report_row.faults = f"{scale.kills} × kill -9 ({mid_stream} before the end of the topic)"
    assert mid_stream >= 1, "the engine reached the end of the topic before the first kill"
    with EngineProcess(engine_env(workspace)) as engine:
        _finish(workspace, engine, sent, report_row)


def test_kill_9_of_the_folder_at_random_moments(workspace: Settings, scale: Scale, report_row: Row) -> None:
    report_row.scenario = "kill -9 of the folder (`pulse fold`) at random moments while the engine loads"
    sent = send(workspace, mixed(seed=26, synthetic_count=scale.kill_events, now=time.time()))
    total = end_offsets(workspace)
    rng = random.Random(26)
    mid_stream = 0
    alone = {**engine_env(workspace), "PULSE_FOLD_IN_ENGINE": "false"}
    with EngineProcess(alone) as engine:
        for _ in range(scale.kills):
            with EngineProcess(alone, "--interval", "0.05", command="fold") as folder:
                time.sleep(rng.uniform(0.3, 3.0))  # start-up, between folds, or inside one
                mid_stream += offsets_consumed(workspace) < total
                folder.kill()
        report_row.faults = f"{scale.kills} × kill -9 of the folder ({mid_stream} before the end of the topic)"
        assert mid_stream >= 1, "the engine reached the end of the topic before the first kill"
        with EngineProcess(alone, "--interval", "0.05", command="fold") as folder:
            _finish(workspace, engine, sent, report_row)
            folder.stop()


def _second_wave(settings: Settings, seed: int) -> list[Sent]:
    """More traffic sent during or right after a fault, so the engine must get through it to load it."""
    return send(settings, mixed(seed=seed, synthetic_count=1000, now=time.time()))


def test_postgres_restarts(workspace: Settings, stack: Settings, scale: Scale, report_row: Row) -> None:
    report_row.scenario = "PostgreSQL restarts (fast shutdown) mid-stream"
    sent = send(workspace, mixed(seed=22, synthetic_count=scale.restart_events, now=time.time()))
    rng = random.Random(22)
    with EngineProcess(engine_env(workspace)) as engine:
        wait_until_loading(workspace, engine)
        for restart in range(scale.postgres_restarts):
            restart_postgres(stack)
            sent += _second_wave(workspace, seed=220 + restart)
            time.sleep(rng.uniform(0.5, 2.0))
        report_row.faults = f"{scale.postgres_restarts} × PostgreSQL restart"
        wait_until_caught_up(workspace, engine)
        assert "retrying" in engine.log(), "the engine never met a restart"
        _finish(workspace, engine, sent, report_row)


@contextmanager
def connections_refused(stack: Settings, database: str) -> Iterator[None]:
    """The workspace database refuses new connections and its sessions are cut, until the block ends."""
    name = sql.Identifier(database)
    with superuser(stack) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )
            yield
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))


def test_postgres_refuses_connections_for_a_while(workspace: Settings, stack: Settings, scale: Scale,
                                                 report_row: Row) -> None:
    report_row.scenario = f"PostgreSQL refuses connections for {scale.refusal_s:.0f} s"
    sent = send(workspace, mixed(seed=23, synthetic_count=scale.restart_events, now=time.time()))
    database = str(conninfo_to_dict(workspace.database_url)["dbname"])
    with EngineProcess(engine_env(workspace)) as engine:
        wait_until_loading(workspace, engine)
        with connections_refused(stack, database):
            refused_at = time.monotonic()
            sent += _second_wave(workspace, seed=230)
            time.sleep(max(0.0, scale.refusal_s - (time.monotonic() - refused_at)))
            assert engine.alive(), "the engine died while PostgreSQL refused connections"
        report_row.faults = f"database closed to connections for {scale.refusal_s:.0f} s, sessions cut"
        assert "not currently accepting connections" in engine.log(), "the engine never met the refusal"
        _finish(workspace, engine, sent, report_row)


def test_kafka_restarts(workspace: Settings, stack: Settings, scale: Scale, report_row: Row) -> None:
    report_row.scenario = "Kafka broker restarts mid-stream"
    sent = send(workspace, mixed(seed=24, synthetic_count=scale.restart_events, now=time.time()))
    with EngineProcess(engine_env(workspace)) as engine:
        wait_until_loading(workspace, engine)
        for restart in range(scale.kafka_restarts):
            stop_kafka(stack)
            time.sleep(2)
            start_kafka(stack)
            sent += _second_wave(workspace, seed=240 + restart)
        report_row.faults = f"{scale.kafka_restarts} × broker stop, 2 s down, start"
        _finish(workspace, engine, sent, report_row)


@contextmanager
def commits_stalled(settings: Settings) -> Iterator[None]:
    """Every batch commit of the workspace fails transiently while the database itself stays up: a session
    holds kafka_offsets (written by every batch) locked against writes, so the engine's statements time out
    (PULSE_COMMIT_TIMEOUT_S)."""
    with psycopg.connect(settings.database_url) as holder:
        holder.execute("LOCK TABLE kafka_offsets IN EXCLUSIVE MODE")  # reads go on, writes wait
        yield
        holder.rollback()


def test_a_stalled_engine_says_why_and_stops_on_sigterm(workspace: Settings, report_row: Row) -> None:
    report_row.scenario = "commits stalled (statement timeouts): health shows the retry; SIGTERM mid-retry"
    sent = send(workspace, mixed(seed=25, synthetic_count=2000, now=time.time()))
    stalled_env = {**engine_env(workspace), "PULSE_HEARTBEAT_INTERVAL_S": "1", "PULSE_COMMIT_TIMEOUT_S": "1"}
    with EngineProcess(stalled_env) as engine:
        wait_until_loading(workspace, engine)
        with commits_stalled(workspace):
            sent += _second_wave(workspace, seed=250)
            deadline = time.monotonic() + 60
            health: dict[str, object] = {}
            while time.monotonic() < deadline:
                answer = pulse_cli(workspace, "health", "--format", "json")
                health = {c["name"]: c for c in json.loads(answer.stdout)["checks"]}
                if health["engine"]["status"] == "warn":
                    break
                time.sleep(1)
            engine_check = health["engine"]
            assert engine_check["status"] == "warn", engine_check  # type: ignore[index]
            assert "retrying: could not commit a batch" in engine_check["message"], engine_check  # type: ignore[index]
            assert engine.alive()
            started = time.monotonic()
            engine.process.terminate()
            code = engine.wait(timeout=30)
            stopped_in = time.monotonic() - started
        assert code == 0, engine.log()[-2000:]
        assert stopped_in < 10, f"SIGTERM took {stopped_in:.1f} s while retrying"
        report_row.faults = f"kafka_offsets locked, commits time out; SIGTERM stopped the engine in {stopped_in:.1f} s"
    with EngineProcess(engine_env(workspace)) as engine:
        _finish(workspace, engine, sent, report_row)


def _children(engine: EngineProcess, count: int, timeout: float = 60) -> list[int]:
    """The supervisor's `count` engine processes, once they are all there."""
    deadline = time.monotonic() + timeout
    while len(pids := engine.children()) != count:
        assert engine.alive(), f"the supervisor exited: {engine.log()[-2000:]}"
        assert time.monotonic() < deadline, f"{len(pids)} engine processes after {timeout:.0f} s, not {count}"
        time.sleep(0.1)
    return pids


def test_kill_9_of_one_of_two_processes(workspace: Settings, scale: Scale, report_row: Row) -> None:
    report_row.scenario = "kill -9 of one of two engine processes (pulse run --processes 2)"
    sent = send(workspace, mixed(seed=23, synthetic_count=scale.kill_events * 2, now=time.time()))
    total = end_offsets(workspace)
    with EngineProcess(engine_env(workspace), "--processes", "2") as supervisor:
        victim = _children(supervisor, 2)[0]
        wait_until_loading(workspace, supervisor)
        mid_stream = offsets_consumed(workspace) < total
        subprocess.run(["kill", "-9", str(victim)], check=True)
        deadline = time.monotonic() + 60
        while victim in (pids := _children(supervisor, 2)) or len(pids) != 2:  # restarted: a new second child
            assert time.monotonic() < deadline, "the killed engine process was not restarted"
            time.sleep(0.1)
        report_row.faults = f"1 × kill -9 of a child ({'before' if mid_stream else 'at'} the end of the topic)"
        assert mid_stream, "the engines reached the end of the topic before the kill"
        _finish(workspace, supervisor, sent, report_row)
        assert "killed by signal 9: restarting it" in supervisor.log()
    with psycopg.connect(workspace.database_url) as conn:
        identities = conn.execute("SELECT count(*) FROM engine_heartbeat WHERE consumer_group = %s",
                                  (workspace.consumer_group,)).fetchone()
    assert identities == (3,), "two children and the restarted one, each its own engine identity"
