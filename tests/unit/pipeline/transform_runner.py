"""Runs `transform_batch` of whichever pulse is importable over pickled batches; a script for the differential test.

`python transform_runner.py SRC IN OUT` imports pulse from SRC only (a `git archive` of another commit), so
two versions never share an interpreter. The test imports `run` itself for the current version.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any

Job = dict[str, Any]  # batches: [[(raw, (topic, partition, offset) | None)]], now, options of Enrichers.create


def run(job: Job) -> list[dict[str, Any]]:
    """Each batch's StarBatch as plain values: facts, dimension rows, rejections (with reasons), duplicates.

    One Enrichers serves every batch, as in an engine, so what a cache keeps from one batch shapes the next.
    """
    from pulse.events.model import SourceRef
    from pulse.pipeline import Enrichers, transform_batch

    enrichers = Enrichers.create(**job["options"])
    results = []
    for batch in job["batches"]:
        messages = [(raw, SourceRef(*source) if source else None) for raw, source in batch]
        star = transform_batch(messages, enrichers, now=job["now"])
        results.append({
            "facts": list(star.facts),
            "dims": {table: dict(rows) for table, rows in star.dims.items()},
            "rejections": [(str(r.stage), str(r.reason), r.detail, r.raw,
                            (r.source.topic, r.source.partition, r.source.offset) if r.source else None)
                           for r in star.rejections],
            "duplicates_in_batch": star.duplicates_in_batch,
        })
    return results


def main() -> None:
    src, job_file, out_file = sys.argv[1:4]
    sys.path.insert(0, src)
    import pulse

    if not Path(pulse.__file__).resolve().is_relative_to(Path(src).resolve()):
        sys.exit(f"pulse was imported from {pulse.__file__}, not from {src}")
    job = pickle.loads(Path(job_file).read_bytes())
    Path(out_file).write_bytes(pickle.dumps(run(job)))


if __name__ == "__main__":
    main()
