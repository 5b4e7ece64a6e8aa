"""Spark's Kafka connector jars: fetched once with Maven into a cache, passed to Spark as local files."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pulse.errors import ConfigError, MissingToolError, TerminalError
from pulse.stack import maven

# Must equal the pinned pyspark (pyproject extra `spark`): the connector is built against it.
SPARK_VERSION = "4.2.0"
# What the Kafka source needs beyond pyspark's own jars.
CONNECTOR_ARTIFACTS = (
    "spark-sql-kafka-0-10_2.13",
    "spark-token-provider-kafka-0-10_2.13",
    "kafka-clients",
    "commons-pool2",
)

Progress = Callable[[str], None]


def spark_jars_dir(version: str = SPARK_VERSION) -> Path:
    """Where the connector jars live: $PULSE_SPARK_JARS, else ~/.cache/pulse/spark-<version>/jars."""
    override = os.environ.get("PULSE_SPARK_JARS")
    if override:
        return Path(override).expanduser().resolve()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return (cache / "pulse" / f"spark-{version}" / "jars").resolve()


def connector_jars(lib: Path | None = None) -> list[Path]:
    """The connector jars in `lib`, or a MissingToolError saying how to fetch them."""
    lib = lib or spark_jars_dir()
    jars = sorted(lib.glob("*.jar"))
    missing = [a for a in CONNECTOR_ARTIFACTS if not any(j.name.startswith(f"{a}-") for j in jars)]
    if missing:
        raise MissingToolError(
            f"Spark's Kafka connector jars are missing in {lib} ({', '.join(missing)}): run"
            " `bash scripts/install.sh` or `python -m pulse.stack.spark fetch` (Maven, once)"
        )
    return jars


def check_pyspark_version() -> str:
    """The installed pyspark's version; ConfigError if pyspark is absent or not SPARK_VERSION."""
    try:
        import pyspark
    except ImportError:
        raise ConfigError(
            "pyspark is not installed: pip install -e '.[spark]' (scripts/install.sh does it)"
        ) from None
    if pyspark.__version__ != SPARK_VERSION:
        raise ConfigError(
            f"pyspark {pyspark.__version__} is installed but the Kafka connector jars are for {SPARK_VERSION}:"
            f" pip install 'pyspark=={SPARK_VERSION}'"
        )
    return str(pyspark.__version__)


def fetch_jars(version: str = SPARK_VERSION, lib: Path | None = None, progress: Progress | None = None) -> Path:
    """Download the connector and its extra runtime jars with Maven into `lib` (once); return `lib`."""
    lib = lib or spark_jars_dir(version)
    try:
        connector_jars(lib)
        return lib
    except MissingToolError:
        pass
    if progress:
        progress(f"fetching spark-sql-kafka-0-10_2.13:{version} with Maven into {lib} (once, about 10 MB)")
    return maven.copy_dependencies(
        "spark-pom.xml", lib, what=f"org.apache.spark:spark-sql-kafka-0-10_2.13:{version}",
        expect=f"spark-sql-kafka-0-10_2.13-{version}.jar", properties={"spark.version": version},
        include=list(CONNECTOR_ARTIFACTS),
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m pulse.stack.spark fetch|jars`: fetch the connector jars (scripts/install.sh), or list them."""
    parser = argparse.ArgumentParser(prog="python -m pulse.stack.spark", description=main.__doc__)
    parser.add_argument("command", choices=["fetch", "jars"], help="fetch the jars, or print them comma-separated")
    args = parser.parse_args(argv)
    try:
        if args.command == "jars":
            print(",".join(str(j) for j in connector_jars()))
            return 0
        started = time.monotonic()
        lib = fetch_jars(progress=print)
        print(f"Spark {SPARK_VERSION} Kafka connector jars ready in {lib} ({time.monotonic() - started:.0f} s)")
    except (MissingToolError, TerminalError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
