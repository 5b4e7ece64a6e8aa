-- The six KPIs computed by scanning fact_event (the baseline, and the independent check of the rollups).
-- Same semantics as pulse.warehouse.kpis; event_date bounds let PostgreSQL prune the day partitions.
-- Parameters: start, end (UTC bounds of the local day), d0, d1 (UTC dates they touch), tz, views, bots,
-- country, product_id. Sections start with "-- name: <kpi>".

-- name: top-products
SELECT product_id, count(*)::bigint AS views
FROM fact_event
WHERE event_date BETWEEN %(d0)s AND %(d1)s AND event_time >= %(start)s AND event_time < %(end)s
  AND collection = ANY(%(views)s) AND (%(bots)s OR NOT is_bot) AND product_id IS NOT NULL
GROUP BY product_id ORDER BY views DESC, product_id ASC LIMIT 10;

-- name: top-countries
SELECT s.country_code, s.country_name AS country, count(*)::bigint AS views
FROM fact_event f JOIN dim_site s USING (site_key)
WHERE f.event_date BETWEEN %(d0)s AND %(d1)s AND f.event_time >= %(start)s AND f.event_time < %(end)s
  AND f.collection = ANY(%(views)s) AND (%(bots)s OR NOT f.is_bot)
  AND NOT s.is_noise AND s.country_name IS NOT NULL
GROUP BY s.country_code, s.country_name ORDER BY views DESC, country ASC LIMIT 10;

-- name: top-referrers
SELECT r.referrer_url, count(*)::bigint AS views
FROM fact_event f JOIN dim_referrer r USING (referrer_key)
WHERE f.event_date BETWEEN %(d0)s AND %(d1)s AND f.event_time >= %(start)s AND f.event_time < %(end)s
  AND f.collection = ANY(%(views)s) AND (%(bots)s OR NOT f.is_bot) AND r.referrer_url IS NOT NULL
GROUP BY r.referrer_url ORDER BY views DESC, r.referrer_url ASC LIMIT 5;

-- name: stores-by-country
SELECT f.store_id, count(*)::bigint AS views
FROM fact_event f JOIN dim_site s USING (site_key)
WHERE f.event_date BETWEEN %(d0)s AND %(d1)s AND f.event_time >= %(start)s AND f.event_time < %(end)s
  AND f.collection = ANY(%(views)s) AND (%(bots)s OR NOT f.is_bot)
  AND NOT s.is_noise AND f.store_id IS NOT NULL AND f.store_id <> ''
  AND (upper(s.country_code) = upper(%(country)s) OR lower(s.country_name) = lower(%(country)s))
GROUP BY f.store_id ORDER BY views DESC, f.store_id ASC;

-- name: product-hourly
SELECT h AS hour, count(f.event_id)::bigint AS views
FROM generate_series(0, 23) AS h
LEFT JOIN fact_event f
  ON extract(hour FROM f.event_time AT TIME ZONE %(tz)s)::int = h
 AND f.event_date BETWEEN %(d0)s AND %(d1)s AND f.event_time >= %(start)s AND f.event_time < %(end)s
 AND f.collection = ANY(%(views)s) AND (%(bots)s OR NOT f.is_bot) AND f.product_id = %(product_id)s
GROUP BY h ORDER BY h;

-- name: browser-os-hourly
SELECT 'by_browser' AS part, extract(hour FROM f.event_time AT TIME ZONE %(tz)s)::int AS hour,
       b.browser AS family, count(*)::bigint AS views
FROM fact_event f JOIN dim_browser b USING (browser_key)
WHERE f.event_date BETWEEN %(d0)s AND %(d1)s AND f.event_time >= %(start)s AND f.event_time < %(end)s
  AND f.collection = ANY(%(views)s) AND (%(bots)s OR NOT f.is_bot)
GROUP BY 1, 2, 3
UNION ALL
SELECT 'by_os', extract(hour FROM f.event_time AT TIME ZONE %(tz)s)::int, o.os, count(*)::bigint
FROM fact_event f JOIN dim_os o USING (os_key)
WHERE f.event_date BETWEEN %(d0)s AND %(d1)s AND f.event_time >= %(start)s AND f.event_time < %(end)s
  AND f.collection = ANY(%(views)s) AND (%(bots)s OR NOT f.is_bot)
GROUP BY 1, 2, 3
ORDER BY 1, 2, 4 DESC, 3 ASC;
