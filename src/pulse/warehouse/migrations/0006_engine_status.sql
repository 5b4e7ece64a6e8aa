-- pulse warehouse, version 6: what an engine is doing when it is alive but not loading.
-- NULL while batches commit; "retrying: <why>" while the engine retries a transient failure (the database
-- or Kafka unavailable), so `pulse health` tells a stalled engine from a dead one.
ALTER TABLE engine_heartbeat ADD COLUMN status text;
