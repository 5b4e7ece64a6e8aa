"""The Superset bundle: the KPI settings become SQL literals, no password is ever written, the URI and
the password come from the reader URL and the pgpass file."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
import yaml

from pulse.errors import ConfigError
from pulse.serve.superset import BUNDLE_DIR, DATABASE_FILE, WarehouseAccess, build_bundle, warehouse_access
from pulse.settings import Settings
from pulse.warehouse.pgpass import pgpass_password

ACCESS = WarehouseAccess("postgresql+psycopg2://pulse_dashboard:XXXXXXXXXX@db:5433/pulse", "s3cret-pw")


def _unzip(bundle: bytes) -> dict[str, dict]:  # type: ignore[type-arg]
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        return {name.split("/", 1)[1]: yaml.safe_load(archive.read(name)) for name in archive.namelist()}


def test_the_bundle_has_the_kpi_settings_as_sql_literals_and_no_password(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, timezone="Europe/Berlin", include_bots=True,
                        view_collections=("view_product_detail", "it's_a_view"))
    bundle = build_bundle(settings, ACCESS, kind="Slice")
    files = _unzip(bundle)
    assert b"s3cret-pw" not in bundle
    assert files["metadata.yaml"]["type"] == "Slice"
    assert files[DATABASE_FILE]["sqlalchemy_uri"] == ACCESS.sqlalchemy_uri
    assert files[DATABASE_FILE]["allow_dml"] is False
    datasets = {n: d for n, d in files.items() if n.startswith("datasets/")}
    assert len(datasets) == 5
    for name, doc in datasets.items():
        assert "__PULSE" not in doc["sql"]
        if name.endswith("pulse_visits.yaml"):  # visits are kept per zone: no view collections, no bots
            assert "r.zone = 'Europe/Berlin'" in doc["sql"]
            continue
        assert "AT TIME ZONE 'Europe/Berlin'" in doc["sql"]
        assert "ANY(ARRAY['view_product_detail', 'it''s_a_view']::text[])" in doc["sql"]
        assert "(true OR NOT r.is_bot)" in doc["sql"]
    charts = {n: d for n, d in files.items() if n.startswith("charts/")}
    assert len(charts) == 7
    for doc in charts.values():
        context = json.loads(doc["query_context"])
        assert context["form_data"] == doc["params"]
        assert doc["dataset_uuid"] in {d["uuid"] for d in datasets.values()}
    dashboard = files["dashboards/pulse_kpis.yaml"]
    assert dashboard["metadata"]["refresh_frequency"] == 10
    chart_uuids = {c["meta"]["uuid"] for c in dashboard["position"].values()
                   if isinstance(c, dict) and c["type"] == "CHART"}
    assert chart_uuids == {d["uuid"] for d in charts.values()}


def test_the_committed_bundle_stores_no_password() -> None:
    for path in BUNDLE_DIR.rglob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        if path.name == "pulse_warehouse.yaml":
            assert ":XXXXXXXXXX@" in doc["sqlalchemy_uri"]
            # read-only sessions (checked against a real Superset), and no JIT for its short rollup reads
            options = doc["extra"]["engine_params"]["connect_args"]["options"].split()
            assert "default_transaction_read_only=on" in options and "jit=off" in options
            assert "password" not in doc


def test_the_password_comes_from_pgpass_and_the_uri_masks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    passfile = tmp_path / "pgpass"
    passfile.write_text("# comment\n127.0.0.1:5999:*:pulse:owner-pw\n127.0.0.1:5999:*:pulse_dashboard:a\\:b\n")
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    settings = Settings(home=tmp_path, reader_database_url="postgresql://pulse_dashboard@127.0.0.1:5999/wh")
    access = warehouse_access(settings)
    assert access == WarehouseAccess("postgresql+psycopg2://pulse_dashboard:XXXXXXXXXX@127.0.0.1:5999/wh", "a:b")
    assert pgpass_password(passfile, "127.0.0.1", "5999", "wh", "nobody") is None
    other = settings.model_copy(update={"superset_warehouse_url": "postgresql://pulse_dashboard@db.internal:5999/wh"})
    with pytest.raises(ConfigError, match="no password for role 'pulse_dashboard'"):
        warehouse_access(other)


def test_the_password_comes_from_the_passfile_the_url_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "not-this-one"))
    passfile = tmp_path / "stack-pgpass"
    passfile.write_text("127.0.0.1:5999:*:pulse_dashboard:from-the-stack\n")
    settings = Settings(home=tmp_path / "elsewhere", passfile=passfile,
                        reader_database_url="postgresql://pulse_dashboard@127.0.0.1:5999/wh")
    access = warehouse_access(settings)
    assert access == WarehouseAccess("postgresql+psycopg2://pulse_dashboard:XXXXXXXXXX@127.0.0.1:5999/wh",
                                     "from-the-stack")
