"""spark_job.py (the spark-submit entry point) takes the options of `pulse spark`, with the same bounds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer

from pulse.cli import app
from pulse.engines.spark_job import _parser


def _spark_command_options() -> set[str]:
    group: Any = typer.main.get_command(app)
    command = group.commands["spark"]
    return {opt for param in command.params if not getattr(param, "hidden", False) for opt in param.opts}


def test_the_job_takes_every_visible_option_of_pulse_spark() -> None:
    job = {opt for action in _parser()._actions for opt in action.option_strings} - {"-h", "--help"}
    assert job == _spark_command_options() - {"--help"}


def test_the_job_parses_as_pulse_spark_does() -> None:
    args = _parser().parse_args(["--trigger", "2.5", "--checkpoint", "/shared/cp", "--until-idle", "3",
                                 "--max-offsets-per-trigger", "500"])
    assert (args.trigger, args.checkpoint, args.until_idle, args.max_offsets_per_trigger) == (
        2.5, Path("/shared/cp"), 3.0, 500)
    defaults = _parser().parse_args([])
    assert (defaults.trigger, defaults.checkpoint, defaults.until_idle, defaults.max_offsets_per_trigger) == (
        1.0, None, None, None)


@pytest.mark.parametrize("argv", [["--trigger", "0.05"], ["--max-offsets-per-trigger", "0"], ["--trigger", "x"],
                                  ["--until-idle", "soon"]])
def test_the_job_refuses_what_pulse_spark_refuses(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        _parser().parse_args(argv)
    assert refused.value.code == 2
