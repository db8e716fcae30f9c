package spikedb

import (
	"context"
	"crypto/cipher"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
)

const (
	insertMetadata = `INSERT INTO secret_metadata (path, nonce,
	encrypted_current_version, encrypted_oldest_version,
	encrypted_created_time, encrypted_updated_time, encrypted_max_versions)
	VALUES (?, ?, ?, ?, ?, ?, ?)`
	insertVersion = `INSERT INTO secrets (path, version, nonce, encrypted_data,
	created_time, deleted_time) VALUES (?, ?, ?, ?, ?, ?)`
	insertPolicy = `INSERT INTO policies (name, nonce, encrypted_spiffe_id_pattern,
	encrypted_path_pattern, encrypted_permissions, created_time, updated_time)
	VALUES (?, ?, ?, ?, ?, ?, ?)`
)

// sidecars are the files SQLite keeps beside a database while it writes.
func sidecars(path string) []string {
	return []string{path + "-journal", path + "-wal", path + "-shm"}
}

// Write creates a SPIKE v0.8 database file at path holding s, with every
// field SPIKE encrypts sealed under rootKey (32 bytes, used directly as
// SPIKE does). It refuses to overwrite an existing file, writes everything
// in one transaction, leaves the file with mode 0600 and durable on
// return, and removes the partial file on any error.
//
// Versions must be in ascending order and agree with their metadata; see
// Read for what that means. Metadata and policy times are stored as whole
// seconds.
func Write(ctx context.Context, path string, rootKey []byte, s Snapshot) error {
	if err := write(ctx, path, rootKey, &s); err != nil {
		return fmt.Errorf("spikedb: write %s: %w", path, err)
	}
	return nil
}

// write is Write without the error context.
func write(ctx context.Context, path string, rootKey []byte, s *Snapshot) (err error) {
	aead, err := newAEAD(rootKey)
	if err != nil {
		return err
	}
	if err := checkSnapshot(s); err != nil {
		return err
	}
	if err := createFile(path); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			removeFiles(path)
		}
	}()
	if err := writeDB(ctx, path, aead, s); err != nil {
		return err
	}
	return syncFile(path)
}

// createFile creates path, empty and with mode 0600, failing if it or a
// SQLite sidecar of it exists (a stale journal would be replayed into the
// new file).
func createFile(path string) error {
	for _, p := range sidecars(path) {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("create: %s exists or cannot be checked", p)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("create: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	return nil
}

// removeFiles removes a partly written database and its sidecars, which
// createFile found absent.
func removeFiles(path string) {
	for _, p := range append(sidecars(path), path) {
		_ = os.Remove(p) // best effort: the write already failed
	}
}

// syncFile flushes path and its directory entry to stable storage.
func syncFile(path string) error {
	for _, p := range []string{path, filepath.Dir(path)} {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("sync: %w", err)
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("sync %s: %w", p, err)
		}
	}
	return nil
}

// dsn is the modernc.org/sqlite name opening path in mode ("ro" or "rw"),
// as a SQLite URI so the mode applies and a missing file is never created.
func dsn(path, mode string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolve path: %w", err)
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: "mode=" + mode}
	return u.String(), nil
}

