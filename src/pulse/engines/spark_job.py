"""spark-submit entry point: `spark-submit [options] .../pulse/engines/spark_job.py [pulse spark options]`.

It is `pulse spark` that keeps spark-submit's master and jars: the same options, the same engine (run_spark).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from pulse.engines.spark import run_spark
from pulse.errors import PulseError, operator_message
from pulse.ops.logging import configure_logging
from pulse.settings import load_settings


def _at_least(low: float, kind: type[float] | type[int]) -> Callable[[str], float]:
    """An argparse type: a number of `kind`, at least `low` (as typer's min= in `pulse spark`)."""

    def parse(text: str) -> float:
        value = kind(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"{text} is below {low}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spark_job.py", description=__doc__)
    parser.add_argument("--master", help="ignored: spark-submit's --master applies")
    parser.add_argument("--trigger", type=_at_least(0.1, float), default=1.0, help="Seconds between micro-batches.")
    parser.add_argument("--checkpoint", type=Path, help="Checkpoint directory (Kafka offsets); shared storage.")
    parser.add_argument("--until-idle", type=float, help="Stop after this many seconds without new messages.")
    parser.add_argument("--max-offsets-per-trigger", type=_at_least(1, int), help="Most messages per micro-batch.")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Run the Spark engine under spark-submit; a bad setting or a refused login ends as one line, status 2."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        configure_logging("INFO", "text", secrets=[settings.hash_key, settings.api_token])
        stats = run_spark(settings, submitted=True, trigger_seconds=args.trigger, checkpoint=args.checkpoint,
                          until_idle=args.until_idle, max_offsets_per_trigger=args.max_offsets_per_trigger)
    except Exception as exc:
        message = str(exc) if isinstance(exc, PulseError) else operator_message(exc)
        if message is None:
            raise
        print(f"error: {' '.join(message.split())}", file=sys.stderr)  # one line, status 2, as `pulse` says it
        sys.exit(2)
    print(f"spark engine stopped: {stats.as_dict()}")


if __name__ == "__main__":
    main()
