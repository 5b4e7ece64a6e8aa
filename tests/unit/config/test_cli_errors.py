"""Each operator mistake found in the audit (and each other bad setting), through the real CLI: exit status 2,
one line on stderr that names what to fix, no traceback. These need no running service."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.cli import assert_one_line_error, run_pulse
from tests.services import free_port

CLOSED = f"127.0.0.1:{free_port()}"  # nothing listens here

# (environment, command line, what the line must name)
CASES: list[tuple[dict[str, str], list[str], list[str]]] = [
    # the eight tracebacks of the audit
    ({"PULSE_DATABASE_URL": "garbage"}, ["migrate"], ["PULSE_DATABASE_URL", "connection string"]),
    ({"PULSE_DATABASE_URL": "postgresql://pulse@127.0.0.1:abc/pulse"}, ["stack", "status"],
     ["PULSE_DATABASE_URL", "port 'abc'"]),
    ({"PULSE_TIMEZONE": "[/x]"}, ["kpi", "top-products"], ["PULSE_TIMEZONE", "[/x]"]),
    ({"PULSE_BATCH_MAX_EVENTS": "2000000"}, ["run"], ["PULSE_BATCH_MAX_EVENTS", "at most 100000"]),
    ({"PULSE_COLLECT_TRUSTED_PROXIES": '["not-an-ip"]'}, ["collect"], ["PULSE_COLLECT_TRUSTED_PROXIES", "not-an-ip"]),
    ({"PULSE_COLLECT_ALLOWED_ORIGINS": "https://www.glamira.de"}, ["collect"],
     ["PULSE_COLLECT_ALLOWED_ORIGINS", 'must be a JSON list, e.g. ["a","b"]']),
    ({"PULSE_VIEW_COLLECTIONS": "view_product_detail,view_listing_page"}, ["kpi", "top-products"],
     ["PULSE_VIEW_COLLECTIONS", 'must be a JSON list, e.g. ["a","b"]']),
    ({}, ["--log-level", "BOGUS", "stats"], ["--log-level", "DEBUG, INFO, WARNING, ERROR"]),
    # and the quiet ones
    ({}, ["serve", "--port", "99999"], ["--port", "65535"]),
    ({"PULSE_API_TOKEN": ""}, ["serve"], ["PULSE_API_TOKEN", "set it or unset it"]),
    # the other checks at load, each through a command that needs the value
    ({"PULSE_API_PORT": "99999"}, ["serve"], ["PULSE_API_PORT"]),
    ({"PULSE_API_TOKEN": "pasted-with-a-newline\n"}, ["serve"], ["PULSE_API_TOKEN", "whitespace"]),
    ({"PULSE_COLLECT_PORT": "0"}, ["collect"], ["PULSE_COLLECT_PORT"]),
    ({}, ["collect", "--port", "0"], ["--port"]),
    ({"PULSE_COLLECT_MAX_BATCH_EVENTS": "1000000"}, ["collect"], ["PULSE_COLLECT_MAX_BATCH_EVENTS"]),
    ({"PULSE_COLLECT_ALLOWED_ORIGINS": '["https://www.glamira.de/de/"]'}, ["collect"],
     ["PULSE_COLLECT_ALLOWED_ORIGINS", "not an origin"]),
    ({"PULSE_KAFKA_BOOTSTRAP": "127.0.0.1:99999"}, ["produce", "--count", "1"], ["PULSE_KAFKA_BOOTSTRAP"]),
    ({"PULSE_TOPIC": "product views"}, ["produce", "--count", "1"], ["PULSE_TOPIC"]),
    ({"PULSE_METRICS_PORT": "70000"}, ["run"], ["PULSE_METRICS_PORT"]),
    ({}, ["run", "--metrics-port", "70000"], ["--metrics-port"]),
    ({}, ["run", "--processes", "0"], ["--processes"]),
    ({}, ["run", "--processes", "65"], ["--processes", "64"]),
    ({"PULSE_HASH_KEY": "short"}, ["run"], ["PULSE_HASH_KEY", "16 characters"]),
    ({"PULSE_LOADER_DATABASE_URL": ""}, ["run"], ["PULSE_LOADER_DATABASE_URL", "set it or unset it"]),
    ({"PULSE_RETRY_MAX_BACKOFF_S": "nan"}, ["run"], ["PULSE_RETRY_MAX_BACKOFF_S", "finite"]),
    ({"PULSE_INCLUDE_BOTS": "maybe"}, ["stats"], ["PULSE_INCLUDE_BOTS", "true or false"]),
    ({"PULSE_READER_DATABASE_URL": "postgresql://pulse_dashboard@127.0.0.1:0/pulse"}, ["stats"],
     ["PULSE_READER_DATABASE_URL"]),
    ({"PULSE_HEARTBEAT_INTERVAL_S": "60"}, ["health"], ["PULSE_HEALTH_ENGINE_STALE_AFTER_S",
                                                         "PULSE_HEARTBEAT_INTERVAL_S"]),
    ({"PULSE_SLACK_WEBHOOK_URL": "hooks.slack.com/services/T0/B0/x"}, ["alert", "test"],
     ["PULSE_SLACK_WEBHOOK_URL"]),
    ({"PULSE_SUPERSET_URL": "ftp://superset"}, ["superset", "provision"], ["PULSE_SUPERSET_URL"]),
    ({"PULSE_TIMEZONE": "Europe/Berlin"}, ["kpi", "top-products", "--tz", "[/x]"], ["--tz", "[/x]"]),
    # a service nobody runs: the line names the setting that points at it
    ({"PULSE_DATABASE_URL": f"postgresql://pulse@{CLOSED}/pulse"}, ["migrate"],
     ["PULSE_DATABASE_URL", "Connection refused"]),
    ({"PULSE_READER_DATABASE_URL": f"postgresql://pulse_dashboard@{CLOSED}/pulse"}, ["stats"],
     ["PULSE_READER_DATABASE_URL", "Connection refused"]),
]


@pytest.mark.parametrize(("env", "argv", "names"), CASES, ids=[" ".join(argv) + " " + " ".join(env)
                                                             for env, argv, _ in CASES])
def test_a_bad_setting_is_one_line_naming_it_and_exit_status_2(
    tmp_path: Path, env: dict[str, str], argv: list[str], names: list[str]
) -> None:
    result = run_pulse({"PULSE_HOME": str(tmp_path), **env}, *argv, timeout=60)
    assert_one_line_error(result, *names)


def test_a_secret_in_a_refused_value_is_not_printed(tmp_path: Path) -> None:
    result = run_pulse({"PULSE_HOME": str(tmp_path),
                        "PULSE_DATABASE_URL": "postgresql://pulse:my secret pw@127.0.0.1:5432/pulse"}, "migrate")
    line = assert_one_line_error(result, "PULSE_DATABASE_URL", "%20")
    assert "secret" not in line


def test_raw_client_failures_are_named_and_a_bug_is_left_alone() -> None:
    import psycopg
    from confluent_kafka import KafkaError, KafkaException

    from pulse.cli import operator_message

    refused = operator_message(psycopg.OperationalError("connection failed: Connection refused\nIs it running?"))
    assert refused is not None and "Connection refused" in refused and "PULSE_DATABASE_URL" in refused
    assert "Is it running" not in refused
    down = operator_message(KafkaException(KafkaError(KafkaError._TRANSPORT, "Broker transport failure")))
    assert down is not None and "PULSE_KAFKA_BOOTSTRAP" in down
    denied = operator_message(PermissionError(13, "Permission denied", "/srv/pulse/stack.lock"))
    assert denied is not None and "/srv/pulse/stack.lock" in denied and "PULSE_HOME" in denied
    # anything else is a bug: main() re-raises it with its traceback
    for bug in (ZeroDivisionError("bug"), KeyError("bug"), FileNotFoundError(2, "No such file"),
                KafkaException(KafkaError(KafkaError.INVALID_CONFIG, "bad")), KafkaException(),
                ConnectionRefusedError(111, "Connection refused"), psycopg.errors.SyntaxError("x")):
        assert operator_message(bug) is None, bug


@pytest.mark.parametrize(("env", "argv", "names"), [
    ({}, ["collect", "--port", "{port}"], ["PULSE_COLLECT_PORT", "--port", "in use"]),
    ({"PULSE_API_PORT": "{port}"}, ["serve"], ["PULSE_API_PORT", "in use"]),
])
def test_a_port_someone_else_listens_on_is_one_line_before_anything_starts(
    tmp_path: Path, env: dict[str, str], argv: list[str], names: list[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run_pulse({"PULSE_HOME": str(tmp_path), **{k: v.format(port=port) for k, v in env.items()}},
                           *(arg.format(port=port) for arg in argv), timeout=60)
    assert_one_line_error(result, *names, f"127.0.0.1:{port}")
