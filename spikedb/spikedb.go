package spikedb

import (
	"errors"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Snapshot is the content of a SPIKE v0.8 database in clear.
type Snapshot struct {
	Secrets  []Secret // sorted by path when returned by Read
	Policies []Policy // sorted by name when returned by Read
}

// Secret is one secret path with its metadata and versions.
type Secret struct {
	Path     string
	Metadata Metadata
	Versions []Version // ascending by version number
}

// Version is one version of a secret. Created and Deleted keep nanosecond
// precision through the file.
type Version struct {
	Version int
	Data    map[string]string
	Created time.Time
	Deleted *time.Time // nil unless soft-deleted
}

// Metadata is a secret's version bookkeeping. SPIKE stores its times as
// Unix seconds, so Created and Updated keep only whole seconds.
type Metadata struct {
	CurrentVersion int // 0 when every version is deleted
	OldestVersion  int
	MaxVersions    int
	Created        time.Time
	Updated        time.Time
}

// Policy is one SPIKE access policy. SPIKE stores its times as Unix seconds,
// so Created and Updated keep only whole seconds.
type Policy struct {
	Name            string
	SpiffeIDPattern string
	PathPattern     string
	Permissions     []string
	Created         time.Time
	Updated         time.Time
}

var (
	// ErrWrongKey is returned by Read when the root key does not open the
	// first encrypted field of the file.
	ErrWrongKey = errors.New("wrong root key for this database")

	// ErrNotSpikeDB is returned by Read for a file that is not a SPIKE v0.8
	// database: not SQLite at all, or without SPIKE's tables and columns.
	ErrNotSpikeDB = errors.New("not a SPIKE v0.8 database")

	// ErrCorrupt is wrapped by every validation failure of a SPIKE v0.8
	// database once its schema and key are known good: oversized or
	// malformed fields, undecryptable rows, bad JSON, versions that
	// disagree with their metadata.
	ErrCorrupt = errors.New("invalid database content")

	// ErrInvalidSnapshot is wrapped by Write when the snapshot cannot be
	// written so that Read and SPIKE return it unchanged.
	ErrInvalidSnapshot = errors.New("invalid snapshot")
)

// KeySize is the size of a SPIKE root key: AES-256.
const KeySize = 32

// Size limits Read enforces before it loads a row, so a hostile file cannot
// make it allocate without bound.
const (
	maxDataSize   = 64 << 20 // secrets.encrypted_data
	maxPolicySize = 1 << 20  // each encrypted policy field
	maxMetaSize   = 64       // each encrypted metadata field: decimal int64 + GCM tag
	maxNameSize   = 64 << 10 // secret path, policy name
	nonceSize     = 12       // AES-GCM standard nonce
	gcmTagSize    = 16       // AES-GCM tag appended to each ciphertext
)

// ddl is SPIKE v0.8's schema, verbatim.
const ddl = `
CREATE TABLE IF NOT EXISTS policies (
    name TEXT PRIMARY KEY,
    nonce BLOB NOT NULL,
    encrypted_spiffe_id_pattern BLOB NOT NULL,
    encrypted_path_pattern BLOB NOT NULL,
    encrypted_permissions BLOB NOT NULL,
    created_time INTEGER NOT NULL,
    updated_time INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS secrets (
    path TEXT NOT NULL,
    version INTEGER NOT NULL,
    nonce BLOB NOT NULL,
    encrypted_data BLOB NOT NULL,
    created_time DATETIME NOT NULL,
    deleted_time DATETIME,
    PRIMARY KEY (path, version)
);
CREATE TABLE IF NOT EXISTS secret_metadata (
    path TEXT PRIMARY KEY,
    nonce BLOB NOT NULL,
    encrypted_current_version BLOB NOT NULL,
    encrypted_oldest_version BLOB NOT NULL,
    encrypted_created_time BLOB NOT NULL,
    encrypted_updated_time BLOB NOT NULL,
    encrypted_max_versions BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_secrets_path ON secrets(path);
CREATE INDEX IF NOT EXISTS idx_secrets_created_time ON secrets(created_time);
`

// table is one table of SPIKE's schema and the columns Read requires, with
// their declared types.
type table struct {
	name    string
	columns [][2]string // name, declared type
}

// schemaTables returns SPIKE v0.8's tables and their columns.
func schemaTables() []table {
	return []table{
		{"secret_metadata", [][2]string{
			{"path", "TEXT"},
			{"nonce", "BLOB"},
			{"encrypted_current_version", "BLOB"},
			{"encrypted_oldest_version", "BLOB"},
			{"encrypted_created_time", "BLOB"},
			{"encrypted_updated_time", "BLOB"},
			{"encrypted_max_versions", "BLOB"},
		}},
		{"secrets", [][2]string{
			{"path", "TEXT"},
			{"version", "INTEGER"},
			{"nonce", "BLOB"},
			{"encrypted_data", "BLOB"},
			{"created_time", "DATETIME"},
			{"deleted_time", "DATETIME"},
		}},
		{"policies", [][2]string{
			{"name", "TEXT"},
			{"nonce", "BLOB"},
			{"encrypted_spiffe_id_pattern", "BLOB"},
			{"encrypted_path_pattern", "BLOB"},
			{"encrypted_permissions", "BLOB"},
			{"created_time", "INTEGER"},
			{"updated_time", "INTEGER"},
		}},
	}
}
