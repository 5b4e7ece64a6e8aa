"""PostgreSQL errors told apart by SQLSTATE: transient (retry), data (isolate, quarantine) or terminal (stop)."""

from __future__ import annotations

from enum import StrEnum

import psycopg
from psycopg import errors as pg_errors

from pulse.errors import DataRejectedError, TerminalError, TransientError


class ErrorKind(StrEnum):
    """What a PostgreSQL error means for a batch, by its SQLSTATE."""

    transient = "transient"  # the connection, the server or a concurrent transaction: retry the same batch
    data = "data"  # this batch's values: retrying the same rows fails the same way
    terminal = "terminal"  # the schema or the role: stop and tell the operator


# SQLSTATE classes (PostgreSQL appendix A). 08 connection, 40 transaction rollback (serialization failure,
# deadlock), 53 insufficient resources, 57 operator intervention (admin shutdown, statement timeout),
# 58 system error; 55P03/55006: a lock or object in use. 22 data exception, 23 integrity constraint,
# 54 program limit exceeded ("index row size ... exceeds btree maximum").
_TRANSIENT_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_TRANSIENT_STATES = frozenset({"55P03", "55006"})
_DATA_CLASSES = frozenset({"22", "23", "54"})


def classify(exc: BaseException) -> ErrorKind:
    """Transient, data or terminal: by the SQLSTATE PostgreSQL sent, not by the Python class psycopg maps it to
    (psycopg maps "program limit exceeded" to OperationalError, like a lost connection)."""
    if isinstance(exc, UnicodeError):  # a value the client cannot encode for the server (a lone surrogate)
        return ErrorKind.data
    state = getattr(exc, "sqlstate", None)
    if state is None:  # refused by psycopg itself (NUL in text), or no answer: the connection broke
        if isinstance(exc, psycopg.DataError):
            return ErrorKind.data
        return ErrorKind.transient if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) \
            else ErrorKind.terminal
    if state[:2] in _TRANSIENT_CLASSES or state in _TRANSIENT_STATES:
        return ErrorKind.transient
    if state[:2] in _DATA_CLASSES:
        return ErrorKind.data
    return ErrorKind.terminal


def refusal_detail(exc: BaseException) -> str:
    """One bounded line for quarantine and logs: the SQLSTATE, its name and PostgreSQL's message."""
    state = getattr(exc, "sqlstate", None) or "-"
    name = type(exc).__name__
    first = (str(exc).strip().splitlines() or [name])[0]
    return f"PostgreSQL refused the data ({state} {name}): {first}"[:500]


class translate_errors:
    """Context manager mapping psycopg errors onto pulse's transient/data/terminal taxonomy (by SQLSTATE)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or isinstance(exc, TransientError | TerminalError | DataRejectedError):
            return
        if isinstance(exc, UnicodeError):
            raise DataRejectedError(refusal_detail(exc)) from None
        if not isinstance(exc, psycopg.Error):
            return
        if isinstance(exc, pg_errors.UndefinedTable | pg_errors.UndefinedFunction | pg_errors.UndefinedColumn):
            raise TerminalError(f"warehouse schema missing or old ({_first_line(exc)}); run `pulse migrate`") from None
        if isinstance(exc, pg_errors.InsufficientPrivilege):
            raise TerminalError(f"the loader role lacks a privilege: {_first_line(exc)}") from None
        kind = classify(exc)
        if kind is ErrorKind.data:
            raise DataRejectedError(refusal_detail(exc), sqlstate=exc.sqlstate or type(exc).__name__) from None
        if kind is ErrorKind.transient:
            raise TransientError(f"PostgreSQL: {_first_line(exc)}") from None
        raise TerminalError(f"PostgreSQL: {_first_line(exc)} (SQLSTATE {exc.sqlstate})") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
