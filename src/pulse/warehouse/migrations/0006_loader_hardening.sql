-- pulse warehouse, version 6: the loader's hardening.

-- 1. What an engine is doing when it is alive but not loading: NULL while batches commit; "retrying: <why>"
--    while the engine retries a transient failure, so `pulse health` tells a stalled engine from a dead one.
ALTER TABLE engine_heartbeat ADD COLUMN status text;

-- 2. The dimension race. Two transactions inserting the same NEW dimension row at once: `ON CONFLICT (key)`
--    arbitrates on the primary key only, so the second one failed on the table's other UNIQUE constraint
--    (dim_hour.hour_start, ...) with a unique violation, and its whole valid batch was quarantined. The
--    keys are derived from exactly these natural values (pulse.model.keys.dim_key), so the primary key
--    already makes them unique: the second constraint guarded nothing and only raced. Lookups by product
--    id keep a plain index.
ALTER TABLE dim_date DROP CONSTRAINT IF EXISTS dim_date_date_key;
ALTER TABLE dim_hour DROP CONSTRAINT IF EXISTS dim_hour_hour_start_key;
ALTER TABLE dim_product DROP CONSTRAINT IF EXISTS dim_product_product_id_key;
ALTER TABLE dim_store DROP CONSTRAINT IF EXISTS dim_store_store_id_key;
ALTER TABLE dim_browser DROP CONSTRAINT IF EXISTS dim_browser_browser_key;
ALTER TABLE dim_os DROP CONSTRAINT IF EXISTS dim_os_os_key;
ALTER TABLE dim_device_type DROP CONSTRAINT IF EXISTS dim_device_type_device_type_key;
CREATE INDEX IF NOT EXISTS dim_product_product_id_idx ON dim_product (product_id);
