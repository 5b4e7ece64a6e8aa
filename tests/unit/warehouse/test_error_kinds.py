"""PostgreSQL errors are told apart by SQLSTATE: retry the transient, isolate the data, stop on the rest."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors as pg

from pulse.errors import DataRejectedError, TerminalError, TransientError
from pulse.warehouse.errors import ErrorKind, classify, refusal_detail, translate_errors


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        # the audit's poison pill: psycopg maps "program limit exceeded" to OperationalError, like a lost link
        (pg.ProgramLimitExceeded("index row size 7976 exceeds btree version 4 maximum 2704"), ErrorKind.data),
        (pg.StringDataRightTruncation("value too long"), ErrorKind.data),
        (pg.UniqueViolation("duplicate key"), ErrorKind.data),
        (pg.NotNullViolation("null value"), ErrorKind.data),
        (pg.InvalidTextRepresentation("bad input"), ErrorKind.data),
        (psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"), ErrorKind.data),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), ErrorKind.data),
        (pg.SerializationFailure("could not serialize"), ErrorKind.transient),
        (pg.DeadlockDetected("deadlock"), ErrorKind.transient),
        (pg.AdminShutdown("terminating connection"), ErrorKind.transient),
        (pg.CannotConnectNow("the database system is starting up"), ErrorKind.transient),
        (pg.QueryCanceled("canceling statement due to statement timeout"), ErrorKind.transient),
        (pg.LockNotAvailable("could not obtain lock"), ErrorKind.transient),
        (pg.TooManyConnections("too many clients"), ErrorKind.transient),
        (psycopg.OperationalError("server closed the connection unexpectedly"), ErrorKind.transient),
        (pg.InsufficientPrivilege("permission denied"), ErrorKind.terminal),
        (pg.UndefinedTable("relation does not exist"), ErrorKind.terminal),
        (pg.SyntaxError("syntax error"), ErrorKind.terminal),
    ],
)
def test_errors_are_classified_by_sqlstate(error: BaseException, kind: ErrorKind) -> None:
    assert classify(error) is kind


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (pg.ProgramLimitExceeded("index row size"), DataRejectedError),
        (pg.DeadlockDetected("deadlock"), TransientError),
        (pg.UndefinedTable("relation \"kpi_zone\" does not exist"), TerminalError),
        (pg.InsufficientPrivilege("permission denied for table fact_event"), TerminalError),
    ],
)
def test_the_loader_raises_pulse_errors(error: BaseException, raised: type[Exception]) -> None:
    with pytest.raises(raised):
        with translate_errors():
            raise error


def test_a_refusal_names_the_sqlstate_and_stays_short() -> None:
    detail = refusal_detail(pg.ProgramLimitExceeded("index row size 7976 exceeds maximum\nDETAIL: x" + "y" * 900))
    assert detail.startswith("PostgreSQL refused the data (54000 ProgramLimitExceeded): index row size 7976")
    assert "DETAIL" not in detail and len(detail) <= 500
    with pytest.raises(DataRejectedError) as caught:
        with translate_errors():
            raise pg.UniqueViolation("duplicate key value violates unique constraint \"dim_hour_hour_start_key\"")
    assert caught.value.sqlstate == "23505"
