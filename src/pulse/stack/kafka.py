"""Local Apache Kafka broker (KRaft, one combined broker+controller): jars via Maven, format, start, stop."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from base64 import urlsafe_b64encode
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from pulse.errors import ConfigError, MissingToolError, TerminalError
from pulse.ops.logging import LIBRDKAFKA_LOG
from pulse.settings import Settings
from pulse.stack import maven
from pulse.stack.files import PRIVATE_UMASK, make_private, open_private_append, private_dir, write_private

Progress = Callable[[str], None]

KAFKA_VERSION = "4.1.1"
BROKER_MAIN = "kafka.Kafka"
STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"
JAVA_PACKAGE = "openjdk-17-jre-headless"
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
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}

_log = logging.getLogger(__name__)
# Brokers started by this process: polled so an exited broker is reaped instead of left a zombie.
_children: dict[int, tuple[subprocess.Popen[bytes], Path]] = {}  # brokers started here -> their config


# --- jars ------------------------------------------------------------------------------------


def kafka_lib_dir(version: str = KAFKA_VERSION) -> Path:
    """Where the broker jars live: $PULSE_KAFKA_LIB, else ~/.cache/pulse/kafka-<version>/lib."""
    override = os.environ.get("PULSE_KAFKA_LIB")
    if override:
        return Path(override).expanduser().resolve()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return (cache / "pulse" / f"kafka-{version}" / "lib").resolve()


def jars_present(lib: Path) -> bool:
    """True when `lib` holds a Kafka broker runtime (the core jar and the clients jar)."""
    return any(lib.glob("kafka_2.13-*.jar")) and any(lib.glob("kafka-clients-*.jar"))


def fetch_jars(version: str = KAFKA_VERSION, lib: Path | None = None, progress: Progress | None = None) -> Path:
    """Download kafka_2.13 and its runtime dependencies with Maven into `lib` (once); return `lib`."""
    lib = lib or kafka_lib_dir(version)
    if jars_present(lib):
        return lib
    find_java()
    _say(progress, f"fetching Kafka {version} jars with Maven into {lib} (once, about 45 MB)")
    return maven.copy_dependencies(
        "kafka-pom.xml", lib, what=f"org.apache.kafka:kafka_2.13:{version}", expect=f"kafka_2.13-{version}.jar",
        properties={"kafka.version": version}, ready=jars_present,
    )


def ensure_jars(progress: Progress | None = None) -> Path:
    """The jar directory, fetched first (with a message) when it is missing."""
    lib = kafka_lib_dir()
    if not jars_present(lib):
        _say(progress, f"Kafka jars not found in {lib}")
        fetch_jars(lib=lib, progress=progress)
    return lib


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
                f"Kafka {KAFKA_VERSION} needs Java 17+, {java} is Java {major}: apt-get install {JAVA_PACKAGE}"
            )
    raise MissingToolError(
        f"Java 17+ is not installed (Kafka needs it): apt-get install {JAVA_PACKAGE} (or run scripts/install.sh)"
    )


# --- where the broker keeps its files --------------------------------------------------------


@dataclass(frozen=True)
class BrokerFiles:
    """Files of the local broker under $PULSE_HOME/kafka."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "server.properties"

    @property
    def log4j(self) -> Path:
        return self.root / "log4j2.properties"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "broker.log"

    @property
    def pid(self) -> Path:
        return self.root / "broker.pid"

    @property
    def state(self) -> Path:
        """Cluster id and controller port, chosen once."""
        return self.root / "cluster.json"


def broker_files(settings: Settings) -> BrokerFiles:
    """The broker's files for these settings (absolute paths)."""
    return BrokerFiles(settings.home.expanduser().resolve() / "kafka")


def bootstrap_address(settings: Settings) -> tuple[str, int]:
    """Host and port of the local broker's client listener, from settings.kafka_bootstrap."""
    first = settings.kafka_bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    host = host.strip("[]")
    if host not in LOCAL_HOSTS or not port.isdigit():
        raise ConfigError(
            f"the local stack runs Kafka on this machine, but PULSE_KAFKA_BOOTSTRAP is {first!r}: use 127.0.0.1:<port>"
        )
    return ("127.0.0.1" if host == "localhost" else host), int(port)


# --- lifecycle -------------------------------------------------------------------------------


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
    return broker_pid(settings) is not None and _port_open(*bootstrap_address(settings))


def start_kafka(settings: Settings, progress: Progress | None = None, wait: bool = True) -> int:
    """Start the broker unless it runs; with `wait`, wait until it serves metadata. Return its pid."""
    files = broker_files(settings)
    host, port = bootstrap_address(settings)
    pid = broker_pid(settings)
    if pid is not None:
        if wait:
            _wait_until_ready(settings, pid)
        return pid
    if _port_open(host, port):
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
        _say(progress, f"formatting Kafka storage in {files.data}")
        _format_storage(java, lib, files, cluster_id)
    _rotate(files.log)
    _say(progress, f"starting Kafka {_lib_version(lib)} on {host}:{port}")
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
        raise TerminalError(f"the Kafka broker is not running; end of {files.log}:\n{_tail(files.log)}")
    _wait_until_ready(settings, pid, timeout)


