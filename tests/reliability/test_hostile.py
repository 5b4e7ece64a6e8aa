"""A flood of hostile input into one running engine: the hand-made corpus (invalid UTF-8, deep nesting,
multi-megabyte messages, wrong types, missing fields, SQL-looking strings, far-past and far-future times,
unknown collections, duplicate ids with different content), then hypothesis-generated traffic. After each
example the warehouse is audited against everything sent so far, and the engine must still be running."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse.settings import Settings
from pulse.testing.engine import EngineProcess, wait_until_caught_up
from tests.reliability.audit import audit_warehouse
from tests.reliability.report import Row, Scale
from tests.reliability.strategies import labelled_messages, oversized_examples
from tests.reliability.workload import Sent, engine_env, hostile_corpus, send

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


def test_hostile_flood(workspace: Settings, scale: Scale, report_row: Row) -> None:
    report_row.scenario = f"hostile flood: corpus + {scale.flood_examples} hypothesis examples, one engine"
    report_row.faults = "none (input only)"
    now = time.time()
    sent: list[Sent] = []

    def check(engine: EngineProcess) -> None:
        wait_until_caught_up(workspace, engine)
        audit = audit_warehouse(workspace, sent)
        audit.fill(report_row)
        assert engine.alive(), f"the engine died: {engine.log()[-2000:]}"
        assert not audit.problems, audit.summary()

    with EngineProcess(engine_env(workspace)) as engine:
        sent += send(workspace, hostile_corpus(now))
        check(engine)

        most = scale.flood_max_messages

        @settings(max_examples=scale.flood_examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.lists(labelled_messages(now), min_size=most // 3, max_size=most))
        def flood(messages: list) -> None:  # type: ignore[type-arg]
            sent.extend(send(workspace, messages))
            check(engine)

        flood()
        report_row.retries = engine.stop().count("retrying in")


def test_oversized_values_never_block_the_events_behind_them(workspace: Settings, scale: Scale,
                                                             report_row: Row) -> None:
    report_row.scenario = f"oversized values in every field: {scale.flood_examples} hypothesis examples, one engine"
    report_row.faults = "none (input only)"
    now = time.time()
    sent: list[Sent] = []
    with EngineProcess(engine_env(workspace)) as engine:

        @settings(max_examples=scale.flood_examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.lists(oversized_examples(now), min_size=1, max_size=4))
        def oversized(examples: list) -> None:  # type: ignore[type-arg]
            sent.extend(send(workspace, [message for example in examples for message in example]))
            wait_until_caught_up(workspace, engine)
            audit = audit_warehouse(workspace, sent)
            audit.fill(report_row)
            assert engine.alive(), f"the engine died: {engine.log()[-2000:]}"
            assert not audit.problems, audit.summary()

        oversized()
        report_row.retries = engine.stop().count("retrying in")
