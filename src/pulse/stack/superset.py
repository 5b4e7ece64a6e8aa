"""A local Apache Superset from .venv-superset: SQLite metadata in a folder of ours, one admin, gunicorn.

`scripts/install.sh` creates .venv-superset (deploy/superset/requirements.txt) next to pulse's own .venv;
this module initialises the metadata once (db upgrade, the admin user, roles and permissions) and serves
Superset on loopback with the config shipped in the package (resources/superset/superset_config.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from pulse.errors import MissingToolError, TerminalError
from pulse.resources import resource_path
from pulse.settings import Settings
from pulse.stack.proc import tail

# Next to the environment pulse runs in (the repository's .venv, whichever worktree links it).
VENV = Path(sys.prefix).resolve().parent / ".venv-superset"
CONFIG = resource_path("superset", "superset_config.py")
INSTALL_HINT = "run `bash scripts/install.sh` (it creates .venv-superset with the pinned Superset)"
INIT_STAMP = ".pulse-initialised"
METADATA_DB = "superset.db"  # the file name superset_config.py gives the SQLite database
TEMPLATE_NAME = "pulse-metadata-template.db"
STEP_TIMEOUT_S = 600
HEALTH_TIMEOUT_S = 180

Progress = Callable[[str], None]


def superset_program(name: str = "superset") -> Path:
    """A program of the Superset venv, or a MissingToolError saying how to install it."""
    program = VENV / "bin" / name
    if not program.is_file():
        raise MissingToolError(f"Superset is not installed ({program} is missing): {INSTALL_HINT}")
    return program


def superset_env(home: Path) -> dict[str, str]:
    """Environment of the Superset processes: our config, its home, no telemetry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_") and k != "PGPASSFILE"}
    env.update({
        "SUPERSET_CONFIG_PATH": str(CONFIG),
        "PULSE_SUPERSET_HOME": str(home),
        "FLASK_APP": "superset",
        "SCARF_ANALYTICS": "false",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _superset(home: Path, *args: str, answers: str | None = None) -> None:
    """Run one `superset` CLI command against `home` (answers go to its prompts); stop with its last lines."""
    result = subprocess.run([str(superset_program()), *args], env=superset_env(home), capture_output=True,
                            text=True, timeout=STEP_TIMEOUT_S, check=False, input=answers)
    if result.returncode != 0:
        last = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise TerminalError(f"`superset {' '.join(args[:2])}` failed:\n{last}")


def metadata_template(progress: Progress | None = None) -> Path:
    """A migrated metadata database with Superset's roles and no users, made once per installed Superset.

    Migrating and `superset init` take minutes on a busy machine; a new Superset home starts from a copy.
    """
    template = VENV / TEMPLATE_NAME
    if template.is_file():
        return template
    with tempfile.TemporaryDirectory(prefix="pulse-superset-template-") as scratch:
        home = Path(scratch)
        for message, args in (("migrating the metadata database", ("db", "upgrade")),
                              ("creating roles and permissions", ("init",))):
            if progress:
                progress(f"superset: {message} (once per install)")
            _superset(home, *args)
        partial = template.with_suffix(".partial")
        shutil.copyfile(home / METADATA_DB, partial)
        os.replace(partial, template)
    return template


def init_superset(home: Path, username: str, password: str, progress: Progress | None = None) -> None:
    """Give `home` a metadata database (a copy of the template) with an admin user (once per home)."""
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)  # the metadata holds password hashes and the (encrypted) warehouse password
    if (home / INIT_STAMP).exists():
        return
    shutil.copyfile(metadata_template(progress), home / METADATA_DB)
    if progress:
        progress(f"superset: creating the admin user {username!r}")
    _superset(home, "fab", "create-admin", "--username", username, "--firstname", "pulse", "--lastname", "admin",
              "--email", f"{username}@localhost", answers=f"{password}\n{password}\n")  # never on argv
    (home / INIT_STAMP).write_text("ok\n")


def start_superset(home: Path, host: str, port: int) -> subprocess.Popen[bytes]:
    """Serve Superset with gunicorn (one worker, threads) in the background; output goes to home/superset.log."""
    log = (home / "superset.log").open("ab")
    return subprocess.Popen(
        [str(superset_program("gunicorn")), "--bind", f"{host}:{port}", "--workers", "1", "--worker-class",
         "gthread", "--threads", "8", "--timeout", "120", "--limit-request-line", "0",
         "--limit-request-field_size", "0", "superset.app:create_app()"],
        env=superset_env(home), stdout=log, stderr=subprocess.STDOUT, cwd=home, start_new_session=True,
    )


def wait_healthy(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = HEALTH_TIMEOUT_S,
                 log: Path | None = None) -> None:
    """Wait until Superset answers /health with OK; stop early when its process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise TerminalError(f"Superset exited with status {process.returncode}{_log_lines(log)}")
        try:
            if httpx.get(f"{url.rstrip('/')}/health", timeout=5).text.strip() == "OK":
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    raise TerminalError(f"Superset did not answer {url}/health within {timeout:.0f} s{_log_lines(log)}")


def _log_lines(log: Path | None) -> str:
    lines = tail(log, 20) if log is not None else ""
    return f":\n{lines}" if lines else ""


def run_superset(
    settings: Settings, port: int, password: Callable[[], str], *, progress: Progress | None = None,
    ready: Callable[[str, Path], None] | None = None,
) -> None:
    """Serve a local Superset on 127.0.0.1:`port` until Ctrl-C (or until it exits), then stop its process group.

    Its home is $PULSE_HOME/superset; the first run creates the admin PULSE_SUPERSET_USERNAME with `password()`
    (asked only then). `ready(url, log)` is called once Superset answers /health.
    """
    home = settings.home.expanduser().resolve() / "superset"
    if not (home / INIT_STAMP).exists():
        init_superset(home, settings.superset_username, password(), progress)
    process = start_superset(home, "127.0.0.1", port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, log=home / "superset.log")
        if ready:
            ready(url, home / "superset.log")
        process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


if __name__ == "__main__":  # scripts/install.sh: python -m pulse.stack.superset template
    if sys.argv[1:] != ["template"]:
        sys.exit("usage: python -m pulse.stack.superset template")
    print(metadata_template(progress=print))
