"""deploy/docker-compose.yml: it parses, what it mounts exists, and every `pulse` command is a valid CLI call.

No Docker engine runs here, so `docker compose config` cannot run; instead `composecheck` (tools/, built by
scripts/install.sh) loads the file with compose-go, the library Docker Compose itself loads files with
(schema validation, interpolation, merges), and the other tests check it against the repository and the
real typer CLI.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from pulse.cli import app

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
COMPOSECHECK = ROOT / ".venv" / "bin" / "composecheck"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
ONE_SHOT = {name for name, svc in SERVICES.items() if svc.get("restart") == "no"}


def _bind_sources(service: dict[str, Any]) -> list[str]:
    sources = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                sources.append(volume["source"])
        elif volume.startswith((".", "/")):
            sources.append(volume.split(":", 1)[0])
    return sources


def _pulse_commands() -> list[tuple[str, list[str]]]:
    """(where, argv after `pulse`) for every pulse invocation: commands and health checks."""
    found = []
    for name, service in SERVICES.items():
        command = service.get("command")
        if isinstance(command, list) and command and command[0] == "pulse":
            found.append((f"{name}.command", command[1:]))
        test = service.get("healthcheck", {}).get("test", [])
        if isinstance(test, list) and test[:2] == ["CMD", "pulse"]:
            found.append((f"{name}.healthcheck", test[2:]))
        if isinstance(test, list) and test[:1] == ["CMD-SHELL"] and test[1].startswith("pulse "):
            words = shlex.split(re.split(r"[;|&>]", test[1])[0])  # the pulse call before any redirect or ;
            found.append((f"{name}.healthcheck", words[1:]))
    return found


def test_the_file_parses_and_has_the_production_services() -> None:
    assert {"kafka-1", "kafka-2", "kafka-3", "postgres", "pulse-engine", "pulse-api", "superset", "airflow",
            "prometheus", "grafana"} <= set(SERVICES)
    profiles = {name: svc.get("profiles", []) for name, svc in SERVICES.items()}
    assert all(profiles[n] == ["elastic"] for n in ("elasticsearch", "logstash", "kibana", "filebeat"))
    assert all(profiles[n] == ["spark"] for n in ("spark-master", "spark-worker", "pulse-spark"))


def test_kafka_is_a_three_node_kraft_quorum_with_replicated_topics() -> None:
    brokers = [SERVICES[f"kafka-{i}"] for i in (1, 2, 3)]
    assert [b["environment"]["KAFKA_NODE_ID"] for b in brokers] == ["1", "2", "3"]
    voters = brokers[0]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert voters == "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"
    assert all(b["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller" for b in brokers)
    assert "--replication-factor 3" in " ".join(SERVICES["kafka-init"]["command"])


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_images_are_pinned_and_long_running_services_have_health_checks(name: str) -> None:
    service = SERVICES[name]
    image = service["image"]
    assert re.fullmatch(r"[\w./-]+:v?\d[\w.-]*", image), f"{name}: image {image!r} is not pinned to a version"
    if name not in ONE_SHOT:
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service.get("restart") == "unless-stopped", f"{name} does not restart"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_mounted_file_and_build_context_exists(name: str) -> None:
    service = SERVICES[name]
    missing = [src for src in _bind_sources(service) if src.startswith(".") and not (DEPLOY / src).exists()]
    assert missing == [], f"{name} mounts {missing}, which do not exist under deploy/"
    build = service.get("build")
    if build:
        context = DEPLOY / build["context"]
        assert (context / build["dockerfile"]).is_file(), f"{name}: no {build['dockerfile']} in {context}"
        assert f"AS {build['target']}" in (context / build["dockerfile"]).read_text()
    # Host paths outside the repository are the Docker host's own (its container logs, its socket).
    assert all(src.startswith("/var/") for src in _bind_sources(service) if src.startswith("/"))


def test_secrets_come_from_the_env_file_which_is_documented() -> None:
    users = [name for name, svc in SERVICES.items() if svc.get("env_file")]
    assert {"postgres", "pulse-engine", "pulse-api", "pulse-migrate", "superset", "airflow", "grafana"} <= set(users)
    assert {SERVICES[n]["env_file"] for n in users} == {"pulse.env"}
    reference = (DEPLOY / "pulse.env.example").read_text()
    for variable in ("POSTGRES_PASSWORD", "PULSE_ENGINE_PASSWORD", "PULSE_DASHBOARD_PASSWORD", "AIRFLOW_DB_PASSWORD",
                     "SUPERSET_SECRET_KEY", "GF_SECURITY_ADMIN_PASSWORD", "PULSE_HASH_KEY"):
        assert f"# {variable}=" in reference, f"{variable} is not documented in pulse.env.example"
    assert "PASSWORD" not in COMPOSE_FILE.read_text().replace("_PASSWORD", ""), "a literal password in the file"


def test_dependencies_name_real_services() -> None:
    for name, service in SERVICES.items():
        assert set(service.get("depends_on", {})) <= set(SERVICES), name


def test_volumes_are_declared() -> None:
    declared = set(COMPOSE.get("volumes", {}))
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source}"


def _validate(argv: list[str]) -> None:
    """Parse argv with the real CLI (click tree from typer): unknown commands or options raise."""
    group: Any = typer.main.get_command(app)
    ctx = group.make_context("pulse", list(argv))
    rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
    while True:
        name, command, rest = group.resolve_command(ctx, rest)
        if command is None:
            raise AssertionError(f"`pulse {name}` is not a command")
        ctx = command.make_context(name, rest, parent=ctx)
        if not hasattr(command, "resolve_command"):
            return
        group, rest = command, [*getattr(ctx, "_protected_args", []), *ctx.args]


def test_every_pulse_command_in_the_file_is_found() -> None:
    where = {w for w, _ in _pulse_commands()}
    assert {"pulse-migrate.command", "pulse-engine.command", "pulse-engine.healthcheck", "pulse-api.command",
            "pulse-collector.command", "pulse-spark.command"} <= where


@pytest.mark.parametrize(("where", "argv"), _pulse_commands(), ids=[w for w, _ in _pulse_commands()])
def test_every_pulse_command_is_a_valid_invocation_of_the_cli(where: str, argv: list[str]) -> None:
    try:
        _validate(argv)
    except Exception as exc:  # noqa: BLE001 - the message is the point
        raise AssertionError(f"{where}: `pulse {' '.join(argv)}` is not valid for this CLI: {exc}") from None


@pytest.mark.parametrize("argv", [["runn"], ["run", "--until-idel", "3"], ["serve", "--port", "eighty"],
                                  ["--log-format", "json"], ["stack", "upp"]])
def test_the_validator_rejects_wrong_invocations(argv: list[str]) -> None:
    with pytest.raises(Exception):  # noqa: B017 - click raises several usage error types
        _validate(argv)


def test_compose_go_loads_and_validates_the_file_with_every_profile(tmp_path: Path) -> None:
    assert COMPOSECHECK.is_file(), f"{COMPOSECHECK} is missing: run `bash scripts/install.sh` (needs Go)"
    # A copy of deploy/ with the env file a user would write from the reference (compose requires it).
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("pulse.env"))
    (copy / "pulse.env").write_text((DEPLOY / "pulse.env.example").read_text())
    result = subprocess.run([str(COMPOSECHECK), str(copy / "docker-compose.yml")], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert set(resolved["services"]) == set(SERVICES)
    engine = resolved["services"]["pulse-engine"]
    assert engine["command"] == ["pulse", "--log-format", "json", "run"]
    assert engine["depends_on"]["pulse-migrate"]["condition"] == "service_completed_successfully"
    assert engine["build"]["context"] == str(tmp_path)


def test_compose_go_rejects_an_invalid_file(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("    healthcheck:", "    healthchek:", 1))
    result = subprocess.run([str(COMPOSECHECK), str(broken)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0 and "healthchek" in result.stderr
