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


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("PULSE_BATCH_MAX_EVENTS", "2000000", "at most 100000"),
        ("PULSE_BATCH_MAX_WAIT_MS", "0", "at least 1"),
        ("PULSE_API_PORT", "99999", "at most 65535"),
        ("PULSE_COLLECT_PORT", "0", "at least 1"),
        ("PULSE_METRICS_PORT", "-1", "at least 0"),
        ("PULSE_MAX_EVENT_BYTES", "99999999999", "at most"),
        ("PULSE_RETRY_MAX_BACKOFF_S", "nan", "finite"),
        ("PULSE_CANARY_TIMEOUT_S", "inf", "finite"),
        ("PULSE_INCLUDE_BOTS", "maybe", "true or false"),
        ("PULSE_TIMEZONE", "[/x]", "IANA time zone"),
        ("PULSE_TIMEZONE", "../../etc/passwd", "IANA time zone"),
        ("PULSE_VIEW_COLLECTIONS", "view_product_detail,view_listing_page", 'must be a JSON list, e.g. ["a","b"]'),
        ("PULSE_VIEW_COLLECTIONS", "[]", "at least one collection"),
        ("PULSE_VIEW_COLLECTIONS", '{"a": 1}', "must be a JSON list"),
        ("PULSE_COLLECT_ALLOWED_ORIGINS", "https://www.glamira.de", "must be a JSON list"),
        ("PULSE_COLLECT_ALLOWED_ORIGINS", '["https://www.glamira.de/checkout"]', "not an origin"),
        ("PULSE_COLLECT_ALLOWED_ORIGINS", '["www.glamira.de"]', "not an origin"),
        ("PULSE_COLLECT_TRUSTED_PROXIES", '["not-an-ip"]', "not an IP address or CIDR"),
        ("PULSE_COLLECT_TRUSTED_PROXIES", '["10.0.0.0/33"]', "not an IP address or CIDR"),
        ("PULSE_COLLECT_TRUSTED_PROXIES", "10.0.0.1", "must be a JSON list"),
        ("PULSE_KAFKA_BOOTSTRAP", "127.0.0.1:99999", "host:port"),
        ("PULSE_KAFKA_BOOTSTRAP", "kafka-1", "host:port"),
        ("PULSE_KAFKA_BOOTSTRAP", "kafka-1:9092,:9093", "host:port"),
        ("PULSE_TOPIC", "product views", "Kafka topic name"),
        ("PULSE_DATABASE_URL", "garbage", "not a PostgreSQL connection string"),
        ("PULSE_DATABASE_URL", "postgresql://pulse@127.0.0.1:abc/pulse", "port 'abc'"),
        ("PULSE_READER_DATABASE_URL", "postgresql://pulse@127.0.0.1:70000/pulse", "port '70000'"),
        ("PULSE_LOADER_DATABASE_URL", "", "is empty: set it or unset it"),
        ("PULSE_API_TOKEN", "", "is empty: set it or unset it"),
        ("PULSE_API_TOKEN", "  ", "is empty: set it or unset it"),
        ("PULSE_API_TOKEN", "token-from-a-file\n", "whitespace"),
        ("PULSE_HASH_KEY", "", "is empty"),
        ("PULSE_HASH_KEY", "short", "shorter than 16"),
        ("PULSE_SLACK_WEBHOOK_URL", "hooks.slack.com/services/x", "http(s) URL"),
        ("PULSE_SUPERSET_URL", "ftp://superset", "http(s) URL"),
        ("PULSE_API_HOST", "bad host", "IP address or host name"),
        ("PULSE_CONSUMER_GROUP", " ", "is empty"),
        ("PULSE_HEALTH_ENGINE_STALE_AFTER_S", "4", "longer than PULSE_HEARTBEAT_INTERVAL_S"),
    ],
)
def test_a_bad_value_is_refused_at_load_with_the_variable_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv("PULSE_HOME", str(tmp_path))
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    message = str(refused.value)
    assert variable in message and says in message, message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("variable", "secret"),
    [("PULSE_SLACK_WEBHOOK_URL", "not-a-url-but-a-secret-123"),
     ("PULSE_DATABASE_URL", "postgresql://pulse:pass word@db/pulse"),
     ("PULSE_DATABASE_URL", "postgresql://pulse:hunter2hunter2@db:port/pulse")],
)
def test_a_refused_secret_is_not_repeated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str,
                                          secret: str) -> None:
    monkeypatch.setenv("PULSE_HOME", str(tmp_path))
    monkeypatch.setenv(variable, secret)
    with pytest.raises(ConfigError, match=variable) as refused:
        load_settings()
    assert "hunter2" not in str(refused.value) and "pass word" not in str(refused.value)
    assert "a-secret" not in str(refused.value)


def test_a_huge_value_is_shown_cut_short(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PULSE_HOME", str(tmp_path))
    monkeypatch.setenv("PULSE_TOPIC", "x y" * 20_000)
    with pytest.raises(ConfigError, match="PULSE_TOPIC") as refused:
        load_settings()
    assert len(str(refused.value)) < 300 and "60,000 characters" in str(refused.value)


def test_good_values_of_every_format_are_accepted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    good = {
        "PULSE_HOME": str(tmp_path),
        "PULSE_KAFKA_BOOTSTRAP": "kafka-1:9092, kafka-2:9092,[::1]:19092",
        "PULSE_DATABASE_URL": "host=db port=5432,5433 user=pulse dbname=pulse",
        "PULSE_LOADER_DATABASE_URL": "postgresql://pulse_engine@[::1]:54329/pulse",
        "PULSE_COLLECT_TRUSTED_PROXIES": '["10.0.0.0/8", "192.168.1.7", "::1/128"]',
        "PULSE_COLLECT_ALLOWED_ORIGINS": '["https://www.glamira.de", "http://localhost:3000/", "*"]',
        "PULSE_VIEW_COLLECTIONS": '["view_product_detail"]',
        "PULSE_API_HOST": "0.0.0.0",
        "PULSE_COLLECT_HOST": "collector.internal",
        "PULSE_METRICS_HOST": "::",
        "PULSE_BATCH_MAX_EVENTS": "100000",
        "PULSE_METRICS_PORT": "0",
        "PULSE_API_TOKEN": "a-token",
        "PULSE_TIMEZONE": "America/Santiago",
    }
    for name, value in good.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.collect_trusted_proxies == ("10.0.0.0/8", "192.168.1.7", "::1/128")
    assert settings.collect_allowed_origins == ("https://www.glamira.de", "http://localhost:3000/", "*")
    assert settings.batch_max_events == 100_000


def test_the_role_url_settings_are_named_after_what_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PULSE_HOME", str(tmp_path))
    plain = load_settings()
    assert (plain.loader_url_setting, plain.reader_url_setting) == ("PULSE_DATABASE_URL", "PULSE_DATABASE_URL")
    monkeypatch.setenv("PULSE_LOADER_DATABASE_URL", "postgresql://pulse_engine@127.0.0.1:1/pulse")
    monkeypatch.setenv("PULSE_READER_DATABASE_URL", "postgresql://pulse_dashboard@127.0.0.1:1/pulse")
    roles = load_settings()
    assert (roles.loader_url_setting, roles.reader_url_setting) == (
        "PULSE_LOADER_DATABASE_URL", "PULSE_READER_DATABASE_URL")
