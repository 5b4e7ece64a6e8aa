-- pulse warehouse, version 12: visitors, visits and orders, exact and exactly once, on the delta load path.
--
-- Two ledgers written in the batch transaction (warehouse/loader.py), each counted only where a row is new:
-- 1. fact_order: one row per order id (a checkout_success event with an order id). A replayed or resent
--    checkout (a new event id, the same order) finds the row and adds nothing. Revenue is numeric, read from
--    the storefront's locale-formatted prices (pulse.enrich.money); an order whose amounts cannot be read has
--    `issue` set (a reason code) and no revenue, and is still an order.
-- 2. visitor_day: one row per zone in kpi_zone, local day, storefront (site_key; 0 = every storefront) and
--    visitor (a pseudonym: the keyed device hash, or a daily-rotating keyed hash, model/visitors.py).
-- 3. visit: one row per visit (a visitor's run of events with no gap over PULSE_SESSION_GAP_MINUTES). A batch
--    appends its own visits to visit_delta; the folder merges each closed slot's into `visit` (late events
--    in) in its fold transaction (warehouse/sessions.py): one writer, so no two batches can race on a visitor.
-- The new rows feed delta tables (partitioned by slot, like migration 0008's), which the folder sums into
-- rollup_order (15-minute buckets), rollup_order_day (per zone's local day), rollup_visitor_day,
-- rollup_visit_day and rollup_visit_late_day. Visitors of a zone added later are counted from the moment it
-- is added (the ledger is per zone); its visits and orders are rebuilt from the visit and order rollups.

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

CREATE TABLE visit (
  visitor            text NOT NULL,
  started_at         timestamptz NOT NULL,
  ended_at           timestamptz NOT NULL CHECK (ended_at >= started_at),
  events             integer NOT NULL CHECK (events > 0),
  page_views         integer NOT NULL,
  entry_path         text,          -- URL path of the earliest event
  exit_path          text,          -- of the latest
  site_key           bigint NOT NULL,
  device_type_key    bigint,
  referrer_key       bigint,        -- the landing referrer (dim_referrer: class, domain)
  utm_source         text,
  utm_medium         text,
  utm_campaign       text,
  first_product_view timestamptz,   -- the funnel, in order (model/sessions.py)
  carts              timestamptz[] NOT NULL DEFAULT '{}',
  checkouts          timestamptz[] NOT NULL DEFAULT '{}',
  successes          timestamptz[] NOT NULL DEFAULT '{}',
  funnel_step        smallint NOT NULL CHECK (funnel_step BETWEEN 0 AND 4),
  PRIMARY KEY (visitor, started_at)
);
-- No index on started_at: only the daily retention reads by it. ended_at: the visitors right now.
CREATE INDEX visit_ended_idx ON visit (ended_at);

-- Visitors right now: those whose visit saw an event in the last 5 minutes, per storefront (site_key 0: all).
-- A view owned by the owner, so the dashboards read these counts and never a pseudonym.
CREATE VIEW visitors_now AS
  SELECT coalesce(site_key, 0) AS site_key, count(DISTINCT visitor) AS visitors
  FROM visit WHERE ended_at >= now() - interval '5 minutes'
  GROUP BY GROUPING SETS ((site_key), ());

CREATE TABLE rollup_visit_day (
  zone text NOT NULL, day date NOT NULL, site_key bigint NOT NULL, referrer_key bigint NOT NULL,
  utm_source text NOT NULL, utm_medium text NOT NULL, utm_campaign text NOT NULL,
  visits bigint NOT NULL, bounces bigint NOT NULL, duration_s double precision NOT NULL, page_views bigint NOT NULL,
  funnel_1 bigint NOT NULL, funnel_2 bigint NOT NULL, funnel_3 bigint NOT NULL, funnel_4 bigint NOT NULL,
  PRIMARY KEY (zone, day, site_key, referrer_key, utm_source, utm_medium, utm_campaign)
);
CREATE TABLE rollup_visit_late_day (
  zone text NOT NULL, day date NOT NULL, site_key bigint NOT NULL, late_events bigint NOT NULL,
  PRIMARY KEY (zone, day, site_key)
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
CREATE TABLE rollup_visit_day_delta (
  slot smallint NOT NULL, zone text NOT NULL, day date NOT NULL, site_key bigint NOT NULL, referrer_key bigint NOT NULL,
  utm_source text NOT NULL, utm_medium text NOT NULL, utm_campaign text NOT NULL,
  visits bigint NOT NULL, bounces bigint NOT NULL, duration_s double precision NOT NULL, page_views bigint NOT NULL,
  funnel_1 bigint NOT NULL, funnel_2 bigint NOT NULL, funnel_3 bigint NOT NULL, funnel_4 bigint NOT NULL
) PARTITION BY LIST (slot);
-- A batch's visits (its new events of each visitor, joined where at most one gap apart): appended by the batch
-- transaction, merged into `visit` by the folder (warehouse/sessions.py), which alone writes `visit`.
CREATE TABLE visit_delta (
  slot smallint NOT NULL, visitor text NOT NULL, started_at timestamptz NOT NULL, ended_at timestamptz NOT NULL,
  events integer NOT NULL, page_views integer NOT NULL, entry_path text, exit_path text, site_key bigint NOT NULL,
  device_type_key bigint, referrer_key bigint, utm_source text, utm_medium text, utm_campaign text,
  first_product_view timestamptz, carts timestamptz[] NOT NULL, checkouts timestamptz[] NOT NULL,
  successes timestamptz[] NOT NULL
) PARTITION BY LIST (slot);
CREATE TABLE rollup_visit_late_day_delta (
  slot smallint NOT NULL, zone text NOT NULL, day date NOT NULL, site_key bigint NOT NULL, late_events bigint NOT NULL
) PARTITION BY LIST (slot);

DO $$
DECLARE
  parent text;
  s int;
BEGIN
  FOREACH parent IN ARRAY ARRAY['rollup_order_delta', 'rollup_visitor_day_delta', 'rollup_visit_day_delta',
                                'rollup_visit_late_day_delta', 'visit_delta'] LOOP
    FOR s IN 0..3 LOOP
      EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES IN (%s)', parent || '_' || s, parent, s);
      EXECUTE format('GRANT SELECT, INSERT, TRUNCATE ON %I TO pulse_loader', parent || '_' || s);
    END LOOP;
    EXECUTE format('GRANT SELECT ON %I TO pulse_loader', parent);
  END LOOP;
END
$$;

-- A zone added later gets its order days from the 15-minute order rollup and its visit days from the visits
-- (visitors and late events: from then on). The visits are locked like the 15-minute rollups: a fold in
-- flight commits first, the next one waits and then sees the zone.
CREATE OR REPLACE FUNCTION pulse_add_kpi_zone(new_zone text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM now() AT TIME ZONE new_zone;      -- an unknown zone stops here (invalid_parameter_value)
  IF EXISTS (SELECT 1 FROM kpi_zone WHERE zone = new_zone) THEN
    RETURN false;
  END IF;
  LOCK TABLE rollup_product, rollup_site_store, rollup_referrer, rollup_browser_os, rollup_order, visit IN SHARE MODE;
  INSERT INTO kpi_zone (zone) VALUES (new_zone) ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM pulse_rebuild_kpi_zone(new_zone);
  RETURN true;
END
$$;
REVOKE ALL ON FUNCTION pulse_add_kpi_zone(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pulse_add_kpi_zone(text) TO pulse_loader;

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
  DELETE FROM rollup_visit_day WHERE zone = z;
  INSERT INTO rollup_visit_day (zone, day, site_key, referrer_key, utm_source, utm_medium, utm_campaign, visits,
                                bounces, duration_s, page_views, funnel_1, funnel_2, funnel_3, funnel_4)
    SELECT z, (started_at AT TIME ZONE z)::date, site_key, coalesce(referrer_key, 0), coalesce(utm_source, ''),
           coalesce(utm_medium, ''), coalesce(utm_campaign, ''), count(*), count(*) FILTER (WHERE page_views <= 1),
           coalesce(sum(extract(epoch FROM ended_at - started_at)), 0), sum(page_views),
           count(*) FILTER (WHERE funnel_step >= 1), count(*) FILTER (WHERE funnel_step >= 2),
           count(*) FILTER (WHERE funnel_step >= 3), count(*) FILTER (WHERE funnel_step >= 4)
    FROM visit GROUP BY 2, 3, 4, 5, 6, 7;
END
$$;
REVOKE ALL ON FUNCTION pulse_rebuild_kpi_zone(text) FROM PUBLIC;

-- The loader writes the ledgers and folds; the dashboards read the rollups, never the ledgers (order ids and
-- visitor pseudonyms are per person, migration 0007).
GRANT SELECT, INSERT ON fact_order, visitor_day TO pulse_loader;
GRANT SELECT, INSERT, DELETE ON visit TO pulse_loader;
GRANT SELECT, INSERT, UPDATE ON rollup_order, rollup_order_day, rollup_visitor_day, rollup_visit_day,
  rollup_visit_late_day TO pulse_loader;
GRANT SELECT ON rollup_order, rollup_order_day, rollup_visitor_day, rollup_visit_day, rollup_visit_late_day,
  visitors_now TO pulse_reader;
