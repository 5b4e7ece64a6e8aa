-- pulse warehouse, version 1: star schema, quarantine, offsets ledger, rollups, roles and grants.
-- Dimension keys are deterministic 64-bit hashes of the natural values (computed by pulse.model.keys),
-- so any engine or partition can compute them without a lookup round trip.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pulse_loader') THEN
    CREATE ROLE pulse_loader NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pulse_reader') THEN
    CREATE ROLE pulse_reader NOLOGIN;
  END IF;
END
$$;

-- ---------------------------------------------------------------- dimensions
CREATE TABLE dim_date (
  date_key    integer PRIMARY KEY,          -- yyyymmdd (UTC)
  date        date NOT NULL UNIQUE,
  year        smallint NOT NULL,
  quarter     smallint NOT NULL,
  month       smallint NOT NULL,
  day         smallint NOT NULL,
  iso_week    smallint NOT NULL,
  iso_dow     smallint NOT NULL
);

CREATE TABLE dim_hour (
  hour_key    bigint PRIMARY KEY,           -- hours since the Unix epoch (UTC)
  hour_start  timestamptz NOT NULL UNIQUE,
  date_key    integer NOT NULL,
  hour_of_day smallint NOT NULL
);

CREATE TABLE dim_product (
  product_key  bigint PRIMARY KEY,
  product_id   text NOT NULL UNIQUE,
  product_slug text                          -- smallest slug seen: order-independent across engines
);

CREATE TABLE dim_store (
  store_key bigint PRIMARY KEY,
  store_id  text NOT NULL UNIQUE
);

CREATE TABLE dim_site (
  site_key      bigint PRIMARY KEY,
  host          text,                        -- normalised host of current_url
  site          text,                        -- storefront domain, e.g. glamira.co.uk
  country_code  text,                     -- ISO 3166-1 alpha-2; NULL for glamira.com (International)
  country_name  text,
  is_noise      boolean NOT NULL,
  noise_reason  text
);

CREATE TABLE dim_location (
  location_key bigint PRIMARY KEY,
  country_code text,
  country_name text,
  region       text,
  city         text
);

CREATE TABLE dim_referrer (
  referrer_key   bigint PRIMARY KEY,
  referrer_url   text,                       -- as sent; NULL for direct traffic
  referrer_domain text,
  referrer_class text NOT NULL
);

CREATE TABLE dim_browser (
  browser_key bigint PRIMARY KEY,
  browser     text NOT NULL UNIQUE
);

CREATE TABLE dim_os (
  os_key bigint PRIMARY KEY,
  os     text NOT NULL UNIQUE
);

CREATE TABLE dim_device_type (
  device_type_key bigint PRIMARY KEY,
  device_type     text NOT NULL UNIQUE
);

