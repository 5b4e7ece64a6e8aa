"""Settings: every one is documented, bad values stop with a message naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulse.errors import ConfigError
from pulse.settings import Settings, load_settings

REFERENCE = Path(__file__).parents[3] / "deploy" / "pulse.env.example"


def test_every_setting_is_documented_in_the_reference_file() -> None:
    text = REFERENCE.read_text()
    missing = [name for name in Settings.model_fields if f"PULSE_{name.upper()}=" not in text]
    assert missing == []


def test_every_setting_has_a_description() -> None:
    assert [n for n, f in Settings.model_fields.items() if not f.description] == []


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PULSE_HOME", str(tmp_path))
    monkeypatch.setenv("PULSE_TOPIC", "other_topic")
    monkeypatch.setenv("PULSE_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("PULSE_VIEW_COLLECTIONS", '["view_product_detail", "view_listing_page"]')
    settings = load_settings()
    assert settings.topic == "other_topic"
    assert settings.timezone == "Europe/Berlin"
    assert settings.view_collections == ("view_product_detail", "view_listing_page")
    assert settings.home == tmp_path


def test_stack_env_file_fills_in_but_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "stack.env").write_text(
        "PULSE_LOADER_DATABASE_URL=postgresql://pulse_engine@127.0.0.1:1/pulse\n"
        "PULSE_READER_DATABASE_URL=postgresql://pulse_dashboard@127.0.0.1:1/pulse\n"
    )
    monkeypatch.setenv("PULSE_HOME", str(tmp_path))
    monkeypatch.setenv("PULSE_READER_DATABASE_URL", "postgresql://someone@db/x")
    settings = load_settings()
    assert settings.loader_url == "postgresql://pulse_engine@127.0.0.1:1/pulse"
    assert settings.reader_url == "postgresql://someone@db/x"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("PULSE_TIMEZONE", "Mars/Olympus"), ("PULSE_BATCH_MAX_EVENTS", "0"), ("PULSE_TOPIC_PARTITIONS", "many"),
     ("PULSE_MAX_EVENT_AGE_DAYS", "0"), ("PULSE_MAX_EVENT_AGE_DAYS", "36501"), ("PULSE_MAX_FUTURE_SKEW_S", "-1")],
)
def test_a_wrong_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()


def test_the_hash_key_is_never_printed() -> None:
    settings = load_settings(hash_key="super-secret-value")
    assert "super-secret-value" not in repr(settings)
    assert "super-secret-value" not in str(settings.model_dump())


def test_event_time_bounds_default_to_the_retention_and_a_day(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PULSE_HOME", str(tmp_path))
    defaults = load_settings()
    assert (defaults.max_event_age_days, defaults.max_future_skew_s) == (defaults.retention_days, 86_400)
    monkeypatch.setenv("PULSE_MAX_EVENT_AGE_DAYS", "36500")  # replaying an archive
    assert load_settings().max_event_age_days == 36_500
