"""Logging setup: text for terminals, ECS JSON lines (ecs-logging) for Elastic; secrets and personal data redacted.

pulse's own fields live under `pulse.*` (ECS reserves no such namespace): `pulse.batch.id`,
`pulse.kafka.topic`, `pulse.kafka.offsets` ("partition:first-last" per partition), ... Every record
passes `redact_value` before it is written, whichever format: secrets registered at start-up, passwords
in connection strings, e-mail addresses, full IP addresses and raw event payloads never reach a log.
Loopback addresses (127.0.0.0/8, ::1) are kept: they name this machine, not a person.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import ecs_logging
from pydantic import SecretStr

SERVICE_NAME = "pulse"

# Attributes every LogRecord has; anything else was passed with `extra=` and is a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

# Field names whose values are raw payloads or credentials, whatever they contain.
_SECRET_KEYS = re.compile(r"(^|[._])(password|passwd|secret|token|hash_key|api_key|authorization)$", re.I)
_PAYLOAD_KEYS = re.compile(r"(^|[._])(raw|payload|body)$", re.I)

_URL_PASSWORD = re.compile(r"(?P<pre>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+(?=@)", re.I)
_KV_PASSWORD = re.compile(r"(?P<pre>\b(?:password|passwd|pwd|token|secret)\s*[=:]\s*)(?P<val>'[^']*'|\"[^\"]*\"|\S+)",
                          re.I)
_EMAIL = re.compile(r"(?<![/\w.+%-])[\w.+%-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")
_IPV4 = re.compile(r"(?<![\w.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\w.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,7}(?::|[0-9A-Fa-f]{1,4})(?::?[0-9A-Fa-f]{1,4})*(?![\w:])")
# A JSON object with a field only a raw event has: the start of a raw payload in a message.
_EVENT_JSON = re.compile(r"\{[^{}]{0,200}?\"(?:email|email_address|ip|device_id|user_agent|current_url)\"\s*:")

_secrets: set[str] = set()


def register_secret(value: str | SecretStr | bytes | None) -> None:
    """Remember a secret value (e.g. the hash key) so that it is masked wherever it would appear."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if value and len(value) >= 6:  # shorter strings would mask ordinary words
        _secrets.add(value)


def _truncate_ipv4(match: re.Match[str]) -> str:
    if not all(int(part) <= 255 for part in match.groups()):
        return match.group(0)
    if match.group(1) == "127" or match.group(0) == "0.0.0.0":  # this machine: no person, and operators need it
        return match.group(0)
    return f"{match.group(1)}.{match.group(2)}.{match.group(3)}.x"


def _truncate_ipv6(match: re.Match[str]) -> str:
    text = match.group(0)
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return text
    if address.is_loopback or address.is_unspecified:
        return text
    return str(ipaddress.IPv6Network((address, 48), strict=False).network_address).rstrip(":") + "::x"


def redact_text(text: str) -> str:
    """Mask secrets, passwords in URLs and key=value pairs, e-mails, full IPs and raw event JSON."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "[secret]")
    found = _EVENT_JSON.search(text)
    if found:
        end = text.rfind("}")
        text = text[: found.start()] + "[raw event redacted]" + (text[end + 1:] if end > found.start() else "")
    text = _URL_PASSWORD.sub(r"\g<pre>***", text)
    text = _KV_PASSWORD.sub(r"\g<pre>***", text)
    text = _EMAIL.sub("[email]", text)
    text = _IPV4.sub(_truncate_ipv4, text)
    return _IPV6.sub(_truncate_ipv6, text) if ":" in text else text


def redact_value(key: str, value: Any) -> Any:
    """Redact one field value (recursively for containers); `key` is its dotted field name."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, SecretStr) or _SECRET_KEYS.search(key):
        return "[secret]"
    if isinstance(value, bytes | bytearray | memoryview) or _PAYLOAD_KEYS.search(key):
        size = len(value) if isinstance(value, bytes | bytearray | str) else None
        return f"[payload redacted{f': {size} bytes' if size is not None else ''}]"
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value(f"{key}.{k}", v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(key, v) for v in value]
    return redact_text(str(value))


