-- pulse warehouse, version 4: retention and data-quality support (pulse maintain, pulse dq).
--
-- event_ledger stays ONE unpartitioned table keyed by event_id alone: a partitioned ledger would need
-- event_date in its primary key, and then the same event id arriving with another day (a client that
-- resends with a different time stamp) would no longer be caught. Retention deletes ledger rows by
-- event_date instead, so deduplication is exact for every event inside the retention window; an event
-- older than the window that arrives again is loaded again (its day comes back as a partition) and the
-- next maintenance run removes it. A BRIN index on event_date makes that daily delete cheap: it costs
-- the loader almost nothing per insert (ledger rows arrive in rough event-date order).
CREATE INDEX event_ledger_event_date_brin ON event_ledger USING brin (event_date);
CREATE INDEX quarantine_quarantined_at_brin ON quarantine USING brin (quarantined_at);

-- One row per maintenance run that changed something: when, the horizon it applied, what it did.
CREATE TABLE maintenance_runs (
  run_id       bigserial PRIMARY KEY,
  ran_at       timestamptz NOT NULL DEFAULT now(),
  cutoff_date  date NOT NULL,                  -- data of days before this one was removed
  created      text[] NOT NULL,                -- partitions created
  dropped      text[] NOT NULL,                -- partitions dropped
  deleted      jsonb NOT NULL                  -- table -> rows deleted
);

-- The daily fact partitions with their UTC day, from the catalog (not from their names).
CREATE VIEW fact_partitions AS
  SELECT c.relname::text AS partition_name,
         (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([0-9-]+)''\)'))[1]::date AS day,
         (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([0-9-]+)''\)'))[1]::date AS day_after
  FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
  WHERE i.inhparent = 'fact_event'::regclass;

-- Data-quality checks read with the dashboard role: quarantine counts by time and reason, never the
-- raw payloads (column privileges), plus the partition list.
GRANT SELECT (quarantine_id, stage, reason, quarantined_at) ON quarantine TO pulse_reader;
GRANT SELECT ON fact_partitions, maintenance_runs TO pulse_reader;
