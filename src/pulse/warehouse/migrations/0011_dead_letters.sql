-- pulse warehouse, version 11: the dead-letter outbox and replay from quarantine.
--
-- 1. The outbox. Every quarantine row is written in its batch's transaction; the dead-letter publisher
--    (pulse.engines.dead_letters) produces it to `<topic>.dlq` and then sets dlq_published_at in a
--    transaction of its own. NULL means pending; rows of an upgraded warehouse start pending too.
ALTER TABLE quarantine ADD COLUMN dlq_published_at timestamptz;
CREATE INDEX quarantine_dlq_pending_idx ON quarantine (quarantine_id) WHERE dlq_published_at IS NULL;

-- 2. Replay (`pulse quarantine replay`): when a row was last run through the then-current rules and what
--    came of it. 'loaded': it passes now and its event is in the warehouse (marked in the transaction that
--    loaded it); 'rejected': it still fails, reason/stage/detail now say why.
ALTER TABLE quarantine ADD COLUMN replayed_at timestamptz;
ALTER TABLE quarantine ADD COLUMN replay_outcome text CHECK (replay_outcome IN ('loaded', 'rejected'));

GRANT UPDATE (dlq_published_at, replayed_at, replay_outcome, stage, reason, detail) ON quarantine TO pulse_loader;
GRANT SELECT (dlq_published_at, replayed_at, replay_outcome) ON quarantine TO pulse_reader;
