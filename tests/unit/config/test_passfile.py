"""The local stack's password file reaches every connection through Settings (PULSE_PASSFILE), not os.environ."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from pulse.setting_values import with_passfile
from pulse.settings import Settings, load_settings


def test_a_url_without_password_gets_the_passfile_as_a_parameter(tmp_path: Path) -> None:
    passfile = tmp_path / "with space" / "pgpass"
    url = with_passfile("postgresql://pulse_engine@127.0.0.1:5999/pulse", passfile)
    assert url.startswith("postgresql://pulse_engine@127.0.0.1:5999/pulse?passfile=")
    assert conninfo_to_dict(url) == {"user": "pulse_engine", "host": "127.0.0.1", "port": "5999", "dbname": "pulse",
                                     "passfile": str(passfile)}
    with_query = with_passfile("postgresql://u@h/db?connect_timeout=3", passfile)
    assert conninfo_to_dict(with_query)["connect_timeout"] == "3" and "&passfile=" in with_query
    keywords = conninfo_to_dict(with_passfile("host=h user=u dbname=db", passfile))
    assert keywords == {"host": "h", "user": "u", "dbname": "db", "passfile": str(passfile)}


@pytest.mark.parametrize("url", ["postgresql://u:secret@h/db", "postgresql://u@h/db?passfile=/elsewhere",
                                 "host=h user=u password=secret"])
def test_a_password_or_a_passfile_of_its_own_is_left_alone(url: str, tmp_path: Path) -> None:
    assert with_passfile(url, tmp_path / "pgpass") == url
    assert with_passfile(url, None) == url


def test_stack_env_gives_every_connection_the_passfile_without_touching_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in [n for n in os.environ if n.startswith("PULSE_")]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("PGPASSFILE", raising=False)
    passfile = tmp_path / "pgpass"
    (tmp_path / "stack.env").write_text(
        "PULSE_LOADER_DATABASE_URL=postgresql://pulse_engine@127.0.0.1:1/pulse\n"
        f"PULSE_PASSFILE={passfile}\n"
    )
    before = dict(os.environ)
    settings = load_settings(home=tmp_path, superset_warehouse_url="postgresql://pulse_dashboard@127.0.0.1:1/pulse")
    assert dict(os.environ) == before
    assert settings.passfile == passfile
    for url in (settings.database_url, settings.loader_url, settings.reader_url, settings.superset_warehouse_url):
        assert url is not None and conninfo_to_dict(url)["passfile"] == str(passfile)
    assert conninfo_to_dict(settings.loader_url)["user"] == "pulse_engine"


def test_without_a_passfile_the_urls_are_as_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PULSE_PASSFILE", raising=False)
    settings = Settings(home=tmp_path, database_url="postgresql://pulse@127.0.0.1:1/pulse")
    assert settings.passfile is None and settings.database_url == "postgresql://pulse@127.0.0.1:1/pulse"


def test_using_passfile_gives_settings_made_before_stack_up_the_same_urls(tmp_path: Path) -> None:
    early = Settings(home=tmp_path, database_url="postgresql://pulse@127.0.0.1:1/pulse",
                     reader_database_url="postgresql://pulse_dashboard:pw@127.0.0.1:1/pulse")
    later = Settings(home=tmp_path, database_url="postgresql://pulse@127.0.0.1:1/pulse",
                     reader_database_url="postgresql://pulse_dashboard:pw@127.0.0.1:1/pulse",
                     passfile=tmp_path / "pgpass")
    moved = early.using_passfile(tmp_path / "pgpass")
    assert (moved.passfile, moved.database_url, moved.reader_url) == (later.passfile, later.database_url,
                                                                      later.reader_url)
    assert moved.reader_url == "postgresql://pulse_dashboard:pw@127.0.0.1:1/pulse"  # its own password wins
    assert early.passfile is None  # frozen: a new object
