-- pulse warehouse, version 8: the batch writes rollup DELTAS; a folder folds them into the rollups.
--
-- Before, every batch upserted ~2.4 rollup rows per event and updated the one load_state row: the cost
-- grew with the rollups and two writers serialised on shared rows. Now a batch transaction only appends
-- its pre-aggregated counts to the delta tables below (plain INSERTs into heaps without indexes) and one
-- row of totals to batch_delta: nothing any other writer touches. The folder (warehouse/folding.py, run
-- inside `pulse run` or alone as `pulse fold`) moves them into the rollups in its own short transactions.
--
-- Exactly once, by generations. A writer reads fold_state.generation FOR SHARE first in its transaction
-- and writes into the delta partition of slot generation % 4. The folder CLOSES a generation by
-- incrementing it: that UPDATE waits for every writer still holding the old one, so once it commits no
-- writer can add to the closed slot. It then FOLDS the closed slot (sum into the rollups and load_totals,
-- TRUNCATE the slot's partitions, advance fold_progress) in ONE transaction: a kill -9 anywhere leaves the
-- slot either folded and empty or untouched. A folder closes a generation only when every closed one is
-- folded, so at most two slots are in use (one closed, one open) and storage never bloats (TRUNCATE).

CREATE TABLE fold_state (
  id         boolean PRIMARY KEY DEFAULT true CHECK (id),
  generation bigint NOT NULL DEFAULT 1,        -- the open generation writers add to
  closed_at  timestamptz                       -- when generation - 1 was closed
);
INSERT INTO fold_state DEFAULT VALUES;

CREATE TABLE fold_progress (
  id                boolean PRIMARY KEY DEFAULT true CHECK (id),
  folded_generation bigint NOT NULL DEFAULT 0, -- every generation up to this one is in the rollups
  folded_through    timestamptz,               -- every batch committed before this time is in the rollups
  folded_at         timestamptz,
  folded_batches    bigint NOT NULL DEFAULT 0
);
INSERT INTO fold_progress DEFAULT VALUES;

-- load_state becomes the folded totals plus the batches not folded yet (a view: readers see exact totals).
ALTER TABLE load_state RENAME TO load_totals;

CREATE TABLE batch_delta (
  slot              smallint NOT NULL,
  events_loaded     bigint NOT NULL,
  duplicates_skipped bigint NOT NULL,
  quarantined       bigint NOT NULL,
  newest_event_time timestamptz,
  committed_at      timestamptz NOT NULL
) PARTITION BY LIST (slot);

CREATE TABLE rollup_product_delta (
  slot smallint NOT NULL, bucket timestamptz NOT NULL, collection text NOT NULL, is_bot boolean NOT NULL,
  product_id text NOT NULL, events bigint NOT NULL
) PARTITION BY LIST (slot);
CREATE TABLE rollup_site_store_delta (
  slot smallint NOT NULL, bucket timestamptz NOT NULL, collection text NOT NULL, is_bot boolean NOT NULL,
  site_key bigint NOT NULL, store_id text NOT NULL, events bigint NOT NULL
) PARTITION BY LIST (slot);
CREATE TABLE rollup_referrer_delta (
  slot smallint NOT NULL, bucket timestamptz NOT NULL, collection text NOT NULL, is_bot boolean NOT NULL,
  referrer_url text NOT NULL, events bigint NOT NULL
) PARTITION BY LIST (slot);
CREATE TABLE rollup_browser_os_delta (
  slot smallint NOT NULL, bucket timestamptz NOT NULL, collection text NOT NULL, is_bot boolean NOT NULL,
  browser text NOT NULL, os text NOT NULL, events bigint NOT NULL
) PARTITION BY LIST (slot);

-- Four slots a table (warehouse/rollups.py DELTA_SLOTS); the loader writes the partitions directly.
DO $$
DECLARE
  parent text;
  s int;
BEGIN
  FOREACH parent IN ARRAY ARRAY['batch_delta', 'rollup_product_delta', 'rollup_site_store_delta',
                                'rollup_referrer_delta', 'rollup_browser_os_delta'] LOOP
    FOR s IN 0..3 LOOP
      EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES IN (%s)', parent || '_' || s, parent, s);
      EXECUTE format('GRANT SELECT, INSERT, TRUNCATE ON %I TO pulse_loader', parent || '_' || s);
    END LOOP;
    EXECUTE format('GRANT SELECT ON %I TO pulse_loader', parent);
  END LOOP;
END
$$;

CREATE VIEW load_state AS
  SELECT t.events_loaded + coalesce(d.loaded, 0) AS events_loaded,
         t.duplicates_skipped + coalesce(d.duplicates, 0) AS duplicates_skipped,
         t.quarantined + coalesce(d.quarantined, 0) AS quarantined,
         t.batches + coalesce(d.batches, 0) AS batches,
         greatest(t.newest_event_time, d.newest) AS newest_event_time,
         greatest(t.last_commit_at, d.committed) AS last_commit_at
  FROM load_totals t
  CROSS JOIN (SELECT sum(events_loaded) AS loaded, sum(duplicates_skipped) AS duplicates,
                     sum(quarantined) AS quarantined, count(*) AS batches,
                     max(newest_event_time) AS newest, max(committed_at) AS committed
              FROM batch_delta) d;

-- The loader appends; the folder (loader role) closes generations and folds. Readers see progress.
GRANT SELECT ON fold_state TO pulse_loader, pulse_reader;
GRANT UPDATE (generation, closed_at) ON fold_state TO pulse_loader;
GRANT SELECT, UPDATE ON fold_progress TO pulse_loader;
GRANT SELECT ON fold_progress TO pulse_reader;
GRANT SELECT ON load_state TO pulse_loader, pulse_reader;
REVOKE INSERT ON load_totals FROM pulse_loader;
