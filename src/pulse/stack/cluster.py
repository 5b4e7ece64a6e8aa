"""The local PostgreSQL cluster (the machine's server binaries, a data dir of ours): create, start, stop."""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg

from pulse.errors import MissingToolError, TerminalError
from pulse.settings import Settings
from pulse.stack.credentials import Target, parse_target
from pulse.stack.files import write_private
from pulse.stack.proc import Progress, port_open, say, tail
from pulse.stack.roles import SUPERUSER, provision_roles

INSTALL_HINT = "apt-get install postgresql (or run scripts/install.sh)"
SERVER_ROOT = Path("/usr/lib/postgresql")  # Debian: one bin/ per installed major version
SERVICE_OS_USER = "postgres"  # PostgreSQL will not run as root: as root, the cluster runs as this user
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class ClusterFiles:
    """Files of the local cluster. `root` is $PULSE_HOME/postgres unless the postgres OS user
    cannot reach it (root running with PULSE_HOME under a private directory such as /root)."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"


def cluster_files(settings: Settings) -> ClusterFiles:
    """Where the cluster lives for these settings (see ClusterFiles)."""
    home = settings.home.expanduser().resolve()
    preferred = home / "postgres"
    if not _runs_as_service_user() or preferred.exists() or _reachable_by_service_user(home):
        return ClusterFiles(preferred)
    # The postgres OS user cannot traverse to PULSE_HOME: keep the cluster in its own home instead,
    # one directory per PULSE_HOME, rather than loosening the permissions of the user's directories.
    key = hashlib.sha256(str(home).encode()).hexdigest()[:12]
    return ClusterFiles(Path(pwd.getpwnam(SERVICE_OS_USER).pw_dir) / "pulse" / key)


# --- binaries --------------------------------------------------------------------------------


def server_bindir(major: int | None = None) -> Path:
    """bin/ of the newest installed PostgreSQL server (or of `major`); MissingToolError if none."""
    found: dict[int, Path] = {}
    if SERVER_ROOT.is_dir():
        for candidate in SERVER_ROOT.iterdir():
            if candidate.name.isdigit() and _has_server(candidate / "bin"):
                found[int(candidate.name)] = candidate / "bin"
    pg_ctl = shutil.which("pg_ctl")  # other layouts: server binaries on PATH
    if not found and pg_ctl and _has_server(Path(pg_ctl).parent):
        version = subprocess.run([pg_ctl, "--version"], capture_output=True, text=True, check=False).stdout
        match = re.search(r"(\d+)", version)
        found[int(match.group(1)) if match else 0] = Path(pg_ctl).parent
    if major is not None:
        if major not in found:
            raise MissingToolError(
                f"the cluster was created by PostgreSQL {major}, which is no longer installed: "
                f"apt-get install postgresql-{major}"
            )
        return found[major]
    if not found:
        raise MissingToolError(f"the PostgreSQL server is not installed: {INSTALL_HINT}")
    return found[max(found)]


def _has_server(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in ("postgres", "initdb", "pg_ctl"))


def _cluster_bindir(files: ClusterFiles) -> Path:
    """Binaries matching the cluster's PG_VERSION (a newer major cannot start an older cluster)."""
    try:
        major = int((files.data / "PG_VERSION").read_text().strip())
    except (OSError, ValueError):
        return server_bindir()
    return server_bindir(major)


# --- lifecycle -------------------------------------------------------------------------------


def postgres_is_up(settings: Settings) -> bool:
    """True when this stack's cluster is running."""
    files = cluster_files(settings)
    if not (files.data / "PG_VERSION").exists():
        return False
    pg_ctl = str(_cluster_bindir(files) / "pg_ctl")
    return _run_as_service_user([pg_ctl, "status", "-D", str(files.data)], files).returncode == 0


def start_postgres(settings: Settings, progress: Progress | None = None) -> None:
    """Create the cluster if needed, start it if stopped, and make sure pulse's roles and database exist."""
    target = parse_target(settings)
    files = cluster_files(settings)
    if not (files.data / "PG_VERSION").exists():
        say(progress, f"creating a PostgreSQL cluster in {files.data}")
        _init_cluster(files)
        home = settings.home.expanduser().resolve()
        if not files.root.is_relative_to(home):  # says whose cluster this is, for cleaning up by hand
            write_private(files.root / "PULSE_HOME", f"{home}\n")
    if not postgres_is_up(settings):
        if port_open(target.host, target.port):
            raise TerminalError(
                f"{target.host}:{target.port} is already in use by another program (not this stack's "
                f"PostgreSQL in {files.data}): stop it, or set PULSE_DATABASE_URL to a free port"
            )
        _write_config(files, target)
        say(progress, f"starting PostgreSQL on {target.host}:{target.port}")
        _pg_ctl(files, "start", "-w", "-t", str(START_TIMEOUT_S), "-l", str(files.log))
    with superuser(settings) as admin:
        provision_roles(settings, admin)


def stop_postgres(settings: Settings) -> bool:
    """Stop the cluster (fast shutdown: open sessions are rolled back). False if it was not running."""
    if not postgres_is_up(settings):
        return False
    _pg_ctl(cluster_files(settings), "stop", "-m", "fast", "-w", "-t", str(START_TIMEOUT_S))
    return True


def restart_postgres(settings: Settings) -> None:
    """Restart the running cluster (fast shutdown): for tests of reconnecting clients."""
    files = cluster_files(settings)
    _write_config(files, parse_target(settings))
    _pg_ctl(files, "restart", "-m", "fast", "-w", "-t", str(START_TIMEOUT_S), "-l", str(files.log))


