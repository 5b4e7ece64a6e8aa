"""Build step of the browser tracker: minify pulse-tracker.js with terser into pulse-tracker.min.js.

Run `python -m pulse.collect.tracker` after editing the tracker (`--check` only compares).
`scripts/install.sh` installs terser (npm) under `.venv/tools`; PULSE_TERSER names another binary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from pulse.errors import TerminalError

STATIC_DIR = Path(__file__).parent / "static"
SOURCE = STATIC_DIR / "pulse-tracker.js"
MINIFIED = STATIC_DIR / "pulse-tracker.min.js"
MAX_MINIFIED_BYTES = 5 * 1024
TERSER_ARGS = ("--ecma", "2017", "--compress", "passes=2", "--mangle", "--comments", "/^!/")


def find_terser() -> str:
    """The terser binary: PULSE_TERSER, the repo's .venv/tools, or PATH."""
    candidates = [os.environ.get("PULSE_TERSER", ""),
                  str(Path(sys.prefix) / "tools" / "node_modules" / ".bin" / "terser"),
                  shutil.which("terser") or ""]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    raise TerminalError("terser is not installed: `bash scripts/install.sh` installs it under .venv/tools")


def minify(source: Path = SOURCE) -> bytes:
    """The minified tracker, as terser makes it (deterministic for the same terser version)."""
    result = subprocess.run([find_terser(), str(source), *TERSER_ARGS], capture_output=True, check=False,
                            timeout=60)
    if result.returncode != 0:
        raise TerminalError(f"terser failed on {source}: {result.stderr.decode(errors='replace')[-2000:]}")
    return result.stdout


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) the minified tracker; fail when it passes the size budget."""
    args = sys.argv[1:] if argv is None else argv
    built = minify()
    if len(built) > MAX_MINIFIED_BYTES:
        print(f"the minified tracker is {len(built)} bytes > budget {MAX_MINIFIED_BYTES}", file=sys.stderr)
        return 1
    if "--check" in args:
        if not MINIFIED.is_file() or MINIFIED.read_bytes() != built:
            print(f"{MINIFIED.name} is stale: run python -m pulse.collect.tracker", file=sys.stderr)
            return 1
        return 0
    MINIFIED.write_bytes(built)
    print(f"wrote {MINIFIED} ({len(built)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