-- ---------------------------------------------------------------- facts
-- One row per accepted event, partitioned by UTC day. Uniqueness of event_id across partitions
-- is enforced by event_ledger, which the loader inserts into first (ON CONFLICT DO NOTHING).
CREATE TABLE fact_event (
  event_id          text NOT NULL,
  event_date        date NOT NULL,           -- UTC day of event_time: the partition key
  event_time        timestamptz NOT NULL,
  date_key          integer NOT NULL,
  hour_key          bigint NOT NULL,
  collection        text NOT NULL,
  product_key       bigint,
  store_key         bigint,
  site_key          bigint NOT NULL,
  location_key      bigint NOT NULL,
  referrer_key      bigint NOT NULL,
  browser_key       bigint NOT NULL,
  os_key            bigint NOT NULL,
  device_type_key   bigint NOT NULL,
  is_bot            boolean NOT NULL,
  product_id        text,
  store_id          text,
  recommendation_product_id text,
  order_id          text,
  email_hash        text,                    -- keyed hash; the raw e-mail never reaches the warehouse
  device_hash       text,
  ip_truncated      inet,                    -- /24 (IPv4) or /48 (IPv6), after the geo lookup
  api_version       text,
  local_time_raw    text,
  user_id_db        text,
  resolution        text,
  key_search        text,
  cat_id            text,
  utm_source        text,
  utm_medium        text,
  utm_campaign      text,
  click_id_type     text,
  options           jsonb,
  cart_products     jsonb,
  extra             jsonb,                   -- every field pulse does not model, as sent
  src_topic         text,
  src_partition     integer,
  src_offset        bigint,
  loaded_at         timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (event_date);

CREATE INDEX fact_event_time_idx ON fact_event (event_time);
CREATE INDEX fact_event_id_idx ON fact_event (event_id);

CREATE TABLE event_ledger (
  event_id   text PRIMARY KEY,
  event_date date NOT NULL
);

-- Creates the daily partitions a batch needs. SECURITY DEFINER so the loader needs no DDL rights.
CREATE FUNCTION pulse_ensure_fact_partitions(days date[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  d date;
  part text;
BEGIN
  FOREACH d IN ARRAY days LOOP
    part := 'fact_event_' || to_char(d, 'YYYYMMDD');
    IF to_regclass(part) IS NULL THEN
      EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF fact_event FOR VALUES FROM (%L) TO (%L)',
                     part, d, d + 1);
    END IF;
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION pulse_ensure_fact_partitions(date[]) FROM PUBLIC;

-- ---------------------------------------------------------------- rejected input
CREATE TABLE quarantine (
  quarantine_id  bigserial PRIMARY KEY,
  stage          text NOT NULL,
  reason         text NOT NULL,
  detail         text NOT NULL,
  raw            bytea NOT NULL,
  src_topic      text,
  src_partition  integer,
  src_offset     bigint,
  quarantined_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (src_topic, src_partition, src_offset)
);
CREATE INDEX quarantine_reason_idx ON quarantine (reason);

-- ---------------------------------------------------------------- offsets ledger
-- The next offset to read per consumer group and partition, written in the batch's transaction.
CREATE TABLE kafka_offsets (
  consumer_group text NOT NULL,
  topic          text NOT NULL,
  kafka_partition integer NOT NULL,
  next_offset    bigint NOT NULL,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer_group, topic, kafka_partition)
);

-- Running totals and freshness, one row, updated by every batch.
CREATE TABLE load_state (
  id                 boolean PRIMARY KEY DEFAULT true CHECK (id),
  events_loaded      bigint NOT NULL DEFAULT 0,
  duplicates_skipped bigint NOT NULL DEFAULT 0,
  quarantined        bigint NOT NULL DEFAULT 0,
  batches            bigint NOT NULL DEFAULT 0,
  newest_event_time  timestamptz,
  last_commit_at     timestamptz
);
INSERT INTO load_state DEFAULT VALUES;

-- ---------------------------------------------------------------- rollups (15-minute UTC buckets)
-- 15 minutes divides every UTC offset in use, so any IANA zone's days and hours are exact sums.
CREATE TABLE rollup_product (
  bucket     timestamptz NOT NULL,
  collection text NOT NULL,
  is_bot     boolean NOT NULL,
  product_id text NOT NULL,
  events     bigint NOT NULL,
  PRIMARY KEY (bucket, collection, is_bot, product_id)
);

CREATE TABLE rollup_site_store (
  bucket     timestamptz NOT NULL,
  collection text NOT NULL,
  is_bot     boolean NOT NULL,
  site_key   bigint NOT NULL,
  store_id   text NOT NULL,                -- '' when the event has no store
  events     bigint NOT NULL,
  PRIMARY KEY (bucket, collection, is_bot, site_key, store_id)
);

CREATE TABLE rollup_referrer (
  bucket       timestamptz NOT NULL,
  collection   text NOT NULL,
  is_bot       boolean NOT NULL,
  referrer_url text NOT NULL,
  events       bigint NOT NULL,
  PRIMARY KEY (bucket, collection, is_bot, referrer_url)
);

CREATE TABLE rollup_browser_os (
  bucket     timestamptz NOT NULL,
  collection text NOT NULL,
  is_bot     boolean NOT NULL,
  browser    text NOT NULL,
  os         text NOT NULL,
  events     bigint NOT NULL,
  PRIMARY KEY (bucket, collection, is_bot, browser, os)
);

-- ---------------------------------------------------------------- read-only views
CREATE VIEW quarantine_summary AS
  SELECT reason, stage, count(*) AS messages, max(quarantined_at) AS newest
  FROM quarantine GROUP BY reason, stage;

-- ---------------------------------------------------------------- privileges
GRANT USAGE ON SCHEMA public TO pulse_loader, pulse_reader;
GRANT SELECT, INSERT ON fact_event, event_ledger, quarantine TO pulse_loader;
GRANT USAGE ON SEQUENCE quarantine_quarantine_id_seq TO pulse_loader;
GRANT SELECT, INSERT, UPDATE ON
  dim_date, dim_hour, dim_product, dim_store, dim_site, dim_location, dim_referrer, dim_browser,
  dim_os, dim_device_type, kafka_offsets, load_state,
  rollup_product, rollup_site_store, rollup_referrer, rollup_browser_os
  TO pulse_loader;
GRANT EXECUTE ON FUNCTION pulse_ensure_fact_partitions(date[]) TO pulse_loader;

GRANT SELECT ON
  dim_date, dim_hour, dim_product, dim_store, dim_site, dim_location, dim_referrer, dim_browser,
  dim_os, dim_device_type, fact_event, load_state, quarantine_summary,
  rollup_product, rollup_site_store, rollup_referrer, rollup_browser_os
  TO pulse_reader;
