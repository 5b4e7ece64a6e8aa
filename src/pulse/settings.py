"""One frozen, typed settings object; every value can come from a PULSE_* environment variable.

Over 400 lines on purpose: it is the one reference of every setting (name, default, bound, description),
read top to bottom like deploy/pulse.env.example, which a test keeps in step with it. The value formats and
the wording of a refused setting live in setting_values.py.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from pulse.errors import ConfigError, quoted
from pulse.setting_values import (
    check_conninfo,
    describe_problem,
    is_host,
    is_origin,
    is_port,
    is_web_url,
    with_passfile,
)

DEFAULT_VIEW_COLLECTIONS = ("view_product_detail",)
MAX_BATCH_EVENTS = 100_000  # librdkafka's consume() takes at most 1,000,000; a batch is one transaction
# A JSON list in an environment variable: pydantic-settings would fail on anything else without naming it.
JsonList = Annotated[tuple[str, ...], NoDecode]


class Settings(BaseSettings):
    """All pulse settings. See `deploy/pulse.env.example` for the documented reference."""

    model_config = SettingsConfigDict(env_prefix="PULSE_", frozen=True, extra="ignore", allow_inf_nan=False)

    # --- where things are --------------------------------------------------------------------
    home: Path = Field(default=Path(".pulse"), description="Where the local stack keeps its data.")
    kafka_bootstrap: str = Field(default="127.0.0.1:19092", description="Kafka bootstrap servers.")
    topic: str = Field(default="product_views", description="Topic the events arrive on.")
    topic_partitions: int = Field(default=4, ge=1, le=10_000, description="Partitions when pulse creates the topic.")
    consumer_group: str = Field(default="pulse-native", description="Consumer group of the native engine.")
    passfile: Path | None = Field(
        default=None,
        description="libpq password file of the connections below whose URL has no password (added to each as"
        " its `passfile` parameter). `pulse stack up` sets it to $PULSE_HOME/pgpass in stack.env.",
    )
    database_url: str = Field(
        default="postgresql://pulse@127.0.0.1:54329/pulse", validate_default=True,
        description="Owner connection: migrations (and everything else unless the role URLs are set).",
    )
    loader_database_url: str | None = Field(
        default=None, description="Connection of the engine (pulse_loader role). Defaults to database_url."
    )
    reader_database_url: str | None = Field(
        default=None, description="Connection for KPI reads (pulse_reader role). Defaults to database_url."
    )

    # --- semantics ---------------------------------------------------------------------------
    timezone: str = Field(default="UTC", description="IANA zone that defines 'today' for KPIs.")
    view_collections: JsonList = Field(
        default=DEFAULT_VIEW_COLLECTIONS, description="Collections that count as a view in KPIs."
    )
    include_bots: bool = Field(default=False, description="Count bot traffic in KPIs.")
    session_gap_minutes: float = Field(
        default=30, gt=0, le=1440,
        description="A visit ends after this many idle minutes (a later event starts the next).",
    )
    session_lateness_minutes: float = Field(
        default=120, ge=0, le=10080,
        description="An event this much older than its visitor's newest visit joins no visit (counted as late).",
    )

    # --- enrichment --------------------------------------------------------------------------
    geoip_database: Path | None = Field(
        default=None, description=".mmdb or IP2Location .BIN file; default: the bundled DB-IP City Lite."
    )
    storefronts_file: Path | None = Field(
        default=None, description="CSV host-suffix -> country map; default: the bundled file."
    )
    hash_key: SecretStr | None = Field(
        default=None,
        description="Secret key of the keyed hash of e-mail and device id (the local stack generates one)."
        " Keep it stable: a new key gives every person a new pseudonym.",
    )
    max_event_bytes: int = Field(default=1_000_000, ge=1024, le=10_000_000, description="Larger messages are rejected.")
    max_event_age_days: int = Field(
        default=400, ge=1, le=36_500,
        description="Events older than this many days (by time_stamp) are quarantined as event_time_out_of_bounds;"
        " raise it (up to 36500) to replay an archive.",
    )
    max_future_skew_s: float = Field(
        default=86_400.0, ge=0, le=31_536_000,
        description="Events more than this many seconds ahead of the engine's clock are quarantined"
        " (event_time_out_of_bounds).",
    )
    max_days_per_batch: int = Field(
        default=31, ge=1, le=3660,
        description="Distinct days of events one batch may hold (each may create a fact partition); events of"
        " further days are quarantined as event_time_out_of_bounds. Raise it to replay an unsorted archive.",
    )
    privacy_redact: bool = Field(
        default=True,
        description="Redact e-mail addresses (keyed markers), IP addresses (truncated) and URL credentials in"
        " every string the warehouse stores (docs/privacy.md). Off keeps those strings as sent.",
    )

    # --- engine ------------------------------------------------------------------------------
    batch_max_events: int = Field(default=5000, ge=1, le=MAX_BATCH_EVENTS, description="Micro-batch size bound.")
    batch_max_wait_ms: int = Field(
        default=200, ge=1, le=60_000,
        description="Longest a micro-batch stays open after its first message; it closes sooner when the committer"
                    " is free.",
    )
    retry_max_backoff_s: float = Field(default=30.0, gt=0, le=3600, description="Longest wait between retries.")
    commit_timeout_s: float = Field(
        default=60.0, gt=0, le=3600,
        description="Longest a statement of a batch transaction may run before it is cancelled and retried.",
    )
    fold_in_engine: bool = Field(
        default=True,
        description="Run the folder (rollup deltas -> rollups) inside `pulse run` and `pulse spark`. Turn it off"
        " when one `pulse fold` serves several engines; exactly one folder works at a time either way.",
    )
    fold_interval_s: float = Field(
        default=0.25, gt=0, le=60,
        description="How often the folder folds the rollup deltas: the KPIs lag the facts by about this much"
        " (their as_of says by how much: rollups_through).",
    )

    # --- collector (pulse collect) -----------------------------------------------------------
    collect_host: str = Field(default="127.0.0.1", description="Address the HTTP collector listens on.")
    collect_port: int = Field(default=8420, ge=1, le=65535, description="Port the HTTP collector listens on.")
    collect_trusted_proxies: JsonList = Field(
        default=("127.0.0.1/32", "::1/128"),
        description="Proxies (IPs or CIDRs) whose X-Forwarded-For the collector believes; [] trusts none.",
    )
    collect_allowed_origins: JsonList = Field(
        default=(), description="Storefront origins allowed to send events from a browser (CORS); [\"*\"] allows any."
    )
    collect_max_body_bytes: int = Field(
        default=512_000, ge=1024, le=50_000_000, description="Largest request body (413 above)."
    )
    collect_max_batch_events: int = Field(
        default=500, ge=1, le=10_000, description="Most events in one request (413 above)."
    )
    collect_rate_limit_per_s: float = Field(
        default=20.0, gt=0, le=1_000_000,
        description="Requests per second one client IP may send on average (429 above)."
    )
    collect_rate_limit_burst: int = Field(
        default=60, ge=1, le=1_000_000, description="Requests one client IP may send at once."
    )
    collect_delivery_timeout_s: float = Field(
        default=5.0, gt=0, le=300, description="Longest wait for Kafka to acknowledge a request's events (503 after)."
    )

    # --- KPI API and live page (pulse serve) ------------------------------------------------------
    api_host: str = Field(default="127.0.0.1", description="Address the KPI API and live page listen on.")
    api_port: int = Field(default=8430, ge=1, le=65535, description="Port the KPI API and live page listen on.")
    api_token: SecretStr | None = Field(
        default=None,
        description="When set, every /api route needs `Authorization: Bearer <token>` (401 otherwise);"
        " /healthz and the page itself stay open. Unset: no authentication (keep the API on a private network).",
    )
    api_pool_size: int = Field(default=4, ge=1, le=100, description="Most read-only connections the API holds open.")
    api_stale_after_s: float = Field(
        default=60.0, gt=0, le=86_400,
        description="The live page shows its data as stale (red) when the last commit is older."
    )

    # ---- metrics (pulse run --metrics-port; the API and the collector serve /metrics on their own port) --
    metrics_host: str = Field(default="127.0.0.1", description="Address the engine's /metrics endpoint listens on.")
    metrics_port: int = Field(
        default=0, ge=0, le=65535,
        description="Port of the engine's Prometheus /metrics endpoint (`pulse run`); 0 turns it off.",
    )

    # ---- health: heartbeat, `pulse health` thresholds, `pulse canary` ------------------------------
    heartbeat_interval_s: float = Field(
        default=5.0, gt=0, le=3600,
        description="The engine beats its heartbeat row at least this often, even when idle."
    )
    health_engine_stale_after_s: float = Field(
        default=30.0, gt=0, le=86_400,
        description="pulse health: an engine whose last heartbeat is older is not running."
    )
    health_max_lag: int = Field(
        default=10_000, ge=0, le=10**12, description="pulse health: consumer lag (messages) above which it warns."
    )
    health_max_staleness_s: float = Field(
        default=600.0, gt=0, le=2_592_000,
        description="pulse health: warns when the newest loaded event is older (seconds)."
    )
    canary_timeout_s: float = Field(
        default=60.0, gt=0, le=3600, description="pulse canary: give up when the canary event is not queryable by then."
    )
    canary_max_latency_s: float = Field(
        default=10.0, gt=0, le=3600, description="pulse canary: fails when produce-to-queryable latency is above this."
    )
    # --- alerts, maintenance and data quality (pulse alert, pulse maintain, pulse dq) -------------
    slack_webhook_url: SecretStr | None = Field(
        default=None, description="Slack incoming webhook that receives pulse alerts. A secret: never printed."
    )
    slack_max_retries: int = Field(
        default=3, ge=0, le=10, description="Retries of a Slack post on rate limits (429), 5xx and lost connections."
    )
    retention_days: int = Field(
        default=400, ge=1, le=36_500,
        description="pulse maintain keeps this many days before today (facts, ledger, rollups)."
    )
    quarantine_retention_days: int = Field(
        default=90, ge=1, le=36_500,
        description="pulse maintain deletes quarantined messages older than this many days."
    )
    dlq_publish_interval_s: float = Field(
        default=1.0, ge=0, le=3600,
        description="The native engine produces new quarantine rows to the dead-letter topic <topic>.dlq this"
        " often (seconds); 0: it does not, `pulse dlq publish` does.",
    )
    partition_days_ahead: int = Field(
        default=7, ge=0, le=366, description="pulse maintain creates the daily fact partitions this far ahead."
    )
    dq_window_minutes: int = Field(
        default=60, ge=1, le=44_640, description="pulse dq checks the events of this last window."
    )
    dq_max_unknown_country_share: float = Field(
        default=0.10, ge=0, le=1, description="pulse dq fails above this share of events with no storefront country."
    )
    dq_max_unknown_browser_share: float = Field(
        default=0.10, ge=0, le=1, description="pulse dq fails above this share of events whose browser is unknown."
    )
    dq_max_quarantine_rate: float = Field(
        default=0.02, ge=0, le=1, description="pulse dq fails above this share of quarantined messages in the window."
    )
    dq_max_duplicate_rate: float = Field(
        default=0.10, ge=0, le=1, description="pulse dq fails above this share of duplicates the ledger dropped."
    )
    dq_max_commit_age_s: float = Field(
        default=600.0, gt=0, le=2_592_000,
        description="pulse dq fails when the warehouse's last commit is older (seconds)."
    )
    # --- end of alerts, maintenance and data quality ----------------------------------------------
    # --- Spark engine (pulse spark) ---------------------------------------------------------------
    spark_master: str = Field(
        default="local[*]", description="Spark master of `pulse spark`: local[*] on one machine, spark://host:7077."
    )
    spark_checkpoint: Path | None = Field(
        default=None,
        description="Checkpoint directory of `pulse spark` (its Kafka offsets); default $PULSE_HOME/spark/checkpoint/"
        "<topic>. On a cluster it must be on storage every node shares.",
    )
    spark_max_offsets_per_trigger: int = Field(
        default=100_000, ge=1, le=10_000_000,
        description="Most Kafka messages one Spark micro-batch reads (bounds task memory)."
    )
    # --- Superset dashboards (pulse superset provision) -------------------------------------------
    superset_url: str = Field(default="http://127.0.0.1:8088", description="Superset that `pulse superset` talks to.")
    superset_username: str = Field(default="admin", description="Superset user that imports the dashboards.")
    superset_password: SecretStr | None = Field(
        default=None, description="Password of that Superset user (asked for when unset and a terminal is open)."
    )
    superset_warehouse_url: str | None = Field(
        default=None,
        description="Warehouse connection as Superset sees it (the read-only pulse_dashboard role, password from"
        " pgpass). Defaults to reader_database_url.",
    )

    # ---- checks at load: every value is usable, or the operator is told which variable to fix
    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"is not an IANA time zone like Europe/Berlin (got {quoted(value)})") from exc
        return value

    @field_validator("view_collections", "collect_trusted_proxies", "collect_allowed_origins", mode="before")
    @classmethod
    def _json_list(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, list):
            raise ValueError(f'must be a JSON list, e.g. ["a","b"] (got {quoted(value)})')
        return parsed

    @field_validator("view_collections")
    @classmethod
    def _collections(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or any(not item.strip() for item in value):
            raise ValueError('must name at least one collection and no blank one, e.g. ["view_product_detail"]')
        return value

    @field_validator("collect_trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"holds {quoted(entry)}, which is not an IP address or CIDR like 10.0.0.0/8") from None
        return value

    @field_validator("collect_allowed_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if entry != "*" and not is_origin(entry):
                raise ValueError(
                    f"holds {quoted(entry)}, which is not an origin like https://www.glamira.de (or \"*\")"
                )
        return value

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host.strip("[]") or not is_port(port):
                raise ValueError(f"must be host:port[,host:port...] like 127.0.0.1:9092 (got {quoted(value)})")
        return value

    @field_validator("topic")
    @classmethod
    def _topic_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,249}", value) or value in (".", ".."):
            raise ValueError(f"is not a Kafka topic name (letters, digits, '.', '_', '-'; got {quoted(value)})")
        return value

    @field_validator("consumer_group", "superset_username", "spark_master")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty: set it or unset it")
        return value

    @field_validator("collect_host", "api_host", "metrics_host")
    @classmethod
    def _listen_address(cls, value: str) -> str:
        if not is_host(value):
            raise ValueError(f"is not an IP address or host name (got {quoted(value)})")
        return value

    @field_validator("passfile")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None  # the URLs carry it to other processes

    @field_validator("database_url", "loader_database_url", "reader_database_url", "superset_warehouse_url")
    @classmethod
    def _connection_string(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        check_conninfo(value)
        return with_passfile(value, info.data.get("passfile"))

    @field_validator("superset_url")
    @classmethod
    def _web_url(cls, value: str) -> str:
        if not is_web_url(value):
            raise ValueError(f"is not an http(s) URL like http://127.0.0.1:8088 (got {quoted(value)})")
        return value

    @field_validator("slack_webhook_url")
    @classmethod
    def _webhook(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip() and not is_web_url(value.get_secret_value()):
            raise ValueError("is not an http(s) URL like https://hooks.slack.com/services/... (value not shown)")
        return value

    @field_validator("api_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip() and re.search(r"\s", value.get_secret_value()):
            raise ValueError("contains whitespace (a newline read from a file?): no request could ever match it")
        return value

    @field_validator("hash_key")
    @classmethod
    def _long_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and 0 < len(value.get_secret_value().strip()) < 16:
            raise ValueError("is shorter than 16 characters: use a long random secret (openssl rand -hex 32)")
        return value

    @field_validator("home", "passfile", "loader_database_url", "reader_database_url", "geoip_database",
                     "storefronts_file", "hash_key", "api_token", "slack_webhook_url", "superset_password",
                     "spark_checkpoint", "superset_warehouse_url", mode="before")
    @classmethod
    def _set_or_unset(cls, value: object) -> object:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str) and not text.strip():
            raise ValueError("is empty: set it or unset it")
        return value

    @model_validator(mode="after")
    def _heartbeat_before_stale(self) -> Settings:
        if self.health_engine_stale_after_s <= self.heartbeat_interval_s:
            raise ValueError(
                f"PULSE_HEALTH_ENGINE_STALE_AFTER_S ({self.health_engine_stale_after_s:g}) must be longer than"
                f" PULSE_HEARTBEAT_INTERVAL_S ({self.heartbeat_interval_s:g}), or every engine looks dead"
            )
        return self

    def require_hash_key(self) -> bytes:
        """The pseudonymisation key, or a ConfigError saying how to set one."""
        if self.hash_key is None or len(self.hash_key.get_secret_value()) < 16:
            raise ConfigError(
                "PULSE_HASH_KEY is not set (or shorter than 16 characters): set it to a long random secret,"
                " e.g. `export PULSE_HASH_KEY=$(openssl rand -hex 32)`; `pulse stack up` makes one for local use"
            )
        return self.hash_key.get_secret_value().encode()

    def using_passfile(self, passfile: Path) -> Settings:
        """These settings with `passfile` as the password file of every connection URL without a password (for
        settings made before `pulse stack up` wrote stack.env; settings loaded after it read it from there)."""
        passfile = passfile.expanduser().resolve()
        urls = {name: with_passfile(value, passfile) for name in CONNECTION_FIELDS if (value := getattr(self, name))}
        return self.model_copy(update={"passfile": passfile, **urls})

    @property
    def loader_url(self) -> str:
        """Connection string the engine loads with."""
        return self.loader_database_url or self.database_url

    @property
    def reader_url(self) -> str:
        """Connection string the KPI readers use."""
        return self.reader_database_url or self.database_url

    @property
    def loader_url_setting(self) -> str:
        """The variable `loader_url` comes from, for messages that say what to fix."""
        return "PULSE_LOADER_DATABASE_URL" if self.loader_database_url else "PULSE_DATABASE_URL"

    @property
    def reader_url_setting(self) -> str:
        """The variable `reader_url` comes from, for messages that say what to fix."""
        return "PULSE_READER_DATABASE_URL" if self.reader_database_url else "PULSE_DATABASE_URL"


CONNECTION_FIELDS = ("database_url", "loader_database_url", "reader_database_url", "superset_warehouse_url")
STACK_ENV_FILE = "stack.env"
_SECRET_FIELDS = {"hash_key", "api_token", "slack_webhook_url", "superset_password", "database_url",
                  "loader_database_url", "reader_database_url", "superset_warehouse_url"}  # values never shown


def load_settings(**overrides: object) -> Settings:
    """Build settings from overrides, the environment, then `$PULSE_HOME/stack.env`; stop on a bad value.

    `pulse stack up` writes `stack.env` (role URLs of the local stack and its password file, no passwords), so
    commands run after it use the least-privilege roles without further setup. Real environment variables win.
    """
    home = Path(str(overrides.get("home") or os.environ.get("PULSE_HOME") or ".pulse"))
    env_file = home / STACK_ENV_FILE
    try:
        return Settings(
            _env_file=env_file if env_file.is_file() else None,  # type: ignore[call-arg]
            **{k: v for k, v in overrides.items() if v is not None},  # type: ignore[arg-type]
        )
    except ValidationError as exc:
        problems = "; ".join(describe_problem(err, _SECRET_FIELDS) for err in exc.errors())
        raise ConfigError(f"invalid setting: {problems}") from None
    except SettingsError as exc:  # a value pydantic-settings could not even decode (a non-JSON complex value)
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"PULSE_{field.group(1).upper()}" if field else "a PULSE_* variable"
        raise ConfigError(f'invalid setting: {name} must be JSON, e.g. ["a","b"]') from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings (read once)."""
    return load_settings()