def stop_kafka(settings: Settings, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop the broker: SIGTERM its process group, SIGKILL after `timeout`. False if it was not running."""
    files = broker_files(settings)
    pid = broker_pid(settings)
    if pid is None:
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _is_our_broker(pid, files) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _is_our_broker(pid, files):
        _log.warning("Kafka broker %s did not stop within %.0f s: killing it", pid, timeout)
        _signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _is_our_broker(pid, files):
            if time.monotonic() > deadline:
                raise TerminalError(f"the Kafka broker (pid {pid}) survived SIGKILL")
            time.sleep(0.1)
    files.pid.unlink(missing_ok=True)
    return True


def ensure_topic(settings: Settings, progress: Progress | None = None, timeout: float = 30.0) -> int:
    """Create settings.topic with settings.topic_partitions partitions if missing; return its partitions.

    An existing topic is left as it is, whatever its partition count.
    """
    admin = _admin(settings)
    partitions = topic_partitions(settings, admin=admin)
    if partitions is None:
        _say(progress, f"creating topic {settings.topic!r} with {settings.topic_partitions} partitions")
        new = NewTopic(settings.topic, num_partitions=settings.topic_partitions, replication_factor=1)
        try:
            admin.create_topics([new], operation_timeout=timeout)[settings.topic].result(timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise TerminalError(f"could not create topic {settings.topic!r}: {exc}") from exc
    # Creation returns before every partition has a leader; producers want leaders.
    deadline = time.monotonic() + timeout
    while True:
        metadata = admin.list_topics(topic=settings.topic, timeout=5)
        topic = metadata.topics.get(settings.topic)
        if (
            topic is not None
            and topic.error is None
            and topic.partitions
            and all(p.leader >= 0 for p in topic.partitions.values())
        ):
            return len(topic.partitions)
        if time.monotonic() > deadline:
            raise TerminalError(f"topic {settings.topic!r} has no leaders after {timeout:.0f} s")
        time.sleep(0.2)


def topic_partitions(settings: Settings, admin: AdminClient | None = None) -> int | None:
    """Partition count of settings.topic, or None when the topic does not exist."""
    metadata = (admin or _admin(settings)).list_topics(timeout=10)
    topic = metadata.topics.get(settings.topic)
    if topic is None or topic.error is not None:
        return None
    return len(topic.partitions)


def log_tail(settings: Settings, lines: int = 30) -> str:
    """The last lines of the broker log (empty when there is none)."""
    return _tail(broker_files(settings).log, lines)


# --- internals -------------------------------------------------------------------------------


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


def _admin(settings: Settings) -> AdminClient:
    host, port = bootstrap_address(settings)
    # librdkafka reports every refused connection while the broker boots: DEBUG, not the terminal.
    return AdminClient({"bootstrap.servers": f"{host}:{port}"}, logger=LIBRDKAFKA_LOG)


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


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


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_until_ready(settings: Settings, pid: int, timeout: float = READY_TIMEOUT_S) -> None:
    """Wait until the broker answers a metadata request; on death or timeout show its log."""
    files = broker_files(settings)
    host, port = bootstrap_address(settings)
    deadline = time.monotonic() + timeout
    admin: AdminClient | None = None
    while time.monotonic() < deadline:
        if not _is_our_broker(pid, files):
            raise TerminalError(
                f"the Kafka broker exited during startup; last lines of {files.log}:\n{_tail(files.log)}"
            )
        if _port_open(host, port):
            admin = admin or _admin(settings)
            try:
                if admin.list_topics(timeout=2).brokers:
                    return
            except KafkaException:
                pass
        time.sleep(0.25)
    raise TerminalError(
        f"the Kafka broker (pid {pid}) did not answer on {host}:{port} within {timeout:.0f} s; "
        f"last lines of {files.log}:\n{_tail(files.log)}"
    )


def _cluster_identity(files: BrokerFiles, host: str, client_port: int) -> tuple[str, int]:
    """Cluster id (fixed once) and controller port (re-chosen only if the old one is taken)."""
    try:
        state = json.loads(files.state.read_text())
    except (OSError, ValueError):
        state = {}
    cluster_id = state.get("cluster_id") or _new_cluster_id()
    controller_port = int(state.get("controller_port") or 0)
    if not controller_port or controller_port == client_port or _port_open(host, controller_port):
        controller_port = _free_port(host)
        while controller_port == client_port:
            controller_port = _free_port(host)
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
# Generated by pulse (pulse.stack.kafka) on every start: edit the settings, not this file.
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


def _lib_version(lib: Path) -> str:
    for jar in lib.glob("kafka_2.13-*.jar"):
        return jar.stem.removeprefix("kafka_2.13-")
    return "?"


def _rotate(log: Path, max_bytes: int = 50_000_000) -> None:
    if log.exists() and log.stat().st_size > max_bytes:
        log.replace(log.with_name(log.name + ".1"))


def _tail(path: Path, lines: int = 30) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64_000))
            return "\n".join(handle.read().decode(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> int:
    """`python -m pulse.stack.kafka fetch|lib`: fetch the broker jars (used by scripts/install.sh)."""
    parser = argparse.ArgumentParser(prog="python -m pulse.stack.kafka", description=main.__doc__)
    parser.add_argument("command", choices=["fetch", "lib"], help="fetch the jars, or print their directory")
    args = parser.parse_args(argv)
    lib = kafka_lib_dir()
    if args.command == "lib":
        print(lib)
        return 0
    try:
        if jars_present(lib):
            print(f"Kafka jars already in {lib}")
        else:
            started = time.monotonic()
            fetch_jars(lib=lib, progress=print)
            print(f"Kafka {KAFKA_VERSION} jars ready in {lib} ({time.monotonic() - started:.0f} s)")
    except (MissingToolError, TerminalError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
