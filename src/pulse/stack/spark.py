"""Spark's Kafka connector jars (fetched once with Maven, passed to Spark as local files) and the pinned pyspark.

`python -m pulse.stack.spark fetch|jars`: fetch them (scripts/install.sh, the Dockerfile) or list them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pulse.errors import ConfigError
from pulse.stack.java import JarSet, main
from pulse.stack.proc import Progress

# Must equal the pinned pyspark (pyproject extra `spark`): the connector is built against it.
SPARK_VERSION = "4.2.0"
# What the Kafka source needs beyond pyspark's own jars.
CONNECTOR_ARTIFACTS = (
    "spark-sql-kafka-0-10_2.13",
    "spark-token-provider-kafka-0-10_2.13",
    "kafka-clients",
    "commons-pool2",
)
SPARK_JARS = JarSet(
    title=f"Spark {SPARK_VERSION} Kafka connector jars", module="pulse.stack.spark", pom="spark-pom.xml",
    artifact=f"org.apache.spark:spark-sql-kafka-0-10_2.13:{SPARK_VERSION}",
    expect=f"spark-sql-kafka-0-10_2.13-{SPARK_VERSION}.jar", required=CONNECTOR_ARTIFACTS, env="PULSE_SPARK_JARS",
    folder=f"spark-{SPARK_VERSION}/jars", size="about 10 MB", properties={"spark.version": SPARK_VERSION},
    only_required=True,
)


def spark_jars_dir() -> Path:
    """Where the connector jars live: $PULSE_SPARK_JARS, else ~/.cache/pulse/spark-<version>/jars."""
    return SPARK_JARS.directory()


def connector_jars(lib: Path | None = None) -> list[Path]:
    """The connector jars in `lib`, or a MissingToolError saying how to fetch them."""
    return SPARK_JARS.jars(lib)


def fetch_jars(lib: Path | None = None, progress: Progress | None = None) -> Path:
    """Download the connector and its extra runtime jars with Maven into `lib` (once); return `lib`."""
    return SPARK_JARS.fetch(lib, progress)


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


if __name__ == "__main__":
    sys.exit(main(SPARK_JARS))
