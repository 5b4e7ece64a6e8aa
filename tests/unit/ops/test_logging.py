"""ECS log lines: the fields the Elastic configs use, and no secret or personal data in any format."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from pulse.ops import logging as pulse_logging
from pulse.ops.logging import batch_fields, configure_logging, redact_text
from tests.logfields import expand, leaf_paths, read_elastic_fields

HASH_KEY = "hash-key-that-must-never-show-0123456789"
EMAIL = "anna.schmidt+shop@example.de"
IPV4 = "81.150.29.233"
IPV6 = "2a02:8108:1140:3a00:d4c2:9f1e:12ab:77cd"
PASSWORD = "pg-Secret-pass"
RAW_EVENT = (
    '{"id": "5d9dc9f8", "collection": "view_product_detail", "email_address": "'
    + EMAIL + '", "ip": "' + IPV4 + '", "user_agent": "Mozilla/5.0"}'
)


@pytest.fixture
def capture() -> Iterator[None]:
    """Restore the root logger and forget registered secrets after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    pulse_logging._secrets.clear()


def _log_everything(fmt: str) -> str:
    stream = io.StringIO()
    configure_logging("DEBUG", fmt, secrets=[SecretStr(HASH_KEY), None])
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    log = logging.getLogger("pulse.test")
    log.info("visitor %s from %s and %s", EMAIL, IPV4, IPV6)
    log.warning("connecting to postgresql://pulse_engine:%s@db.internal:5432/pulse", PASSWORD)
    log.warning("dsn host=db password=%s user=pulse", PASSWORD)
    log.error("rejected %s", RAW_EVENT)
    log.info("key in use: %s", HASH_KEY)
    log.info("extras", extra={"settings.hash_key": HASH_KEY, "api_token": SecretStr("tok-123456"),
                              "pulse.raw": RAW_EVENT.encode(), "payload": RAW_EVENT,
                              "client": {"ip": IPV4, "email": EMAIL}, "peers": [IPV4, IPV6]})
    try:
        raise ValueError(f"bad row for {EMAIL} at {IPV4} with key {HASH_KEY}")
    except ValueError:
        log.exception("batch failed")
    return stream.getvalue()


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_no_secret_or_personal_data_reaches_a_log_line(capture: object, fmt: str) -> None:
    out = _log_everything(fmt)
    for forbidden in (HASH_KEY, EMAIL, IPV4, IPV6, PASSWORD, "tok-123456", '"user_agent"', "5d9dc9f8"):
        assert forbidden not in out, (forbidden, out)
    # What is kept is still useful: truncated addresses, the non-secret parts of a URL.
    assert "81.150.29.x" in out and "2a02:8108:1140::x" in out
    assert "postgresql://pulse_engine:***@db.internal:5432/pulse" in out
    assert "[email]" in out and "[secret]" in out


def test_json_lines_are_ecs_with_an_exception_and_carry_the_fields_the_configs_use(capture: object) -> None:
    out = _log_everything("json")
    docs = [expand(json.loads(line)) for line in out.splitlines()]
    assert len(docs) == 7
    fields = read_elastic_fields()
    for doc in docs:
        assert fields.every_line <= leaf_paths(doc)
        assert doc["service"]["name"] == "pulse" and doc["ecs"]["version"]
    failed = docs[-1]
    assert failed["log"]["level"] == "error"
    assert failed["error"]["type"] == "ValueError"
    assert "Traceback" not in failed["error"]["stack_trace"] and "_log_everything" in failed["error"]["stack_trace"]
    assert {"error.type", "error.message", "error.stack_trace"} <= fields.mapped


def test_elastic_configs_parse_and_reference_only_mapped_fields() -> None:
    fields = read_elastic_fields()
    assert fields.every_line == {"service.name"}
    assert {"pulse.batch.id", "pulse.kafka.topic", "log.level", "error.type"} <= fields.conditions
    assert fields.conditions - fields.mapped == set(), "Logstash tests fields the template does not map"
    assert fields.produced <= fields.mapped


def test_batch_fields_give_offset_ranges_per_partition() -> None:
    doc = batch_fields("e1-7", [("views", 2, 10), ("views", 0, 5), ("views", 2, 12), ("views", 2, 11)])
    assert doc == {
        "pulse.batch.id": "e1-7", "pulse.kafka.topic": "views", "pulse.kafka.partitions": [0, 2],
        "pulse.kafka.offsets": ["0:5-5", "2:10-12"],
    }


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("version 1.6.0 at 12:34:56", "version 1.6.0 at 12:34:56"),
        ("postgresql://pulse@db.example.com/pulse", "postgresql://pulse@db.example.com/pulse"),
        ("loopback ::1 stays", "loopback ::1 stays"),
        ("999.1.2.3 is no address", "999.1.2.3 is no address"),
    ],
)
def test_redaction_leaves_ordinary_text_alone(text: str, kept: str) -> None:
    assert redact_text(text) == kept


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("engine metrics on http://127.0.0.1:8440/metrics", "engine metrics on http://127.0.0.1:8440/metrics"),
        ("kafka at 127.0.0.1:19092 ready", "kafka at 127.0.0.1:19092 ready"),
        ("also 127.8.9.10 and ::1 and 0.0.0.0:8430", "also 127.8.9.10 and ::1 and 0.0.0.0:8430"),
        ("client 81.150.29.233 via 127.0.0.1", "client 81.150.29.x via 127.0.0.1"),
        ("proxy 10.1.2.3, peer 192.168.0.17", "proxy 10.1.2.x, peer 192.168.0.x"),
        ("v6 2a02:8108:1140:3a00::1 and ::1", "v6 2a02:8108:1140::x and ::1"),
        ("not loopback 128.0.0.1", "not loopback 128.0.0.x"),
    ],
)
def test_loopback_addresses_are_not_masked_and_others_still_are(text: str, shown: str) -> None:
    assert redact_text(text) == shown


def test_librdkafka_lines_go_to_debug_whatever_level_they_come_with(capture: object) -> None:
    stream = io.StringIO()
    configure_logging("INFO", "text")
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    pulse_logging.LIBRDKAFKA_LOG.log(logging.ERROR, "%s-%s: %s", "FAIL", "rdkafka#producer-1", "refused")
    assert stream.getvalue() == ""
    logging.getLogger().setLevel(logging.DEBUG)
    pulse_logging.LIBRDKAFKA_LOG.log(logging.ERROR, "%s-%s: %s", "FAIL", "rdkafka#producer-1", "refused")
    assert "DEBUG" in stream.getvalue() and "FAIL-rdkafka#producer-1: refused" in stream.getvalue()


def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(ValueError, match="text or json"):
        configure_logging("INFO", "xml")
