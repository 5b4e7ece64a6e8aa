-- pulse warehouse, version 13: orders and revenue by landing source (campaigns), on the delta load path.
--
-- An order belongs to the visit its first checkout_success event is in (the visitor, and that event's time
-- among the visit's checkout_success times), and so to that visit's landing source: storefront, referrer
-- (dim_referrer) and UTM source/medium/campaign.
-- 1. fact_order gains the visitor of that event (a pseudonym, model/visitors.py; NULL for bots, which have
--    no visits), written by the batch statement as before.
-- 2. The folder's visits step (warehouse/sessions.py) reads the orders of each visit it removes or writes and
--    adds signed deltas (-1 order and its revenue for a removed visit, +1 for a written one) per zone's local
--    day of the visit's start, landing source and currency to rollup_campaign_order_day, like rollup_visit_day.
--    Orders whose amounts could not be read (`issue` set) count with currency '' and no revenue. Orders whose
--    first event came later than the lateness bound belong to no visit, and so to no campaign.

ALTER TABLE fact_order ADD COLUMN visitor text;
CREATE INDEX fact_order_visitor_idx ON fact_order (visitor, event_time) WHERE visitor IS NOT NULL;

CREATE TABLE rollup_campaign_order_day (
  zone text NOT NULL, day date NOT NULL, site_key bigint NOT NULL, referrer_key bigint NOT NULL,
  utm_source text NOT NULL, utm_medium text NOT NULL, utm_campaign text NOT NULL, currency text NOT NULL,
  orders bigint NOT NULL, revenue numeric NOT NULL,
  PRIMARY KEY (zone, day, site_key, referrer_key, utm_source, utm_medium, utm_campaign, currency)
);
CREATE TABLE rollup_campaign_order_day_delta (
  slot smallint NOT NULL, zone text NOT NULL, day date NOT NULL, site_key bigint NOT NULL, referrer_key bigint NOT NULL,
  utm_source text NOT NULL, utm_medium text NOT NULL, utm_campaign text NOT NULL, currency text NOT NULL,
  orders bigint NOT NULL, revenue numeric NOT NULL
) PARTITION BY LIST (slot);

DO $$
DECLARE
  s int;
BEGIN
  FOR s IN 0..3 LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF rollup_campaign_order_day_delta FOR VALUES IN (%s)',
                   'rollup_campaign_order_day_delta_' || s, s);
    EXECUTE format('GRANT SELECT, INSERT, TRUNCATE ON %I TO pulse_loader', 'rollup_campaign_order_day_delta_' || s);
  END LOOP;
  GRANT SELECT ON rollup_campaign_order_day_delta TO pulse_loader;
END
$$;

GRANT SELECT, INSERT, UPDATE ON rollup_campaign_order_day TO pulse_loader;
GRANT SELECT ON rollup_campaign_order_day TO pulse_reader;

-- A zone added later (or rebuilt) gets its campaign orders from the visits and the orders they hold: the same
-- rule as the fold's, in SQL. Called by pulse_rebuild_kpi_zone (migration 0012's, extended below).
CREATE OR REPLACE FUNCTION pulse_rebuild_campaign_orders(z text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  DELETE FROM rollup_campaign_order_day WHERE zone = z;
  INSERT INTO rollup_campaign_order_day (zone, day, site_key, referrer_key, utm_source, utm_medium, utm_campaign,
                                         currency, orders, revenue)
    SELECT z, (v.started_at AT TIME ZONE z)::date, v.site_key, coalesce(v.referrer_key, 0),
           coalesce(v.utm_source, ''), coalesce(v.utm_medium, ''), coalesce(v.utm_campaign, ''),
           CASE WHEN o.issue IS NULL THEN o.currency ELSE '' END, count(*), coalesce(sum(o.revenue), 0)
    FROM visit v JOIN fact_order o
      ON o.visitor = v.visitor AND o.event_time = ANY (v.successes)
    GROUP BY 2, 3, 4, 5, 6, 7, 8
    ORDER BY 2, 3, 4, 5, 6, 7, 8;
END
$$;
REVOKE ALL ON FUNCTION pulse_rebuild_campaign_orders(text) FROM PUBLIC;

-- pulse_rebuild_kpi_zone (migration 0012) calls it at its end: a wrapper keeps 0012's body as it is.
ALTER FUNCTION pulse_rebuild_kpi_zone(text) RENAME TO pulse_rebuild_kpi_zone_views;
CREATE FUNCTION pulse_rebuild_kpi_zone(z text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM pulse_rebuild_kpi_zone_views(z);
  PERFORM pulse_rebuild_campaign_orders(z);
END
$$;
REVOKE ALL ON FUNCTION pulse_rebuild_kpi_zone(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pulse_rebuild_kpi_zone_views(text) FROM PUBLIC;
