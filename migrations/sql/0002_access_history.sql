-- Every event, as an auditor sees it: who did what to which target, when,
-- with which outcome, and the seq that proves it.
CREATE TABLE access_history (
    seq        INTEGER PRIMARY KEY,
    time       INTEGER NOT NULL,   -- Unix nanoseconds
    actor      TEXT    NOT NULL,
    request_id TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    target     TEXT    NOT NULL,   -- secret path, policy name or keeper
    version    INTEGER NOT NULL,
    outcome    TEXT    NOT NULL,
    detail     TEXT    NOT NULL    -- e.g. versions=1,2 or the denied action
);
CREATE INDEX access_history_target ON access_history (target, seq);
CREATE INDEX access_history_actor  ON access_history (actor, seq);
-- No index on time: event times never decrease along seq, so a time range
-- is a seq range, found by binary search over the log.
