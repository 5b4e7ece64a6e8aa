"""The Kafka broker's jars (kafka_2.13 and its runtime); `python -m pulse.stack.kafka fetch|lib` fetches them."""

from __future__ import annotations

import sys
from pathlib import Path

from pulse.stack.java import JarSet, main
from pulse.stack.proc import Progress, say

KAFKA_VERSION = "4.1.1"
KAFKA_JARS = JarSet(
    title=f"Kafka {KAFKA_VERSION} jars", module="pulse.stack.kafka", pom="kafka-pom.xml",
    artifact=f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}", expect=f"kafka_2.13-{KAFKA_VERSION}.jar",
    required=("kafka_2.13", "kafka-clients"), env="PULSE_KAFKA_LIB", folder=f"kafka-{KAFKA_VERSION}/lib",
    size="about 45 MB", properties={"kafka.version": KAFKA_VERSION},
)


def kafka_lib_dir() -> Path:
    """Where the broker jars live: $PULSE_KAFKA_LIB, else ~/.cache/pulse/kafka-<version>/lib."""
    return KAFKA_JARS.directory()


def jars_present(lib: Path) -> bool:
    """True when `lib` holds a Kafka broker runtime (the core jar and the clients jar)."""
    return not KAFKA_JARS.missing(lib)


def ensure_jars(progress: Progress | None = None) -> Path:
    """The jar directory, fetched first (with a message) when it is missing."""
    lib = kafka_lib_dir()
    if not jars_present(lib):
        say(progress, f"Kafka jars not found in {lib}")
        KAFKA_JARS.fetch(lib, progress)
    return lib


def jars_version(lib: Path) -> str:
    """The Kafka version of the jars in `lib` ("?" when there are none)."""
    for jar in lib.glob("kafka_2.13-*.jar"):
        return jar.stem.removeprefix("kafka_2.13-")
    return "?"


if __name__ == "__main__":
    sys.exit(main(KAFKA_JARS))
