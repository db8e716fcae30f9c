-- Every version a history row concerns, comma-separated ("1,2,3"): a
-- delete, undelete or destroy of several versions names them all, where
-- version keeps only the first. Rows derived before this column existed
-- have '' here: a database upgraded from an older schema is rebuilt
-- from the log (see Rederive in package migrations).
ALTER TABLE access_history ADD COLUMN versions TEXT NOT NULL DEFAULT '';

-- An event about several secret paths (a restore) has its row in
-- access_history and, here, one row per path it changed, so that each
-- path's history shows it. Rows sort by seq within each target.
CREATE TABLE access_history_paths (
    target   INTEGER NOT NULL,   -- names.id of the path
    seq      INTEGER NOT NULL,   -- the event's row in access_history
    version  INTEGER NOT NULL,   -- the version written there, 0 if none
    versions TEXT    NOT NULL,   -- every version concerned, comma-separated
    detail   TEXT    NOT NULL,
    PRIMARY KEY (target, seq)
) WITHOUT ROWID;

-- Paths removed by a metadata delete, with the highest version each ever
-- had: a later write to the path continues after it, so that no version
-- number is ever used twice.
CREATE TABLE removed_paths (
    path         TEXT    PRIMARY KEY,
    last_version INTEGER NOT NULL
) WITHOUT ROWID;
