-- The id of the per-version value key each version was sealed under, so
-- that pruning and destroy can shred exactly that key in the log.
ALTER TABLE secrets ADD COLUMN value_key TEXT NOT NULL DEFAULT '';
