"""Provision Apache Superset: build the KPI dashboard bundle (package data: resources/superset/bundle) and import it.

Order of work: the warehouse URL Superset should use (pulse_dashboard, read-only) and its password
(from the URL, PGPASSWORD or the pgpass file) -> the bundle (the committed YAML with the KPI settings
filled in, zipped as Superset's import/export format) -> login (JWT) and a CSRF token -> the
database, dataset, chart and dashboard import APIs, each with overwrite and the warehouse password in
the `passwords` field (never in a file) -> the dashboard URL.
Importing again replaces the same objects (fixed uuids), so provisioning is idempotent.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import psycopg
import yaml
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from pulse.errors import ConfigError, TerminalError, TransientError
from pulse.resources import resource_path
from pulse.settings import Settings
from pulse.warehouse.pgpass import pgpass_password

BUNDLE_DIR = resource_path("superset", "bundle")
DATABASE_FILE = "databases/pulse_warehouse.yaml"
DASHBOARD_SLUG = "pulse-kpis"
MASKED_PASSWORD = "XXXXXXXXXX"  # what Superset's export writes in place of a password
ROOT = "pulse_kpis"  # top folder inside the zip
IMPORTS = (("database", "Database"), ("dataset", "SqlaTable"), ("chart", "Slice"), ("dashboard", "Dashboard"))
CONNECT_ATTEMPTS = 3
TIMEOUT_S = 60.0

Progress = Callable[[str], None]


@dataclass(frozen=True)
class WarehouseAccess:
    """How Superset reaches the warehouse: a SQLAlchemy URI with the password masked, and the password."""

    sqlalchemy_uri: str
    password: str


@dataclass(frozen=True)
class Provisioned:
    """What provisioning made: the dashboard's id and URL, and the chart ids by slice name."""

    dashboard_id: int
    dashboard_url: str
    charts: dict[str, int]


# --------------------------------------------------------------------------------------------- the warehouse


def warehouse_access(settings: Settings) -> WarehouseAccess:
    """The SQLAlchemy URI (password masked) and password Superset uses; stop with a fix when unknown."""
    url = settings.superset_warehouse_url or settings.reader_url
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"PULSE_SUPERSET_WAREHOUSE_URL / PULSE_READER_DATABASE_URL is not valid: {exc}") from None
    user = str(parts.get("user") or "")
    host = str(parts.get("host") or "127.0.0.1")
    port = str(parts.get("port") or 5432)
    dbname = str(parts.get("dbname") or user)
    if not user:
        raise ConfigError("the warehouse URL for Superset names no role: use postgresql://pulse_dashboard@HOST:PORT/DB")
    password = parts.get("password") or os.environ.get("PGPASSWORD") or pgpass_password(
        _passfile(settings, str(parts.get("passfile") or "")), host, port, dbname, user)
    if not password:
        raise ConfigError(
            f"no password for role {user!r} on {host}:{port}: put it in the pgpass file (PULSE_PASSFILE, which"
            f" `pulse stack up` sets to $PULSE_HOME/pgpass, or PGPASSFILE) or in PULSE_SUPERSET_WAREHOUSE_URL"
        )
    netloc_host = f"[{host}]" if ":" in host else host
    uri = (f"postgresql+psycopg2://{quote(user, safe='')}:{MASKED_PASSWORD}@{netloc_host}:{port}/"
           f"{quote(dbname, safe='')}")
    return WarehouseAccess(sqlalchemy_uri=uri, password=str(password))


def _passfile(settings: Settings, named: str) -> Path:
    """The password file libpq would read for this URL: the one it names, PGPASSFILE, else $PULSE_HOME/pgpass."""
    return Path(named or os.environ.get("PGPASSFILE") or settings.home.expanduser() / "pgpass")


# --------------------------------------------------------------------------------------------- the bundle


def _sql_literal(value: object) -> str:
    return sql.Literal(value).as_string(None)


def kpi_sql_values(settings: Settings) -> dict[str, str]:
    """SQL literals for the placeholders of the datasets: the KPI time zone, view set and bot rule."""
    views = sql.SQL("ARRAY[{}]::text[]").format(sql.SQL(", ").join(sql.Literal(v) for v in settings.view_collections))
    return {
        "__PULSE_TZ__": _sql_literal(settings.timezone),
        "__PULSE_VIEW_COLLECTIONS__": views.as_string(None),
        "__PULSE_INCLUDE_BOTS__": "true" if settings.include_bots else "false",
    }


