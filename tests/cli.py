"""Running the real `pulse` command line as an operator would, and what its refusals must look like."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping


def run_pulse(env: Mapping[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`pulse ARGS` in a subprocess with exactly the PULSE_* variables in `env` (the caller's are dropped)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_") and k != "PGPASSFILE"}
    return subprocess.run([sys.executable, "-m", "pulse.cli", *args], env={**clean, **env}, capture_output=True,
                          text=True, timeout=timeout, check=False)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *names: str) -> str:
    """Exit status 2, nothing on stdout, one `error: ...` line on stderr naming each of `names`, no traceback;
    returns the line."""
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stdout == "", result.stdout
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]
