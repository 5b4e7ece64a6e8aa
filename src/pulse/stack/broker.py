"""The local Kafka broker (KRaft, one combined broker+controller): its files and config, start, wait, stop."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import subprocess
import time
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from pathlib import Path

from pulse.errors import TerminalError
from pulse.settings import Settings
from pulse.stack.files import PRIVATE_UMASK, make_private, open_private_append, private_dir, write_private
from pulse.stack.java import find_java
from pulse.stack.kafka import ensure_jars, jars_version
from pulse.stack.proc import Progress, free_port, port_open, rotate, say, signal_group, tail
from pulse.stack.topics import bootstrap_address, metadata_probe

BROKER_MAIN = "kafka.Kafka"
STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"
HEAP_OPTS = ("-Xms256m", "-Xmx512m")
JVM_OPTS = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0

_log = logging.getLogger(__name__)
# Brokers started by this process: polled so an exited broker is reaped instead of left a zombie.
_children: dict[int, tuple[subprocess.Popen[bytes], Path]] = {}  # brokers started here -> their config


@dataclass(frozen=True)
class BrokerFiles:
    """Files of the local broker under $PULSE_HOME/kafka (see broker_files)."""

    root: Path
    config: Path  # server.properties, written on every start
    log4j: Path
    data: Path  # log.dirs: the topics' segments
    log: Path
    pid: Path
    state: Path  # cluster id and controller port, chosen once


def broker_files(settings: Settings) -> BrokerFiles:
    """The broker's files for these settings (absolute paths)."""
    root = settings.home.expanduser().resolve() / "kafka"
    return BrokerFiles(root=root, config=root / "server.properties", log4j=root / "log4j2.properties",
                       data=root / "data", log=root / "broker.log", pid=root / "broker.pid",
                       state=root / "cluster.json")


def broker_pid(settings: Settings) -> int | None:
    """Pid of this stack's running broker (pid file first, then a /proc scan), or None."""
    files = broker_files(settings)
    try:
        pid = int(files.pid.read_text().strip())
    except (OSError, ValueError):
        pid = 0
    if pid and _is_our_broker(pid, files):
        return pid
    files.pid.unlink(missing_ok=True)  # stale: the broker is gone or the pid was reused
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _is_our_broker(int(entry.name), files):
            with contextlib.suppress(OSError):
                write_private(files.pid, f"{entry.name}\n")
            return int(entry.name)
    return None


def kafka_is_up(settings: Settings) -> bool:
    """True when this stack's broker runs and its client port accepts connections."""
    return broker_pid(settings) is not None and port_open(*bootstrap_address(settings))


