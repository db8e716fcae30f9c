-- Auditors search history by event type ("every shard export") and by
-- outcome ("every denial"): without these, such a search reads every
-- row. Like the others, each index sorts its rows by seq within a key,
-- so a page is a seek to the cursor and a short forward read.
CREATE INDEX access_history_type    ON access_history (type);
CREATE INDEX access_history_outcome ON access_history (outcome);
