-- Projection state: which log this database follows and how far.
CREATE TABLE projection_state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    log_origin  TEXT    NOT NULL,
    last_seq    INTEGER NOT NULL,
    last_leaf   BLOB    NOT NULL,
    key_check   BLOB    NOT NULL
);

-- One row per secret version. value is sealed under the projection key
-- with (path, version) as associated data; NULL once destroyed.
CREATE TABLE secrets (
    path         TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    value        BLOB,
    created_time INTEGER NOT NULL,           -- Unix nanoseconds
    deleted_time INTEGER,                    -- Unix nanoseconds, NULL if live
    destroyed    INTEGER NOT NULL DEFAULT 0,
    seq          INTEGER NOT NULL,           -- event that wrote it
    PRIMARY KEY (path, version)
) WITHOUT ROWID;

CREATE TABLE secret_metadata (
    path            TEXT    PRIMARY KEY,
    current_version INTEGER NOT NULL,
    oldest_version  INTEGER NOT NULL,
    max_versions    INTEGER NOT NULL,
    created_time    INTEGER NOT NULL,
    updated_time    INTEGER NOT NULL
) WITHOUT ROWID;

-- details is sealed under the projection key with the name as associated
-- data: the SPIFFE ID pattern, path pattern and permissions.
CREATE TABLE policies (
    name         TEXT    PRIMARY KEY,
    details      BLOB    NOT NULL,
    created_time INTEGER NOT NULL,
    updated_time INTEGER NOT NULL,
    seq          INTEGER NOT NULL
) WITHOUT ROWID;