// writeDB fills the empty database at path and closes it.
func writeDB(ctx context.Context, path string, aead cipher.AEAD, s *Snapshot) error {
	name, err := dsn(path, "rw")
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", name)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	db.SetMaxOpenConns(1)
	if err := fill(ctx, db, aead, s); err != nil {
		db.Close()
		return err
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// fill creates SPIKE's schema and writes s in one transaction.
func fill(ctx context.Context, db *sql.DB, aead cipher.AEAD, s *Snapshot) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() // no-op after Commit
	if _, err := tx.ExecContext(ctx, ddl); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	w := writer{aead: aead, tx: tx}
	for i := range s.Secrets {
		if err := w.secret(ctx, &s.Secrets[i]); err != nil {
			return fmt.Errorf("secret %q: %w", abbreviate(s.Secrets[i].Path), err)
		}
	}
	for i := range s.Policies {
		if err := w.policy(ctx, &s.Policies[i]); err != nil {
			return fmt.Errorf("policy %q: %w", s.Policies[i].Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// writer seals rows and inserts them in one transaction.
type writer struct {
	aead cipher.AEAD
	tx   *sql.Tx
}

// secret writes a secret's metadata row and one row per version.
func (w *writer) secret(ctx context.Context, s *Secret) error {
	if err := w.metadata(ctx, s.Path, &s.Metadata); err != nil {
		return err
	}
	for i := range s.Versions {
		if err := w.version(ctx, s.Path, &s.Versions[i]); err != nil {
			return fmt.Errorf("version %d: %w", s.Versions[i].Version, err)
		}
	}
	return nil
}

// metadata writes a secret_metadata row: each field is decimal text sealed
// under the row's base nonce XORed with the field's salt.
func (w *writer) metadata(ctx context.Context, path string, m *Metadata) error {
	base, err := newNonce()
	if err != nil {
		return err
	}
	fields := []struct {
		salt  string
		value int64
	}{ // in the column order of insertMetadata
		{saltCurrentVersion, int64(m.CurrentVersion)},
		{saltOldestVersion, int64(m.OldestVersion)},
		{saltCreatedTime, m.Created.Unix()},
		{saltUpdatedTime, m.Updated.Unix()},
		{saltMaxVersions, int64(m.MaxVersions)},
	}
	args := []any{path, base}
	for _, f := range fields {
		nonce, err := fieldNonce(base, f.salt)
		if err != nil {
			return err
		}
		plain := []byte(strconv.FormatInt(f.value, 10))
		args = append(args, w.aead.Seal(nil, nonce, plain, nil))
	}
	if _, err := w.tx.ExecContext(ctx, insertMetadata, args...); err != nil {
		return fmt.Errorf("insert metadata: %w", err)
	}
	return nil
}

// version writes one secrets row: the JSON of the values sealed under a
// fresh nonce, and the times as DATETIME text.
func (w *writer) version(ctx context.Context, path string, v *Version) error {
	plain, err := encodeData(v.Data)
	if err != nil {
		return err
	}
	nonce, err := newNonce()
	if err != nil {
		return err
	}
	sealed := w.aead.Seal(nil, nonce, plain, nil)
	clear(plain)
	if len(sealed) > maxDataSize {
		return fmt.Errorf("%w: values exceed %d bytes", ErrInvalidSnapshot, maxDataSize-gcmTagSize)
	}
	var deleted any // NULL unless deleted
	if v.Deleted != nil {
		deleted = formatDatetime(*v.Deleted)
	}
	_, err = w.tx.ExecContext(ctx, insertVersion,
		path, int64(v.Version), nonce, sealed, formatDatetime(v.Created), deleted)
	if err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	return nil
}

// policy writes a policies row. SPIKE v0.8 seals all three fields under
// one nonce per row, and reads them back that way, so this must too: GCM
// nonce reuse under one key leaks the XOR of the three plaintexts and
// weakens their authentication. It is SPIKE's format, kept only so SPIKE
// can read the file (see the package documentation).
func (w *writer) policy(ctx context.Context, p *Policy) error {
	nonce, err := newNonce()
	if err != nil {
		return err
	}
	spiffeID := w.aead.Seal(nil, nonce, []byte(p.SpiffeIDPattern), nil)
	pathPattern := w.aead.Seal(nil, nonce, []byte(p.PathPattern), nil)
	perms := w.aead.Seal(nil, nonce, []byte(joinPermissions(p.Permissions)), nil)
	_, err = w.tx.ExecContext(ctx, insertPolicy, p.Name, nonce,
		spiffeID, pathPattern, perms, p.Created.Unix(), p.Updated.Unix())
	if err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	return nil
}
