"""Role URLs of the local stack: no password, the stack's password file named in them, local addresses only."""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from pulse.errors import ConfigError
from pulse.settings import Settings
from pulse.stack.credentials import parse_target, pgpass_path, role_url


def test_role_urls_name_the_stacks_password_file_and_no_password(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url="postgresql://owner:pw@[::1]:5999/wh")
    url = role_url(settings, "pulse_engine")
    assert url == f"postgresql://pulse_engine@[::1]:5999/wh?passfile={tmp_path}/pgpass"
    assert conninfo_to_dict(role_url(settings, "pulse_dashboard", "other db")) == {
        "user": "pulse_dashboard", "host": "::1", "port": "5999", "dbname": "other db",
        "passfile": str(pgpass_path(settings)),
    }
    assert parse_target(settings).password == "pw"


def test_the_local_stack_refuses_a_remote_database(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url="postgresql://pulse@db.internal:5432/pulse")
    with pytest.raises(ConfigError, match="points at 'db.internal'"):
        parse_target(settings)
