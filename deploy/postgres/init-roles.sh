#!/usr/bin/env bash
# First start of the PostgreSQL container: the login roles of pulse (least privilege) and the metadata
# database of Airflow (Superset keeps its metadata in SQLite on its volume). Passwords come from the env file (pulse.env), never from git.
# `pulse migrate` (the pulse-migrate service) then creates the schema and grants to pulse_loader/pulse_reader.
set -euo pipefail
: "${PULSE_ENGINE_PASSWORD:?set PULSE_ENGINE_PASSWORD in pulse.env}"
: "${PULSE_DASHBOARD_PASSWORD:?set PULSE_DASHBOARD_PASSWORD in pulse.env}"
: "${AIRFLOW_DB_PASSWORD:?set AIRFLOW_DB_PASSWORD in pulse.env}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v engine_pw="$PULSE_ENGINE_PASSWORD" -v dashboard_pw="$PULSE_DASHBOARD_PASSWORD" \
  -v airflow_pw="$AIRFLOW_DB_PASSWORD" <<'SQL'
CREATE ROLE pulse_loader NOLOGIN;
CREATE ROLE pulse_reader NOLOGIN;
CREATE ROLE pulse_engine LOGIN PASSWORD :'engine_pw' IN ROLE pulse_loader;
CREATE ROLE pulse_dashboard LOGIN PASSWORD :'dashboard_pw' IN ROLE pulse_reader;
CREATE ROLE airflow LOGIN PASSWORD :'airflow_pw';
CREATE DATABASE airflow OWNER airflow;
SQL
