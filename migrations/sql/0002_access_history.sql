-- Every event, as an auditor sees it: who did what to which target, when,
-- with which outcome, and the seq that proves it.
--
-- Actors, targets, event types and outcomes repeat endlessly, so they are
-- stored once in names and referred to by id: history rows and their
-- indexes stay small, and a rebuild binds integers instead of strings.
CREATE TABLE names (
    id   INTEGER PRIMARY KEY,
    name TEXT    NOT NULL UNIQUE
);

CREATE TABLE access_history (
    seq        INTEGER PRIMARY KEY,
    time       INTEGER NOT NULL,   -- Unix nanoseconds
    actor      INTEGER NOT NULL,   -- names.id of the caller's SPIFFE ID
    request_id TEXT    NOT NULL,
    type       INTEGER NOT NULL,   -- names.id of the event type
    target     INTEGER NOT NULL,   -- names.id of the secret path, policy name or keeper
    version    INTEGER NOT NULL,
    outcome    INTEGER NOT NULL,   -- names.id of the outcome
    detail     TEXT    NOT NULL    -- e.g. versions=1,2 or the denied action
);
-- Rows sort by seq (the rowid) within each key.
CREATE INDEX access_history_target ON access_history (target);
CREATE INDEX access_history_actor  ON access_history (actor);
-- No index on time: event times never decrease along seq, so a time range
-- is a seq range, found by binary search over the log.
