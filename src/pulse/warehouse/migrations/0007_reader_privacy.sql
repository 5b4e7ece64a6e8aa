-- pulse warehouse, version 7: the dashboard role (pulse_reader) reads no per-person column of fact_event.
--
-- Per person: email_hash and device_hash (pseudonyms that join one person's events), ip_truncated,
-- user_id_db (the shop's customer id), order_id (one customer's order), key_search (free text a person
-- typed: names or phone numbers the redaction step cannot recognise) and extra (unmodelled fields, as sent
-- apart from redaction). The reader keeps every other column: the KPIs read the rollups, `pulse dq` and
-- `pulse canary` read ids, keys and times. Only the owner and the loader read the per-person columns.
--
-- Column privileges on the partitioned parent are what a query through fact_event checks; the daily
-- partitions carry no grant for the reader (pulse_ensure_fact_partitions creates them as the owner), so
-- reading a partition directly is refused. Columns added by later migrations need their own GRANT.
REVOKE SELECT ON fact_event FROM pulse_reader;

DO $$
DECLARE
  readable text;
BEGIN
  SELECT string_agg(quote_ident(column_name::text), ', ' ORDER BY ordinal_position) INTO readable
  FROM information_schema.columns
  WHERE table_schema = current_schema() AND table_name = 'fact_event'
    AND column_name NOT IN ('email_hash', 'device_hash', 'ip_truncated', 'user_id_db', 'order_id', 'key_search',
                            'extra');
  EXECUTE format('GRANT SELECT (%s) ON fact_event TO pulse_reader', readable);
END
$$;
