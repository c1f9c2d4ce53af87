-- Shicks schema version 2: `shicksctl queue flush` reaches a row that is being sent.
-- A flush makes every row due at once, but a row leased to an attempt in progress
-- keeps its lease (it is never sent twice at once); flush_requested marks such a row,
-- and when that attempt ends deferred the row is due again at once instead of after
-- its backoff. The mark lives here, not in a daemon's memory, so that a flush through
-- one daemon reaches the attempt of another on the same database. A claim and a
-- recorded deferral clear it.
ALTER TABLE relay_queue ADD COLUMN IF NOT EXISTS flush_requested TINYINT(1) NOT NULL DEFAULT 0 AFTER claimed_until;
