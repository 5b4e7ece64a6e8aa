"""Fetching jars with Maven (`dependency:copy-dependencies` on a pom of pulse/resources/maven), once, atomically."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from pulse.errors import MissingToolError, TerminalError
from pulse.resources import resource_path


def copy_dependencies(
    pom: str, lib: Path, *, what: str, expect: str, properties: dict[str, str],
    include: list[str] | None = None, ready: Callable[[Path], bool] | None = None,
) -> Path:
    """Copy the runtime dependencies of the packaged `pom` into `lib`; return `lib`.

    `what` names the artifact in messages; `expect` is a jar file name that must arrive, or the fetch
    failed; `include` limits the copy to these artifact ids; `ready(lib)` tells that another fetch
    finished first. The jars are staged next to `lib` and renamed at the end, so a cut-off download
    never looks complete.
    """
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MissingToolError(
            f"Maven (mvn) is needed once to fetch {what}: apt-get install maven (or run scripts/install.sh)"
        )
    lib.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=lib.parent) as work:
        pom_file = Path(work) / "pom.xml"
        pom_file.write_bytes(resource_path("maven", pom).read_bytes())
        staging = Path(work) / "jars"
        command = [
            mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(pom_file),
            "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={staging}",
            *([f"-DincludeArtifactIds={','.join(include)}"] if include else []),
            *(f"-D{name}={value}" for name, value in properties.items()),
        ]  # fmt: skip
        done = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not (staging / expect).exists():
            output = (done.stdout + done.stderr).strip().splitlines()
            raise TerminalError(f"Maven could not fetch {what} (exit {done.returncode}):\n" + "\n".join(output[-25:]))
        if ready is not None and ready(lib):
            return lib
        if lib.exists():
            shutil.rmtree(lib)
        staging.rename(lib)
    return lib