class EcsFormatter(ecs_logging.StdlibFormatter):
    """ECS JSON lines (ecs-logging) with service.name set and every value redacted."""

    def __init__(self, service_name: str = SERVICE_NAME) -> None:
        # log.original repeats message; the origin fields are noise for an operator.
        super().__init__(
            exclude_fields=["log.original", "log.origin", "process.thread.id"],
            extra={"service.name": service_name},
        )

    def format_to_ecs(self, record: logging.LogRecord) -> dict[str, Any]:
        """The ECS document of a record, redacted field by field."""
        doc = super().format_to_ecs(record)
        return {k: redact_value(k, v) for k, v in doc.items()}


class TextFormatter(logging.Formatter):
    """Short lines for people, with extra fields appended as key=value (redacted too)."""

    def format(self, record: logging.LogRecord) -> str:
        base = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {redact_text(record.getMessage())}"
        fields = [
            f"{k}={redact_value(k, v)}" for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")
        ]
        text = base + (" " + " ".join(fields) if fields else "")
        if record.exc_info:
            text += "\n" + redact_text(self.formatException(record.exc_info))
        return text


class LibrdkafkaLog:
    """The `logger` of every Kafka client pulse builds: librdkafka's own lines go to DEBUG.

    librdkafka logs each refused connection (about 20 lines a second while Kafka is down) at warning
    level. pulse reports an outage itself, once per backoff step and naming the setting (see
    `pulse.sources.kafka.KafkaOutage`); the raw lines stay available with `--log-level DEBUG`.
    """

    def __init__(self, name: str = "pulse.librdkafka") -> None:
        self._log = logging.getLogger(name)

    def log(self, level: int, msg: str, *args: object) -> None:
        """Called by confluent_kafka with a syslog-mapped level, which is deliberately ignored."""
        if self._log.isEnabledFor(logging.DEBUG):
            self._log.debug(msg, *args)


LIBRDKAFKA_LOG = LibrdkafkaLog()


def configure_logging(level: str = "INFO", fmt: str = "text", secrets: Iterable[str | SecretStr | None] = ()) -> None:
    """Send pulse's logs to stderr in the chosen format ("text" or "json"), masking `secrets`."""
    if fmt not in ("text", "json"):
        raise ValueError(f"log format must be text or json, not {fmt!r}")
    for secret in secrets:
        register_secret(secret)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EcsFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def logging_settings() -> tuple[str, str, tuple[str, ...]]:
    """(level, format, secrets) of this process's logging, for a child process to log the same way
    (`configure_logging(*logging_settings())` there)."""
    root = logging.getLogger()
    fmt = "json" if any(isinstance(h.formatter, EcsFormatter) for h in root.handlers) else "text"
    return logging.getLevelName(root.level), fmt, tuple(sorted(_secrets))


def batch_fields(batch_id: str, coordinates: Iterable[tuple[str, int, int]]) -> dict[str, Any]:
    """Correlation fields of one batch: its id, topic and per-partition offset ranges."""
    ranges: dict[tuple[str, int], list[int]] = {}
    for topic, partition, offset in coordinates:
        span = ranges.setdefault((topic, partition), [offset, offset])
        span[0], span[1] = min(span[0], offset), max(span[1], offset)
    topics = sorted({topic for topic, _ in ranges})
    return {
        "pulse.batch.id": batch_id,
        "pulse.kafka.topic": topics[0] if len(topics) == 1 else topics,
        "pulse.kafka.partitions": sorted(p for _, p in ranges),
        "pulse.kafka.offsets": [f"{p}:{lo}-{hi}" for (_, p), (lo, hi) in sorted(ranges.items())],
    }
