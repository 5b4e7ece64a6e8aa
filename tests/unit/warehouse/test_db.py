"""warehouse.db without a server: session settings per access, login errors classified, passwords never shown."""

from __future__ import annotations

import socket

import psycopg
import pytest

from pulse.errors import TerminalError, TransientError
from pulse.warehouse import db
from pulse.warehouse.db import Access


def test_every_session_runs_without_jit_and_readers_are_read_only() -> None:
    assert db.SESSION_SETTINGS[Access.write] == ("SET jit = off",)
    assert db.SESSION_SETTINGS[Access.read] == ("SET jit = off", "SET default_transaction_read_only = on")


@pytest.mark.parametrize(
    "message",
    [
        'connection failed: FATAL:  password authentication failed for user "pulse_engine"',
        'connection failed: FATAL:  database "nope" does not exist',
        'connection failed: FATAL:  no pg_hba.conf entry for host "10.0.0.9"',
        'connection failed: FATAL:  role "pulse_dashboard" is not permitted to log in',
    ],
)
def test_a_refused_login_is_terminal_and_names_the_setting_and_role(message: str) -> None:
    error = db.classify_connect_error(psycopg.OperationalError(message), "PULSE_READER_DATABASE_URL", "pulse_dashboard")
    assert isinstance(error, TerminalError)
    assert "PULSE_READER_DATABASE_URL" in str(error) and "'pulse_dashboard'" in str(error)


def test_an_unreachable_server_is_transient() -> None:
    error = db.classify_connect_error(psycopg.OperationalError(
        'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused'
    ), "PULSE_DATABASE_URL")
    assert isinstance(error, TransientError)
    assert "is it running? check PULSE_DATABASE_URL" in str(error)


def test_the_role_of_a_url_never_includes_its_password() -> None:
    assert db.role_of("postgresql://pulse_engine:s3cret@db:5432/pulse") == "pulse_engine"
    assert db.role_of("host=db user=pulse_dashboard password=s3cret") == "pulse_dashboard"
    assert db.role_of("postgresql://db/pulse") is None
    assert db.role_of("not a = valid = dsn") is None


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("access", list(Access))
def test_connecting_to_nothing_is_transient_and_keeps_the_password_out(access: Access) -> None:
    url = f"postgresql://pulse_engine:s3cret@127.0.0.1:{_closed_port()}/pulse"
    with pytest.raises(TransientError) as caught:
        db.connect(url, setting="PULSE_LOADER_DATABASE_URL", access=access)
    assert "PULSE_LOADER_DATABASE_URL" in str(caught.value) and "s3cret" not in str(caught.value)


def test_an_unparsable_url_is_terminal_and_not_repeated() -> None:
    with pytest.raises(TerminalError) as caught:
        db.connect("postgresql://pulse:s3cret@db:notaport/pulse?bogus_option=1", setting="PULSE_DATABASE_URL")
    assert "s3cret" not in str(caught.value)
    assert "PULSE_DATABASE_URL" in str(caught.value)
