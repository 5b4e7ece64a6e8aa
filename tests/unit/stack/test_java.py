"""Jar sets: complete or not by their artifacts, one command line for Kafka's and Spark's (no Maven needed here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pulse.errors import MissingToolError
from pulse.stack.java import main
from pulse.stack.kafka import KAFKA_JARS, jars_present, kafka_lib_dir
from pulse.stack.spark import CONNECTOR_ARTIFACTS, SPARK_JARS, connector_jars


def _jars(lib: Path, *names: str) -> Path:
    lib.mkdir(parents=True, exist_ok=True)
    for name in names:
        (lib / name).write_bytes(b"")
    return lib


def test_a_set_is_complete_when_every_required_artifact_has_a_jar(tmp_path: Path) -> None:
    lib = _jars(tmp_path / "lib", "kafka_2.13-4.1.1.jar", "kafka-streams-4.1.1.jar")
    assert KAFKA_JARS.missing(lib) == ["kafka-clients"] and not jars_present(lib)
    _jars(lib, "kafka-clients-4.1.1.jar")
    assert jars_present(lib)
    spark = _jars(tmp_path / "spark", *(f"{a}-1.0.jar" for a in CONNECTOR_ARTIFACTS[:-1]))
    with pytest.raises(MissingToolError, match=r"commons-pool2.*python -m pulse\.stack\.spark fetch"):
        connector_jars(spark)
    _jars(spark, "commons-pool2-2.12.0.jar")
    assert [j.name for j in connector_jars(spark)] == sorted(f"{a}-{v}.jar" for a, v in zip(
        CONNECTOR_ARTIFACTS, ("1.0", "1.0", "1.0", "2.12.0"), strict=True))


def test_the_folder_is_the_override_or_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULSE_KAFKA_LIB", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert kafka_lib_dir() == tmp_path / "cache" / "pulse" / "kafka-4.1.1" / "lib"
    monkeypatch.setenv("PULSE_KAFKA_LIB", str(tmp_path / "mine"))
    assert kafka_lib_dir() == tmp_path / "mine"


def test_main_prints_the_folder_and_the_jars_and_fetch_is_a_no_op_when_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lib = _jars(tmp_path / "jars", *(f"{a}-4.2.0.jar" for a in CONNECTOR_ARTIFACTS))
    monkeypatch.setenv("PULSE_SPARK_JARS", str(lib))
    assert main(SPARK_JARS, ["lib"]) == 0
    assert main(SPARK_JARS, ["jars"]) == 0
    assert main(SPARK_JARS, ["fetch"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == str(lib)
    assert out[1].split(",") == [str(j) for j in sorted(lib.glob("*.jar"))]
    assert out[2] == f"Spark 4.2.0 Kafka connector jars already in {lib}"
    monkeypatch.setenv("PULSE_SPARK_JARS", str(tmp_path / "empty"))
    assert main(SPARK_JARS, ["jars"]) == 1
    assert "error: Spark 4.2.0 Kafka connector jars are missing" in capsys.readouterr().err


@pytest.mark.parametrize(("module", "command", "variable"), [
    ("pulse.stack.kafka", "lib", "PULSE_KAFKA_LIB"), ("pulse.stack.spark", "lib", "PULSE_SPARK_JARS"),
])
def test_the_install_scripts_command_lines_still_work(module: str, command: str, variable: str, tmp_path: Path) -> None:
    env = {**os.environ, variable: str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", module, command], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, str(tmp_path)), done.stderr
