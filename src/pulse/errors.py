"""Exception taxonomy: transient failures are retried, terminal ones stop with a clear message."""

from __future__ import annotations


class PulseError(Exception):
    """Base of all pulse errors."""


class TerminalError(PulseError):
    """Retrying will not help: stop and tell the user what to fix."""


class TransientError(PulseError):
    """Likely to go away (a restart, a network blip): retry with backoff."""


class ConfigError(TerminalError):
    """A setting is wrong or missing."""


class MissingToolError(TerminalError):
    """A program the local stack needs (Java, Maven, PostgreSQL) is not installed."""


class BadRequestError(PulseError):
    """A request names something that does not exist or lacks a parameter (a 4xx, not a crash).

    `param` names the parameter at fault when there is one: the CLI shows it as `--param`, the API as `param: `.
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class DataRejectedError(PulseError):
    """The database refused a batch's data (not the connection): its messages go to quarantine."""

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate  # PostgreSQL's SQLSTATE: "the same way twice" compares it

ECHO_LIMIT = 80


def quoted(value: object, limit: int = ECHO_LIMIT) -> str:
    """`value` as a message may show it: repr'd, cut to `limit` characters (saying how long it was).

    Every message that repeats what a user or client sent goes through this, so a 60 KB parameter
    gives a short answer, not a 60 KB one.
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    size = len(value) if isinstance(value, str | bytes) else len(text)
    return f"{text[: max(limit - 1, 1)]}… ({size:,} characters)"


_DATABASE_SETTINGS = "PULSE_DATABASE_URL (or PULSE_LOADER_DATABASE_URL / PULSE_READER_DATABASE_URL)"


def operator_message(exc: BaseException) -> str | None:
    """The one-line message for a known operational failure that escaped as a raw client exception
    (a refused connection, a refused login, an unusable file under PULSE_HOME); None for anything else."""
    import psycopg
    from confluent_kafka import KafkaError, KafkaException

    if isinstance(exc, psycopg.OperationalError):
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"PostgreSQL: {first} (check {_DATABASE_SETTINGS})"
    if isinstance(exc, psycopg.ProgrammingError) and "connection info string" in str(exc):
        return f"not a valid PostgreSQL connection string (check {_DATABASE_SETTINGS})"
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        error: KafkaError = exc.args[0]
        if error.code() in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE,
                            KafkaError._TIMED_OUT, KafkaError._MSG_TIMED_OUT):
            return f"Kafka unreachable ({error.str()}): check PULSE_KAFKA_BOOTSTRAP and that Kafka runs"
    if isinstance(exc, PermissionError) and exc.filename:
        return f"cannot use {exc.filename}: {exc.strerror} (check PULSE_HOME and the permissions of its files)"
    return None
