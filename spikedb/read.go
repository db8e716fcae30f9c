package spikedb

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"time"
)

const (
	selectMetadata = `SELECT path, nonce, encrypted_current_version,
	encrypted_oldest_version, encrypted_created_time, encrypted_updated_time,
	encrypted_max_versions FROM secret_metadata ORDER BY path`
	selectVersions = `SELECT path, version, nonce, encrypted_data, created_time,
	deleted_time FROM secrets ORDER BY path, version`
	selectPolicies = `SELECT name, nonce, encrypted_spiffe_id_pattern,
	encrypted_path_pattern, encrypted_permissions, created_time, updated_time
	FROM policies ORDER BY name`
	selectColumns = `SELECT name, type FROM pragma_table_info(?)`
)

// Read opens the SPIKE v0.8 database file at path read-only and returns
// its content decrypted with rootKey.
//
// It checks the whole file: SPIKE's tables and columns (else ErrNotSpikeDB),
// the root key against the first encrypted field (else ErrWrongKey), and
// then every row (else ErrCorrupt): field sizes, nonces, decryption, the
// JSON of values, DATETIME text, and versions that agree with their
// metadata (at least one version per secret and none without metadata,
// version numbers from 1, the current version present unless 0, the
// oldest no later than the current). A database without rows reads as an
// empty Snapshot whatever the key.
func Read(ctx context.Context, path string, rootKey []byte) (Snapshot, error) {
	s, err := read(ctx, path, rootKey)
	if err != nil {
		return Snapshot{}, fmt.Errorf("spikedb: read %s: %w", path, err)
	}
	return s, nil
}

// read is Read without the error context.
func read(ctx context.Context, path string, rootKey []byte) (Snapshot, error) {
	aead, err := newAEAD(rootKey)
	if err != nil {
		return Snapshot{}, err
	}
	db, err := openReadOnly(path)
	if err != nil {
		return Snapshot{}, err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Snapshot{}, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() // read-only: nothing to keep
	if err := checkSchema(ctx, tx); err != nil {
		return Snapshot{}, err
	}
	if err := checkSizes(ctx, tx); err != nil {
		return Snapshot{}, err
	}
	r := reader{tx: tx, open: opener{aead: aead}}
	return r.snapshot(ctx)
}

// openReadOnly opens the existing regular file at path read-only.
func openReadOnly(path string) (*sql.DB, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: not a regular file", ErrNotSpikeDB)
	}
	name, err := dsn(path, "ro")
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", name)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// checkSchema reports whether SPIKE's tables exist with their columns and
// declared types. Extra columns are allowed.
func checkSchema(ctx context.Context, tx *sql.Tx) error {
	for _, want := range schemaTables() {
		got, err := tableColumns(ctx, tx, want.name)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: %w", ErrNotSpikeDB, err)
		}
		if len(got) == 0 {
			return fmt.Errorf("%w: no table %s", ErrNotSpikeDB, want.name)
		}
		for _, c := range want.columns {
			if typ, ok := got[c[0]]; !ok || !strings.EqualFold(typ, c[1]) {
				return fmt.Errorf("%w: table %s has no %s column %s", ErrNotSpikeDB, want.name, c[1], c[0])
			}
		}
	}
	return nil
}

// tableColumns maps the columns of table to their declared types.
func tableColumns(ctx context.Context, tx *sql.Tx, table string) (map[string]string, error) {
	rows, err := tx.QueryContext(ctx, selectColumns, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		cols[name] = typ
	}
	return cols, rows.Err()
}

