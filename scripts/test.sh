#!/usr/bin/env bash
# The test command (README, .ci/run): set up, lint, type-check, then every test against real services.
# Integration tests start their own Kafka and PostgreSQL (in a temporary PULSE_HOME, on free ports).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/unit -x`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install.sh
echo "==> ruff"
.venv/bin/ruff check src tests
echo "==> mypy"
.venv/bin/mypy
echo "==> import rules (lint-imports)"
.venv/bin/lint-imports
echo "==> pytest"
set +e
.venv/bin/pytest "$@"
status=$?
set -e
if [[ $status -eq 5 ]]; then
  echo "pytest collected no tests: that is a failure here, not a success" >&2
  exit 1
fi
exit $status
