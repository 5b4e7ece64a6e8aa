-- pulse warehouse, version 5: the Spark engine's batch ledger.
-- Spark keeps the Kafka offsets in its checkpoint and may replay a micro-batch after a crash (same
-- query id, same batch id, same offset ranges). Each executor task commits its slice of a batch -
-- one Kafka partition's offset range - in one transaction that also inserts its row here; a replayed
-- slice finds its row and is skipped, so a replay can neither lose nor double-count anything.
CREATE TABLE spark_batches (
  query_id        text NOT NULL,              -- the streaming query's id (stable across restarts)
  batch_id        bigint NOT NULL,
  topic           text NOT NULL,
  kafka_partition integer NOT NULL,
  first_offset    bigint NOT NULL,
  next_offset     bigint NOT NULL,
  messages        integer NOT NULL,
  committed_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (query_id, batch_id, topic, kafka_partition, first_offset)
);

GRANT SELECT, INSERT ON spark_batches TO pulse_loader;
GRANT SELECT ON spark_batches TO pulse_reader;

-- Spark commits several slices at once, so two transactions may both find a day's partition missing:
-- creators queue on a transaction-level advisory lock, and the one that comes second finds the partition
-- (or is told it exists) instead of failing the batch with "relation already exists".
CREATE OR REPLACE FUNCTION pulse_ensure_fact_partitions(days date[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  d date;
  part text;
BEGIN
  FOREACH d IN ARRAY days LOOP
    part := 'fact_event_' || to_char(d, 'YYYYMMDD');
    IF to_regclass(part) IS NULL THEN
      PERFORM pg_advisory_xact_lock(hashtext('pulse_ensure_fact_partitions'));
      BEGIN
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF fact_event FOR VALUES FROM (%L) TO (%L)',
                       part, d, d + 1);
      EXCEPTION WHEN duplicate_table OR unique_violation THEN
        NULL;  -- a concurrent loader created it (this backend's catalog cache had not seen it yet)
      END;
    END IF;
  END LOOP;
END
$$;