// checkSizes finds any row with a field over its limit before a row is
// loaded, so a hostile file cannot make Read allocate without bound.
func checkSizes(ctx context.Context, tx *sql.Tx) error {
	checks := []struct {
		table, where string
		args         []any
	}{
		{"secrets", `octet_length(path) > ?1 OR octet_length(nonce) > ?2
			OR octet_length(encrypted_data) > ?3`,
			[]any{maxNameSize, nonceSize, maxDataSize}},
		{"secret_metadata", `octet_length(path) > ?1 OR octet_length(nonce) > ?2
			OR octet_length(encrypted_current_version) > ?3
			OR octet_length(encrypted_oldest_version) > ?3
			OR octet_length(encrypted_created_time) > ?3
			OR octet_length(encrypted_updated_time) > ?3
			OR octet_length(encrypted_max_versions) > ?3`,
			[]any{maxNameSize, nonceSize, maxMetaSize}},
		{"policies", `octet_length(name) > ?1 OR octet_length(nonce) > ?2
			OR octet_length(encrypted_spiffe_id_pattern) > ?3
			OR octet_length(encrypted_path_pattern) > ?3
			OR octet_length(encrypted_permissions) > ?3`,
			[]any{maxNameSize, nonceSize, maxPolicySize}},
	}
	for _, c := range checks {
		var n int64
		q := "SELECT count(*) FROM " + c.table + " WHERE " + c.where
		if err := tx.QueryRowContext(ctx, q, c.args...).Scan(&n); err != nil {
			return fmt.Errorf("check sizes in %s: %w", c.table, err)
		}
		if n > 0 {
			return fmt.Errorf("%w: table %s: %d row(s) with a field over its size limit", ErrCorrupt, c.table, n)
		}
	}
	return nil
}

// reader decrypts the rows of one read transaction.
type reader struct {
	tx   *sql.Tx
	open opener
}

