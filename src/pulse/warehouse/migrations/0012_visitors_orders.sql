-- pulse warehouse, version 12: visitors and orders, exact and exactly once, on the delta load path.
--
-- Two ledgers written in the batch transaction (warehouse/loader.py), each counted only where a row is new:
-- 1. fact_order: one row per order id (a checkout_success event with an order id). A replayed or resent
--    checkout (a new event id, the same order) finds the row and adds nothing. Revenue is numeric, read from
--    the storefront's locale-formatted prices (pulse.enrich.money); an order whose amounts cannot be read has
--    `issue` set (a reason code) and no revenue, and is still an order.
-- 2. visitor_day: one row per zone in kpi_zone, local day, storefront (site_key; 0 = every storefront) and
--    visitor (a pseudonym: the keyed device hash, or a daily-rotating keyed hash, model/visitors.py).
-- The new rows feed delta tables (partitioned by slot, like migration 0008's), which the folder sums into
-- rollup_order (15-minute buckets), rollup_order_day (per zone's local day) and rollup_visitor_day.
-- Visitors of a zone added later are counted from the moment it is added (the ledger is per zone).

CREATE TABLE fact_order (
  order_id   text PRIMARY KEY,
  event_id   text NOT NULL,          -- the first event that carried the order
  event_time timestamptz NOT NULL,
  collection text NOT NULL,
  site_key   bigint NOT NULL,
  store_id   text,
  is_bot     boolean NOT NULL,
  currency   text CHECK (currency ~ '^[A-Z]{3}$'),  -- ISO 4217; NULL when it could not be resolved
  revenue    numeric,                -- sum of quantity x price, in the currency's minor units; NULL with an issue
  items      integer NOT NULL,
  issue      text,                   -- pulse.enrich.money.OrderIssue, NULL when the amounts were read
  loaded_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  CHECK ((issue IS NULL) = (revenue IS NOT NULL))
);
CREATE INDEX fact_order_time_idx ON fact_order (event_time);

CREATE TABLE visitor_day (
  zone     text NOT NULL,
  day      date NOT NULL,
  site_key bigint NOT NULL,
  visitor  text NOT NULL,
  PRIMARY KEY (zone, day, site_key, visitor)
);

CREATE TABLE rollup_order (
  bucket timestamptz NOT NULL, collection text NOT NULL, is_bot boolean NOT NULL,
  site_key bigint NOT NULL, currency text NOT NULL, issue text NOT NULL,
  orders bigint NOT NULL, items bigint NOT NULL, revenue numeric NOT NULL,
  PRIMARY KEY (bucket, collection, is_bot, site_key, currency, issue)
);
CREATE TABLE rollup_order_day (
  zone text NOT NULL, day date NOT NULL, collection text NOT NULL, is_bot boolean NOT NULL,
  site_key bigint NOT NULL, currency text NOT NULL, issue text NOT NULL,
  orders bigint NOT NULL, items bigint NOT NULL, revenue numeric NOT NULL,
  PRIMARY KEY (zone, day, collection, is_bot, site_key, currency, issue)
);
CREATE TABLE rollup_visitor_day (
  zone text NOT NULL, day date NOT NULL, site_key bigint NOT NULL, visitors bigint NOT NULL,
  PRIMARY KEY (zone, day, site_key)
);

CREATE TABLE rollup_order_delta (
  slot smallint NOT NULL, bucket timestamptz NOT NULL, collection text NOT NULL, is_bot boolean NOT NULL,
  site_key bigint NOT NULL, currency text NOT NULL, issue text NOT NULL,
  orders bigint NOT NULL, items bigint NOT NULL, revenue numeric NOT NULL
) PARTITION BY LIST (slot);
CREATE TABLE rollup_visitor_day_delta (
  slot smallint NOT NULL, zone text NOT NULL, day date NOT NULL, site_key bigint NOT NULL, visitors bigint NOT NULL
) PARTITION BY LIST (slot);

DO $$
DECLARE
  parent text;
  s int;
BEGIN
  FOREACH parent IN ARRAY ARRAY['rollup_order_delta', 'rollup_visitor_day_delta'] LOOP
    FOR s IN 0..3 LOOP
      EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES IN (%s)', parent || '_' || s, parent, s);
      EXECUTE format('GRANT SELECT, INSERT, TRUNCATE ON %I TO pulse_loader', parent || '_' || s);
    END LOOP;
    EXECUTE format('GRANT SELECT ON %I TO pulse_loader', parent);
  END LOOP;
END
$$;

-- A zone added later gets its order days from the 15-minute order rollup too (visitors: from then on).
CREATE OR REPLACE FUNCTION pulse_rebuild_kpi_zone(z text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  DELETE FROM rollup_product_day WHERE zone = z;
  DELETE FROM rollup_site_store_day WHERE zone = z;
  DELETE FROM rollup_referrer_day WHERE zone = z;
  DELETE FROM rollup_browser_hour WHERE zone = z;
  DELETE FROM rollup_os_hour WHERE zone = z;
  DELETE FROM rollup_order_day WHERE zone = z;
  INSERT INTO rollup_product_day (zone, day, collection, is_bot, product_id, events)
    SELECT z, (bucket AT TIME ZONE z)::date, collection, is_bot, product_id, sum(events)
    FROM rollup_product GROUP BY 2, 3, 4, 5;
  INSERT INTO rollup_site_store_day (zone, day, collection, is_bot, site_key, store_id, events)
    SELECT z, (bucket AT TIME ZONE z)::date, collection, is_bot, site_key, store_id, sum(events)
    FROM rollup_site_store GROUP BY 2, 3, 4, 5, 6;
  INSERT INTO rollup_referrer_day (zone, day, collection, is_bot, referrer_url, events)
    SELECT z, (bucket AT TIME ZONE z)::date, collection, is_bot, referrer_url, sum(events)
    FROM rollup_referrer GROUP BY 2, 3, 4, 5;
  INSERT INTO rollup_browser_hour (zone, day, collection, is_bot, hour, browser, events)
    SELECT z, (bucket AT TIME ZONE z)::date, collection, is_bot, extract(hour FROM bucket AT TIME ZONE z),
           browser, sum(events)
    FROM rollup_browser_os GROUP BY 2, 3, 4, 5, 6;
  INSERT INTO rollup_os_hour (zone, day, collection, is_bot, hour, os, events)
    SELECT z, (bucket AT TIME ZONE z)::date, collection, is_bot, extract(hour FROM bucket AT TIME ZONE z),
           os, sum(events)
    FROM rollup_browser_os GROUP BY 2, 3, 4, 5, 6;
  INSERT INTO rollup_order_day (zone, day, collection, is_bot, site_key, currency, issue, orders, items, revenue)
    SELECT z, (bucket AT TIME ZONE z)::date, collection, is_bot, site_key, currency, issue, sum(orders),
           sum(items), sum(revenue)
    FROM rollup_order GROUP BY 2, 3, 4, 5, 6, 7;
END
$$;
REVOKE ALL ON FUNCTION pulse_rebuild_kpi_zone(text) FROM PUBLIC;

-- The loader writes the ledgers and folds; the dashboards read the rollups, never the ledgers (order ids and
-- visitor pseudonyms are per person, migration 0007).
GRANT SELECT, INSERT ON fact_order, visitor_day TO pulse_loader;
GRANT SELECT, INSERT, UPDATE ON rollup_order, rollup_order_day, rollup_visitor_day TO pulse_loader;
GRANT SELECT ON rollup_order, rollup_order_day, rollup_visitor_day TO pulse_reader;