def start_kafka(settings: Settings, progress: Progress | None = None, wait: bool = True) -> int:
    """Start the broker unless it runs; with `wait`, wait until it serves metadata. Return its pid."""
    files = broker_files(settings)
    host, port = bootstrap_address(settings)
    pid = broker_pid(settings)
    if pid is not None:
        if wait:
            _wait_until_ready(settings, pid)
        return pid
    if port_open(host, port):
        raise TerminalError(
            f"{host}:{port} is already in use by another program (not this stack's broker under "
            f"{files.root}): stop it, or set PULSE_KAFKA_BOOTSTRAP to a free port"
        )
    java = find_java()
    lib = ensure_jars(progress)
    private_dir(files.root)
    make_private(files.root)  # segment files of a stack started before pulse kept them private
    cluster_id, controller_port = _cluster_identity(files, host, port)
    write_private(files.config, _server_properties(settings, files, host, port, controller_port))
    write_private(files.log4j, _log4j_properties())
    if not (files.data / "meta.properties").exists():
        say(progress, f"formatting Kafka storage in {files.data}")
        _format_storage(java, lib, files, cluster_id)
    rotate(files.log)
    say(progress, f"starting Kafka {jars_version(lib)} on {host}:{port}")
    with os.fdopen(open_private_append(files.log), "ab") as log:
        log.write(f"--- pulse: starting the broker at {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode())
        log.flush()
        child = subprocess.Popen(
            [java, *HEAP_OPTS, *JVM_OPTS, f"-Dlog4j2.configurationFile={files.log4j}",
             "-cp", f"{lib}/*", BROKER_MAIN, str(files.config)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=files.root, start_new_session=True, umask=PRIVATE_UMASK,  # segments and logs: owner only
        )  # fmt: skip
    _children[child.pid] = (child, files.config)
    write_private(files.pid, f"{child.pid}\n")
    if wait:
        _wait_until_ready(settings, child.pid)
    return child.pid


def wait_for_kafka(settings: Settings, timeout: float = READY_TIMEOUT_S) -> None:
    """Wait until this stack's broker answers a metadata request; TerminalError with its log if not."""
    pid = broker_pid(settings)
    if pid is None:
        files = broker_files(settings)
        raise TerminalError(f"the Kafka broker is not running; end of {files.log}:\n{tail(files.log)}")
    _wait_until_ready(settings, pid, timeout)


def stop_kafka(settings: Settings, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop the broker: SIGTERM its process group, SIGKILL after `timeout`. False if it was not running."""
    files = broker_files(settings)
    pid = broker_pid(settings)
    if pid is None:
        return False
    signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _is_our_broker(pid, files) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _is_our_broker(pid, files):
        _log.warning("Kafka broker %s did not stop within %.0f s: killing it", pid, timeout)
        signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _is_our_broker(pid, files):
            if time.monotonic() > deadline:
                raise TerminalError(f"the Kafka broker (pid {pid}) survived SIGKILL")
            time.sleep(0.1)
    files.pid.unlink(missing_ok=True)
    return True



def log_tail(settings: Settings, lines: int = 30) -> str:
    """The last lines of the broker log (empty when there is none)."""
    return tail(broker_files(settings).log, lines)


# --- internals -------------------------------------------------------------------------------


def _is_our_broker(pid: int, files: BrokerFiles) -> bool:
    """True when `pid` is a live (not zombie) JVM running kafka.Kafka with this stack's config."""
    started = _children.get(pid)
    if started is not None:  # started here: between fork and exec its cmdline is not yet java's
        child, config = started
        if child.poll() is None:
            return config == files.config  # this process may run several stacks (the tests do)
        del _children[pid]
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and BROKER_MAIN.encode() in cmdline and str(files.config).encode() in cmdline


def _wait_until_ready(settings: Settings, pid: int, timeout: float = READY_TIMEOUT_S) -> None:
    """Wait until the broker answers a metadata request; on death or timeout show its log."""
    files = broker_files(settings)
    host, port = bootstrap_address(settings)
    deadline = time.monotonic() + timeout
    answers = metadata_probe(settings)
    while time.monotonic() < deadline:
        if not _is_our_broker(pid, files):
            raise TerminalError(
                f"the Kafka broker exited during startup; last lines of {files.log}:\n{tail(files.log)}"
            )
        if port_open(host, port) and answers():
            return
        time.sleep(0.25)
    raise TerminalError(
        f"the Kafka broker (pid {pid}) did not answer on {host}:{port} within {timeout:.0f} s; "
        f"last lines of {files.log}:\n{tail(files.log)}"
    )


def _cluster_identity(files: BrokerFiles, host: str, client_port: int) -> tuple[str, int]:
    """Cluster id (fixed once) and controller port (re-chosen only if the old one is taken)."""
    try:
        state = json.loads(files.state.read_text())
    except (OSError, ValueError):
        state = {}
    cluster_id = state.get("cluster_id") or _new_cluster_id()
    controller_port = int(state.get("controller_port") or 0)
    if not controller_port or controller_port == client_port or port_open(host, controller_port):
        controller_port = free_port(host)
        while controller_port == client_port:
            controller_port = free_port(host)
    write_private(files.state, json.dumps({"cluster_id": cluster_id, "controller_port": controller_port}) + "\n")
    return cluster_id, controller_port


def _new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes in URL-safe base64, unpadded (as `kafka-storage random-uuid`)."""
    while True:
        cluster_id = urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _server_properties(settings: Settings, files: BrokerFiles, host: str, port: int, controller: int) -> str:
    listener_host = f"[{host}]" if ":" in host else host
    return f"""\
# Generated by pulse (pulse.stack.broker) on every start: edit the settings, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{listener_host}:{controller}
listeners=PLAINTEXT://{listener_host}:{port},CONTROLLER://{listener_host}:{controller}
advertised.listeners=PLAINTEXT://{listener_host}:{port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs={files.data}
num.partitions={settings.topic_partitions}
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
"""


def _log4j_properties() -> str:
    return """\
# Generated by pulse: the broker logs to stdout, which pulse sends to broker.log.
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def _format_storage(java: str, lib: Path, files: BrokerFiles, cluster_id: str) -> None:
    done = subprocess.run(
        [java, f"-Dlog4j2.configurationFile={files.log4j}", "-cp", f"{lib}/*", STORAGE_TOOL_MAIN,
         "format", "--cluster-id", cluster_id, "--config", str(files.config), "--ignore-formatted"],
        capture_output=True, text=True, check=False, umask=PRIVATE_UMASK,
    )  # fmt: skip
    if done.returncode != 0:
        raise TerminalError(f"formatting Kafka storage in {files.data} failed:\n{done.stdout}{done.stderr}")