def superuser(settings: Settings) -> psycopg.Connection:
    """The bootstrap superuser's autocommit session over the cluster's unix socket (peer authentication)."""
    return psycopg.connect(
        host=str(cluster_files(settings).socket_dir), port=parse_target(settings).port, user=SUPERUSER,
        dbname="postgres", autocommit=True,
    )


def log_tail(settings: Settings, lines: int = 30) -> str:
    """The last lines of the server log (empty when there is none or it cannot be read)."""
    return tail(cluster_files(settings).log, lines)


# --- internals -------------------------------------------------------------------------------


def _runs_as_service_user() -> bool:
    """As root, the cluster runs as the `postgres` OS user; otherwise as the current user."""
    return os.geteuid() == 0


def _reachable_by_service_user(path: Path) -> bool:
    """True when the postgres OS user can traverse every directory down to `path`."""
    entry = pwd.getpwnam(SERVICE_OS_USER)
    groups = {entry.pw_gid, *os.getgrouplist(SERVICE_OS_USER, entry.pw_gid)}
    current = path
    while not current.exists():
        current = current.parent
    for directory in (current, *current.parents):
        info = directory.stat()
        if info.st_uid == entry.pw_uid:
            ok = info.st_mode & 0o100
        elif info.st_gid in groups:
            ok = info.st_mode & 0o010
        else:
            ok = info.st_mode & 0o001
        if not ok:
            return False
    return True


def _prepare_dir(path: Path, files: ClusterFiles) -> None:
    """Create `path` (mode 0700) owned by whoever runs the server."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    if _runs_as_service_user():
        entry = pwd.getpwnam(SERVICE_OS_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _run_as_service_user(command: list[str], files: ClusterFiles) -> subprocess.CompletedProcess[str]:
    if _runs_as_service_user():
        command = ["runuser", "-u", SERVICE_OS_USER, "--", *command]
    # cwd: initdb and pg_ctl fail when they cannot read the current directory (e.g. /root as postgres).
    cwd = files.root if files.root.exists() else "/"
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False,
                          env={**os.environ, "LC_ALL": "C.UTF-8"})  # fmt: skip


def _pg_ctl(files: ClusterFiles, *args: str) -> None:
    done = _run_as_service_user([str(_cluster_bindir(files) / "pg_ctl"), "-D", str(files.data), *args], files)
    if done.returncode != 0:
        log = tail(files.log)
        raise TerminalError(
            f"pg_ctl {args[0]} failed for {files.data}:\n{(done.stdout + done.stderr).strip()}\n"
            f"last lines of {files.log}:\n{log}"
        )


def _init_cluster(files: ClusterFiles) -> None:
    _prepare_dir(files.root, files)
    if _runs_as_service_user() and not _reachable_by_service_user(files.root.parent):
        raise TerminalError(
            f"the {SERVICE_OS_USER} OS user cannot reach {files.root.parent} (a private directory in the "
            "path?): set PULSE_HOME to a directory it can traverse"
        )
    _prepare_dir(files.socket_dir, files)
    if files.data.exists() and not any(files.data.iterdir()):
        files.data.rmdir()
    done = _run_as_service_user(
        [str(server_bindir() / "initdb"), "-D", str(files.data), "-U", SUPERUSER, "--encoding=UTF8",
         "--locale=C.UTF-8", "--auth-local=peer", "--auth-host=scram-sha-256", "--no-instructions"],
        files,
    )  # fmt: skip
    if done.returncode != 0:
        raise TerminalError(f"initdb failed for {files.data}:\n{(done.stdout + done.stderr).strip()}")
    with (files.data / "postgresql.conf").open("a") as conf:
        conf.write("\n# pulse: settings of the local stack, rewritten on every start\ninclude 'pulse.conf'\n")


def _write_config(files: ClusterFiles, target: Target) -> None:
    """Listen address, port, socket dir and authentication, from the current settings."""
    _prepare_dir(files.socket_dir, files)
    listen = "localhost" if target.host == "localhost" else target.host
    _write_owned(files.data / "pulse.conf", f"""\
# Generated by pulse (pulse.stack.cluster) on every start: edit the settings, not this file.
listen_addresses = '{listen}'
port = {target.port}
unix_socket_directories = '{files.socket_dir}'
unix_socket_permissions = 0700
password_encryption = scram-sha-256
max_connections = 100
""", files)  # fmt: skip
    _write_owned(files.data / "pg_hba.conf", f"""\
# Generated by pulse: the bootstrap superuser only over the unix socket, as the OS user that runs pulse;
# every other role over TCP with a SCRAM password (kept in $PULSE_HOME/pgpass).
local   all   {SUPERUSER}   peer map=pulse_admin
host    all   all   127.0.0.1/32   scram-sha-256
host    all   all   ::1/128        scram-sha-256
""", files)  # fmt: skip
    admins = sorted({pwd.getpwuid(os.geteuid()).pw_name, SERVICE_OS_USER})
    ident = "".join(f"pulse_admin   {name}   {SUPERUSER}\n" for name in admins)
    _write_owned(files.data / "pg_ident.conf", f"# Generated by pulse.\n{ident}", files)


def _write_owned(path: Path, text: str, files: ClusterFiles) -> None:
    path.write_text(text)
    path.chmod(0o600)
    if _runs_as_service_user():
        entry = pwd.getpwnam(SERVICE_OS_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)
