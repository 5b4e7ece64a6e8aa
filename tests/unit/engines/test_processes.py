"""The supervisor of `pulse run --processes N`, over real child processes that stand in for engines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from pulse.engines.processes import Supervisor, child_metrics_ports, validate_processes
from pulse.errors import ConfigError
from pulse.settings import Settings

# A stand-in engine: records its argv and the folder switch, then behaves as its instruction file says:
# "exit:N" -> exit N at once; "serve" -> run until SIGTERM, then exit 0.
CHILD = """
import json, os, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
log, plan = sys.argv[1], sys.argv[2]
with open(log, "a") as f:
    f.write(json.dumps({"argv": sys.argv[3:], "fold": os.environ.get("PULSE_FOLD_IN_ENGINE")}) + "\\n")
lines = open(plan).read().split()
runs = sum(1 for _ in open(log))
step = lines[min(runs, len(lines)) - 1]
if step.startswith("exit:"):
    sys.exit(int(step[5:]))
while True:
    time.sleep(0.05)
"""


FIRST_PORT = 9500  # the stand-ins tell which child they are by their metrics port (PORT+i)


def _supervisor(tmp_path: Path, plans: list[str], **options: object) -> tuple[Supervisor, list[Path]]:
    """A supervisor of len(plans) stand-ins; plan i is child i's behaviour at each of its starts."""
    logs = [tmp_path / f"child{i}.log" for i in range(len(plans))]
    for i, plan in enumerate(plans):
        (tmp_path / f"plan{i}").write_text(plan)

    def spawn(argv: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        i = int(argv[list(argv).index("--metrics-port") + 1]) - FIRST_PORT
        return subprocess.Popen([sys.executable, "-c", CHILD, str(logs[i]), str(tmp_path / f"plan{i}"), *argv[1:]],
                                env=dict(env))

    sup = Supervisor(Settings(fold_in_engine=False), len(plans), spawn=spawn, first_restart_delay_s=0.05,
                     metrics_port=FIRST_PORT, **options)  # type: ignore[arg-type]
    return sup, logs


def _runs(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _stop_when(sup: Supervisor, ready: object, timeout: float = 30) -> threading.Thread:
    def stopper() -> None:
        deadline = time.monotonic() + timeout
        while not ready() and time.monotonic() < deadline:  # type: ignore[operator]
            time.sleep(0.05)
        sup.request_stop()

    thread = threading.Thread(target=stopper, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("n", [0, -1, 65, 1000])
def test_the_number_of_processes_is_bounded(n: int) -> None:
    with pytest.raises(ConfigError, match="between 1 and 64"):
        validate_processes(n)


def test_each_child_gets_its_own_metrics_port() -> None:
    assert child_metrics_ports(9400, 3) == [9400, 9401, 9402]
    assert child_metrics_ports(0, 3) == [0, 0, 0]
    with pytest.raises(ConfigError, match="65535"):
        child_metrics_ports(65535, 2)


def test_children_run_without_the_folder_with_port_plus_i_and_stop_cleanly_on_request(tmp_path: Path) -> None:
    sup, logs = _supervisor(tmp_path, ["serve", "serve"], pulse_options=["--log-level=WARNING"])
    stopper = _stop_when(sup, lambda: all(_runs(log) for log in logs))
    assert sup.run() == 0
    stopper.join()
    runs = [_runs(log) for log in logs]
    assert [len(r) for r in runs] == [1, 1]  # started once each, never restarted
    for i, (run,) in enumerate(runs):
        assert run["fold"] == "false"
        argv = run["argv"]
        assert isinstance(argv, list)
        assert argv[argv.index("--metrics-port") + 1] == str(FIRST_PORT + i)
        assert argv[:4] == ["-m", "pulse.cli", "--log-level=WARNING", "run"]  # logging as the parent's
    assert sup.pids() == [None, None]  # all reaped


def test_a_child_that_dies_is_restarted_and_the_others_keep_running(tmp_path: Path) -> None:
    sup, logs = _supervisor(tmp_path, ["exit:137 serve", "serve"])
    stopper = _stop_when(sup, lambda: len(_runs(logs[0])) >= 2 and _runs(logs[1]))
    assert sup.run() == 0
    stopper.join()
    assert len(_runs(logs[0])) == 2 and len(_runs(logs[1])) == 1


def test_a_child_killed_by_a_signal_is_restarted(tmp_path: Path) -> None:
    sup, logs = _supervisor(tmp_path, ["serve", "serve"])
    killed: list[int] = []

    def kill_once() -> bool:
        pid = sup.pids()[0]
        if not killed and pid is not None and _runs(logs[0]):
            subprocess.run(["kill", "-9", str(pid)], check=True)
            killed.append(pid)
        return bool(killed) and len(_runs(logs[0])) >= 2

    stopper = _stop_when(sup, kill_once)
    assert sup.run() == 0
    stopper.join()
    assert killed and len(_runs(logs[0])) == 2 and sup.pids() == [None, None]


def test_a_child_that_keeps_failing_ends_the_supervisor_with_1(tmp_path: Path) -> None:
    sup, logs = _supervisor(tmp_path, ["exit:3", "serve"], max_failures=3)
    assert sup.run() == 1
    assert len(_runs(logs[0])) == 3  # the first start and two restarts
    assert sup.pids() == [None, None]  # the healthy one was stopped too


def test_a_child_refusing_its_settings_is_not_restarted(tmp_path: Path) -> None:
    sup, logs = _supervisor(tmp_path, ["exit:2", "serve"])
    assert sup.run() == 2
    assert len(_runs(logs[0])) == 1


def test_children_that_finish_on_their_own_end_the_supervisor_with_0(tmp_path: Path) -> None:
    sup, logs = _supervisor(tmp_path, ["exit:0", "exit:0"], until_idle=1.5)
    assert sup.run() == 0
    for log in logs:
        (run,) = _runs(log)
        argv = run["argv"]
        assert isinstance(argv, list) and argv[argv.index("--until-idle") + 1] == "1.5"


def test_sigterm_to_the_supervisor_is_forwarded(tmp_path: Path) -> None:
    sup, logs = _supervisor(tmp_path, ["serve", "serve"])
    previous = signal.getsignal(signal.SIGTERM)
    sup.install_signal_handlers()
    try:
        def term_when_ready() -> None:
            while not all(_runs(log) for log in logs):
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs in the main thread, inside run()

        threading.Thread(target=term_when_ready, daemon=True).start()
        assert sup.run() == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    assert sup.pids() == [None, None]
