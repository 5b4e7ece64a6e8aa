"""Java for the stack's JVMs, and the jar sets they run: fetched once with Maven into a cache, one command line."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from pulse.errors import MissingToolError, TerminalError
from pulse.stack import maven
from pulse.stack.proc import Progress, say

JAVA_PACKAGE = "openjdk-17-jre-headless"


def find_java() -> str:
    """Path of a Java 17+ `java` (JAVA_HOME first, then PATH); MissingToolError otherwise."""
    java_home = os.environ.get("JAVA_HOME")
    candidates = [str(Path(java_home) / "bin" / "java")] if java_home else []
    candidates.append(shutil.which("java") or "")
    for java in filter(None, candidates):
        if not os.access(java, os.X_OK):
            continue
        done = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
        match = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
        if match:
            major = int(match.group(2)) if match.group(1) == "1" else int(match.group(1))
            if major >= 17:
                return java
            raise MissingToolError(
                f"the stack's JVMs need Java 17+, {java} is Java {major}: apt-get install {JAVA_PACKAGE}"
            )
    raise MissingToolError(
        f"Java 17+ is not installed (Kafka needs it): apt-get install {JAVA_PACKAGE} (or run scripts/install.sh)"
    )


@dataclass(frozen=True)
class JarSet:
    """Jars fetched with Maven from a pom of pulse/resources/maven into ~/.cache/pulse/<folder> (or $<env>)."""

    title: str  # for messages: "Kafka 4.1.1 jars"
    module: str  # the module whose command line fetches them: python -m <module> fetch
    pom: str
    artifact: str  # group:artifact:version that the pom resolves
    expect: str  # a jar file that must arrive, or the fetch failed
    required: tuple[str, ...]  # artifact ids that make the set complete
    env: str
    folder: str
    size: str
    properties: dict[str, str] = field(default_factory=dict)
    only_required: bool = False  # copy just the required artifacts (the rest is on the classpath already)

    def directory(self) -> Path:
        """Where the jars live: $<env>, else ~/.cache/pulse/<folder> (XDG_CACHE_HOME honoured)."""
        override = os.environ.get(self.env)
        if override:
            return Path(override).expanduser().resolve()
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return (cache / "pulse" / self.folder).resolve()

    def missing(self, lib: Path | None = None) -> list[str]:
        """The required artifact ids without a jar in `lib`."""
        names = [jar.name for jar in (lib or self.directory()).glob("*.jar")]
        return [a for a in self.required if not any(name.startswith(f"{a}-") for name in names)]

    def jars(self, lib: Path | None = None) -> list[Path]:
        """The jars of a complete set, or a MissingToolError saying how to fetch them."""
        lib = lib or self.directory()
        missing = self.missing(lib)
        if missing:
            raise MissingToolError(
                f"{self.title} are missing in {lib} ({', '.join(missing)}): run `bash scripts/install.sh`"
                f" or `python -m {self.module} fetch` (Maven, once)"
            )
        return sorted(lib.glob("*.jar"))

    def fetch(self, lib: Path | None = None, progress: Progress | None = None) -> Path:
        """Download the set with Maven into `lib` (once); return `lib`."""
        lib = lib or self.directory()
        if not self.missing(lib):
            return lib
        find_java()
        say(progress, f"fetching {self.artifact} with Maven into {lib} (once, {self.size})")
        return maven.copy_dependencies(
            self.pom, lib, what=self.artifact, expect=self.expect, properties=self.properties,
            include=list(self.required) if self.only_required else None, ready=lambda d: not self.missing(d),
        )


def main(jar_set: JarSet, argv: list[str] | None = None) -> int:
    """`python -m <module> fetch|lib|jars`: fetch the jars (scripts/install.sh), print their folder, or list them."""
    parser = argparse.ArgumentParser(prog=f"python -m {jar_set.module}", description=f"{jar_set.title}: {main.__doc__}")
    parser.add_argument("command", choices=["fetch", "lib", "jars"],
                        help="fetch the jars, print their directory, or print them comma-separated")
    args = parser.parse_args(argv)
    lib = jar_set.directory()
    try:
        if args.command == "lib":
            print(lib)
        elif args.command == "jars":
            print(",".join(str(jar) for jar in jar_set.jars(lib)))
        elif not jar_set.missing(lib):
            print(f"{jar_set.title} already in {lib}")
        else:
            started = time.monotonic()
            jar_set.fetch(lib, progress=print)
            print(f"{jar_set.title} ready in {lib} ({time.monotonic() - started:.0f} s)")
    except (MissingToolError, TerminalError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