def build_bundle(settings: Settings, access: WarehouseAccess, bundle_dir: Path = BUNDLE_DIR,
                 kind: str = "Dashboard") -> bytes:
    """The bundle as a zip in Superset's import format, filled in for these settings.

    `kind` is the import it is for (Database, SqlaTable, Slice or Dashboard: the type in metadata.yaml).
    """
    if not (bundle_dir / "metadata.yaml").is_file():
        raise ConfigError(f"no Superset bundle at {bundle_dir} (expected metadata.yaml there)")
    values = kpi_sql_values(settings)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(bundle_dir.rglob("*.yaml")):
            name = path.relative_to(bundle_dir).as_posix()
            doc = yaml.safe_load(path.read_text())
            if name == "metadata.yaml":
                doc["type"] = kind
            elif name == DATABASE_FILE:
                doc["sqlalchemy_uri"] = access.sqlalchemy_uri
            elif name.startswith("datasets/"):
                for token, literal in values.items():
                    doc["sql"] = doc["sql"].replace(token, literal)
            elif name.startswith("charts/") and isinstance(doc.get("query_context"), dict):
                doc["query_context"] = json.dumps({**doc["query_context"], "form_data": doc["params"]})
            archive.writestr(f"{ROOT}/{name}", yaml.safe_dump(doc, sort_keys=False))
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------- the server


class SupersetClient:
    """A logged-in session with Superset's REST API (JWT bearer plus the CSRF token it wants on writes)."""

    def __init__(self, url: str, timeout: float = TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise ConfigError(f"the Superset URL {url!r} must start with http:// or https://")
        self.http = httpx.Client(base_url=self.url, timeout=timeout, headers={"Referer": self.url})

    def __enter__(self) -> SupersetClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One API call; connection failures are retried a few times, then reported with a fix."""
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            try:
                return self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == CONNECT_ATTEMPTS:
                    raise TransientError(
                        f"Superset is not reachable at {self.url} ({type(exc).__name__}: {exc}); start it"
                        " (see README, Superset) or pass --url"
                    ) from None
                time.sleep(attempt)
        raise AssertionError("unreachable")

    def login(self, username: str, password: str) -> None:
        """JWT login (database auth), then the CSRF token for writes (bound to the session cookie)."""
        answer = self.request("POST", "/api/v1/security/login",
                              json={"username": username, "password": password, "provider": "db", "refresh": False})
        if answer.status_code == 401:
            raise TerminalError(f"Superset refused the login of {username!r}: check --username and"
                                " PULSE_SUPERSET_PASSWORD")
        _check(answer, "login")
        self.http.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        csrf = self.request("GET", "/api/v1/security/csrf_token/")
        _check(csrf, "CSRF token")
        self.http.headers["X-CSRFToken"] = csrf.json()["result"]

    def import_bundle(self, resource: str, bundle: bytes, passwords: dict[str, str]) -> None:
        """POST a bundle to /api/v1/<resource>/import/, replacing what an earlier import made."""
        answer = self.request(
            "POST", f"/api/v1/{resource}/import/",
            files={"formData": (f"{ROOT}.zip", bundle, "application/zip")},
            data={"passwords": json.dumps(passwords), "overwrite": "true"},
        )
        _check(answer, f"{resource} import")

    def get(self, path: str, **params: Any) -> Any:
        """GET an API path and return its JSON."""
        answer = self.request("GET", path, params=params or None)
        _check(answer, f"GET {path}")
        return answer.json()


def _check(answer: httpx.Response, what: str) -> None:
    if answer.is_success:
        return
    try:
        body: Any = answer.json()
        detail = body.get("message") or body.get("errors") or body
    except ValueError:
        detail = answer.text[:300]
    if answer.status_code >= 500:
        raise TransientError(f"Superset failed the {what} (HTTP {answer.status_code}): {detail}")
    raise TerminalError(f"Superset refused the {what} (HTTP {answer.status_code}): {detail}")


def provision(
    settings: Settings,
    url: str,
    username: str,
    password: str,
    bundle_dir: Path = BUNDLE_DIR,
    progress: Progress | None = None,
) -> Provisioned:
    """Import the KPI dashboard into the Superset at `url`, pointed at the warehouse as pulse_dashboard."""
    say = progress or (lambda _message: None)
    access = warehouse_access(settings)
    with SupersetClient(url) as client:
        say(f"logging in to Superset at {client.url} as {username}")
        client.login(username, password)
        # The dashboard import alone keeps existing databases, datasets and charts as they are; importing
        # each kind with overwrite first makes a second provisioning apply changed settings too.
        for resource, kind in IMPORTS:
            say(f"importing the {resource} definitions")
            client.import_bundle(resource, build_bundle(settings, access, bundle_dir, kind),
                                 {DATABASE_FILE: access.password})
        dashboard = client.get(f"/api/v1/dashboard/{DASHBOARD_SLUG}")["result"]
        charts = client.get(f"/api/v1/dashboard/{DASHBOARD_SLUG}/charts")["result"]
    return Provisioned(
        dashboard_id=int(dashboard["id"]),
        dashboard_url=f"{client.url}{dashboard['url']}",
        charts={chart["slice_name"]: int(chart["id"]) for chart in charts},
    )
