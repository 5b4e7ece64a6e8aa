-- pulse warehouse, version 2: engine heartbeats (liveness for `pulse health`) and canary runs
-- (end-to-end latency recorded by `pulse canary`).

-- One row per engine process, upserted by the engine in its batch transactions and when idle.
CREATE TABLE engine_heartbeat (
  engine_id      text PRIMARY KEY,           -- random per process, also the prefix of its batch ids
  engine         text NOT NULL,              -- native, spark, ...
  host           text NOT NULL,
  pid            integer NOT NULL,
  consumer_group text NOT NULL,
  topic          text NOT NULL,
  started_at     timestamptz NOT NULL,
  beat_at        timestamptz NOT NULL,
  stopped_at     timestamptz,                -- set on a clean stop; NULL while running (or after a crash)
  batches        bigint NOT NULL DEFAULT 0
);
CREATE INDEX engine_heartbeat_beat_idx ON engine_heartbeat (beat_at DESC);

-- One row per `pulse canary`: a marked event sent through Kafka until it was queryable here.
CREATE TABLE canary_run (
  canary_id  bigserial PRIMARY KEY,
  event_id   text NOT NULL UNIQUE,
  sent_at    timestamptz NOT NULL,
  seen_at    timestamptz,                    -- NULL when it never showed up (timeout)
  latency_ms double precision,
  max_latency_ms double precision NOT NULL,  -- the threshold in force for this run
  ok         boolean NOT NULL,
  detail     text NOT NULL DEFAULT ''
);
CREATE INDEX canary_run_sent_idx ON canary_run (sent_at DESC);

GRANT SELECT, INSERT, UPDATE ON engine_heartbeat TO pulse_loader;
GRANT SELECT, INSERT ON canary_run TO pulse_loader;
GRANT USAGE ON SEQUENCE canary_run_canary_id_seq TO pulse_loader;

-- `pulse health` runs with the read-only role: it needs the ledgers, not the data.
GRANT SELECT ON engine_heartbeat, canary_run, kafka_offsets, schema_migrations TO pulse_reader;