// snapshot reads metadata first (its first field proves the key), then the
// versions and policies, and checks each secret.
func (r *reader) snapshot(ctx context.Context) (Snapshot, error) {
	secrets, err := r.metadata(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	if err := r.versions(ctx, secrets); err != nil {
		return Snapshot{}, err
	}
	for i := range secrets {
		if err := checkSecret(&secrets[i]); err != nil {
			return Snapshot{}, fmt.Errorf("%w: secret %q: %w", ErrCorrupt, abbreviate(secrets[i].Path), err)
		}
	}
	policies, err := r.policies(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	return Snapshot{Secrets: secrets, Policies: policies}, nil
}

// metadata reads every secret_metadata row, in path order.
func (r *reader) metadata(ctx context.Context) ([]Secret, error) {
	rows, err := r.tx.QueryContext(ctx, selectMetadata)
	if err != nil {
		return nil, fmt.Errorf("query secret_metadata: %w", err)
	}
	defer rows.Close()
	var secrets []Secret
	for rows.Next() {
		s, err := r.metadataRow(rows)
		if err != nil {
			return nil, err
		}
		secrets = append(secrets, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read secret_metadata: %w", err)
	}
	return secrets, nil
}

// metadataRow decrypts one secret_metadata row into a Secret without
// versions.
func (r *reader) metadataRow(rows *sql.Rows) (Secret, error) {
	var (
		s     Secret
		base  []byte
		cur   []byte
		old   []byte
		ctime []byte
		utime []byte
		maxv  []byte
	)
	if err := rows.Scan(&s.Path, &base, &cur, &old, &ctime, &utime, &maxv); err != nil {
		return Secret{}, fmt.Errorf("%w: secret_metadata row: %w", ErrCorrupt, err)
	}
	fields := []struct {
		salt string
		ct   []byte
	}{
		{saltCurrentVersion, cur}, {saltOldestVersion, old}, {saltMaxVersions, maxv},
		{saltCreatedTime, ctime}, {saltUpdatedTime, utime},
	}
	var n [5]int64
	for i, f := range fields {
		v, err := r.open.openMetaField(base, f.salt, f.ct)
		if err != nil {
			return Secret{}, fmt.Errorf("secret %q metadata: %w", abbreviate(s.Path), err)
		}
		n[i] = v
	}
	m, err := metadataFrom(n)
	if err != nil {
		return Secret{}, fmt.Errorf("secret %q metadata: %w", abbreviate(s.Path), err)
	}
	s.Metadata = m
	return s, nil
}

// metadataFrom builds Metadata from its decrypted fields: current, oldest
// and maximum version, created and updated Unix seconds.
func metadataFrom(n [5]int64) (Metadata, error) {
	var m Metadata
	var err error
	for i, dst := range []*int{&m.CurrentVersion, &m.OldestVersion, &m.MaxVersions} {
		if *dst, err = parseVersionNumber(n[i]); err != nil {
			return Metadata{}, err
		}
	}
	m.Created = time.Unix(n[3], 0).UTC()
	m.Updated = time.Unix(n[4], 0).UTC()
	return m, nil
}

// versions reads every secrets row, in path and version order, into the
// secret with the same path.
func (r *reader) versions(ctx context.Context, secrets []Secret) error {
	index := make(map[string]int, len(secrets))
	for i := range secrets {
		index[secrets[i].Path] = i
	}
	rows, err := r.tx.QueryContext(ctx, selectVersions)
	if err != nil {
		return fmt.Errorf("query secrets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		path, v, err := r.versionRow(rows)
		if err != nil {
			return err
		}
		i, ok := index[path]
		if !ok {
			return fmt.Errorf("%w: secret %q has versions but no metadata", ErrCorrupt, abbreviate(path))
		}
		secrets[i].Versions = append(secrets[i].Versions, v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read secrets: %w", err)
	}
	return nil
}

// versionRow decrypts one secrets row.
func (r *reader) versionRow(rows *sql.Rows) (string, Version, error) {
	var (
		path             string
		version          int64
		nonce, sealed    []byte
		created, deleted any
	)
	if err := rows.Scan(&path, &version, &nonce, &sealed, &created, &deleted); err != nil {
		return "", Version{}, fmt.Errorf("%w: secrets row: %w", ErrCorrupt, err)
	}
	v, err := r.decodeVersion(version, nonce, sealed, created, deleted)
	if err != nil {
		return "", Version{}, fmt.Errorf("secret %q version %d: %w", abbreviate(path), version, err)
	}
	return path, v, nil
}

// decodeVersion decrypts and parses the fields of one secrets row.
func (r *reader) decodeVersion(version int64, nonce, sealed []byte, created, deleted any) (Version, error) {
	if version < 1 || int64(int(version)) != version {
		return Version{}, fmt.Errorf("%w: version number out of range", ErrCorrupt)
	}
	v := Version{Version: int(version)}
	t, ok, err := decodeDatetime(created)
	if err != nil {
		return Version{}, fmt.Errorf("created_time: %w", err)
	}
	if !ok {
		return Version{}, fmt.Errorf("%w: created_time is NULL", ErrCorrupt)
	}
	v.Created = t
	del, ok, err := decodeDatetime(deleted)
	if err != nil {
		return Version{}, fmt.Errorf("deleted_time: %w", err)
	}
	if ok {
		v.Deleted = &del
	}
	plain, err := r.open.open(nonce, sealed)
	if err != nil {
		return Version{}, err
	}
	v.Data, err = decodeData(plain)
	clear(plain)
	return v, err
}

// policies reads every policies row, in name order.
func (r *reader) policies(ctx context.Context) ([]Policy, error) {
	rows, err := r.tx.QueryContext(ctx, selectPolicies)
	if err != nil {
		return nil, fmt.Errorf("query policies: %w", err)
	}
	defer rows.Close()
	var policies []Policy
	for rows.Next() {
		p, err := r.policyRow(rows)
		if err != nil {
			return nil, err
		}
		policies = append(policies, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read policies: %w", err)
	}
	return policies, nil
}

// policyRow decrypts one policies row: three fields under one shared
// nonce, as SPIKE v0.8 writes them.
func (r *reader) policyRow(rows *sql.Rows) (Policy, error) {
	var (
		p                      Policy
		nonce, id, path, perms []byte
		created, updated       int64
	)
	if err := rows.Scan(&p.Name, &nonce, &id, &path, &perms, &created, &updated); err != nil {
		return Policy{}, fmt.Errorf("%w: policies row: %w", ErrCorrupt, err)
	}
	var plain [3][]byte
	for i, ct := range [][]byte{id, path, perms} {
		b, err := r.open.open(nonce, ct)
		if err != nil {
			return Policy{}, fmt.Errorf("policy %q: %w", abbreviate(p.Name), err)
		}
		plain[i] = b
	}
	p.SpiffeIDPattern = string(plain[0])
	p.PathPattern = string(plain[1])
	p.Permissions = splitPermissions(string(plain[2]))
	p.Created = time.Unix(created, 0).UTC()
	p.Updated = time.Unix(updated, 0).UTC()
	return p, nil
}
