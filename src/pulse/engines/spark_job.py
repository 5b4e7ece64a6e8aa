"""spark-submit entry point: `spark-submit [options] .../pulse/engines/spark_job.py [pulse spark options]`."""

from __future__ import annotations

import sys

from pulse.cli import main

if __name__ == "__main__":
    # The master and the connector jars come from spark-submit (--master, --jars), not from pulse.
    sys.argv = ["pulse", "spark", "--submitted", *sys.argv[1:]]
    main()
