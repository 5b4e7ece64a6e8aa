"""Drive the real engine in tests: a `pulse run` subprocess, its progress in the warehouse, the topic's end."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import TopicPartition

from pulse.settings import Settings
from pulse.sources import kafka
from pulse.warehouse.db import Access, connect
from pulse.warehouse.folding import database_now, folded_since
from pulse.warehouse.offsets import stored_offsets
from pulse.warehouse.quality import load_totals


class EngineProcess:
    """`pulse run ARGS` (or another long-running command: `pulse fold`) as a child process; its log (WARNING
    and up) goes to a temporary file, so a chatty engine can never block on a full pipe."""

    def __init__(self, env: dict[str, str], *args: str, command: str = "run") -> None:
        self._log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pulse.cli", "--log-level", "WARNING", command, *args],
            env=env, stdout=subprocess.DEVNULL, stderr=self._log,
        )

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def children(self, running: bytes = b"pulse.cli") -> list[int]:
        """Process ids of its children whose command line holds `running`, from /proc: by default the engines
        of `pulse run --processes N`; `spawn_main` finds its folder process (engines/folder_process.py)."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                command = (stat.parent / "cmdline").read_bytes()
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            if parent == self.process.pid and running in command:
                pids.append(int(stat.parent.name))
        return sorted(pids)

    def folder(self, timeout: float = 60) -> int:
        """The process id of its folder process, once it runs."""
        deadline = time.monotonic() + timeout
        while not (pids := self.children(b"spawn_main")):
            assert self.alive(), f"the engine exited: {self.log()[-2000:]}"
            assert time.monotonic() < deadline, f"no folder process after {timeout:.0f} s"
            time.sleep(0.1)
        return pids[0]

    def log(self) -> str:
        """Everything the engine logged so far."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def kill(self) -> None:
        """kill -9, and reap it."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def wait(self, timeout: float = 600) -> int:
        """Wait for the exit; return the exit code."""
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 120) -> str:
        """SIGTERM, expect a clean exit (0); return the log."""
        self.process.terminate()
        code = self.process.wait(timeout=timeout)
        assert code == 0, f"the engine exited with {code}: {self.log()[-2000:]}"
        return self.log()

    def __enter__(self) -> EngineProcess:
        return self

    def __exit__(self, *_: object) -> None:
        if self.alive():
            self.kill()
        self._log.close()


def events_loaded(settings: Settings) -> int:
    """Events the warehouse has committed so far (load_state)."""
    with connect(settings.database_url, access=Access.read) as conn:
        return load_totals(conn).loaded


def offsets_consumed(settings: Settings) -> int:
    """Sum over partitions of the next offset the warehouse recorded for the settings' consumer group."""
    with connect(settings.database_url, access=Access.read) as conn:
        return sum(stored_offsets(conn, settings.consumer_group, settings.topic).values())


def end_offsets(settings: Settings) -> int:
    """Sum over the topic's partitions of the high watermark (messages ever written)."""
    consumer = kafka.consumer(settings, group="offset-probe", client_id="pulse-offset-probe", quiet=True)
    try:
        meta = consumer.list_topics(settings.topic, timeout=10).topics[settings.topic]
        return sum(consumer.get_watermark_offsets(TopicPartition(settings.topic, p), timeout=10)[1]
                   for p in meta.partitions)
    finally:
        consumer.close()


def wait_until_loading(settings: Settings, engine: EngineProcess, timeout: float = 120) -> None:
    """Return once the engine committed its first events; fail if it exits or loads nothing in time."""
    deadline = time.monotonic() + timeout
    while events_loaded(settings) == 0:
        assert engine.alive(), f"the engine exited before loading: {engine.log()[-2000:]}"
        assert time.monotonic() < deadline, f"the engine loaded nothing in {timeout:.0f} s"
        time.sleep(0.3)


def wait_until_caught_up(settings: Settings, engine: EngineProcess, timeout: float = 600) -> None:
    """Return once the warehouse's offsets reach the end of every partition and the rollups hold every batch,
    the engine still running."""
    target = end_offsets(settings)
    deadline = time.monotonic() + timeout
    while offsets_consumed(settings) < target:
        assert engine.alive(), f"the engine exited before catching up: {engine.log()[-2000:]}"
        assert time.monotonic() < deadline, f"the engine did not reach the end of the topic in {timeout:.0f} s"
        time.sleep(0.3)
    wait_until_folded(settings, engine)


def wait_until_folded(settings: Settings, engine: EngineProcess | None = None, timeout: float = 120) -> None:
    """Return once every batch committed so far is in the rollups (the folder's `rollups_through` passed now)."""
    with connect(settings.database_url, access=Access.read, autocommit=True) as conn:
        moment = database_now(conn)
        deadline = time.monotonic() + timeout
        while not folded_since(conn, moment):
            assert engine is None or engine.alive(), f"the engine exited before folding: {engine.log()[-2000:]}"
            assert time.monotonic() < deadline, f"the rollups were not folded within {timeout:.0f} s"
            time.sleep(0.1)


def finish_engine(env: dict[str, str], idle_s: float = 5, timeout: float = 600) -> str:
    """Run `pulse run --until-idle` to the end of the topic; return its log (fails on a non-zero exit)."""
    with EngineProcess(env, "--until-idle", str(idle_s)) as final:
        code = final.wait(timeout)
        assert code == 0, final.log()[-2000:]
        return final.log()
