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
