-- Shicks schema version 3: the queue runner's "when is the next row due" stays cheap
-- however many rows wait. It used to take the minimum of an expression over every
-- row (a full scan per wake-up, which grows with a queue of deferred mail); it now
-- reads the first unclaimed row of this index and the few claimed ones.
ALTER TABLE relay_queue ADD INDEX IF NOT EXISTS ix_relay_queue_claim (claimed_until, next_attempt_at);
