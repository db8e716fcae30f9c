package projections

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spikeledger/spike/events"
)

// stmt returns a prepared statement for query, prepared once per open
// database: parsing SQL on every read cost more than the read.
func (p *Projection) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := p.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := p.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// rowErr is a *sql.Row-like result for a failed prepare.
type row interface{ Scan(...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (p *Projection) queryRow(ctx context.Context, query string, args ...any) row {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

func (p *Projection) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// Errors of reads. Nexus maps all three to SPIKE's 404; extensions can
// tell them apart.
var (
	ErrNotFound         = errors.New("not found")
	ErrVersionDeleted   = errors.New("version is deleted")
	ErrVersionDestroyed = errors.New("version is destroyed")
	// ErrCorrupt means a stored value does not authenticate: the
	// database was altered. Delete it and Nexus rebuilds it.
	ErrCorrupt = errors.New("projection value does not authenticate")
)

// SecretVersion is one version of a secret, with its data in clear.
type SecretVersion struct {
	Path    string
	Version int
	Data    map[string]string
	Created time.Time
	Deleted *time.Time
}

// VersionInfo describes a version without its data.
type VersionInfo struct {
	Version   int
	Created   time.Time
	Deleted   *time.Time
	Destroyed bool
}

// SecretMetadata is a path's settings and every version it holds.
type SecretMetadata struct {
	Path               string
	CurrentVersion     int
	OldestVersion      int
	MaxVersions        int
	Created, Updated   time.Time
	CASRequired        bool
	DeleteVersionAfter time.Duration
	CustomMetadata     map[string]string
	Versions           []VersionInfo // ascending
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func optTime(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

// Secret returns version of path with its data; version 0 means the
// current version. Deleted and destroyed versions are errors.
func (p *Projection) Secret(ctx context.Context, path string, version int) (SecretVersion, error) {
	defer p.timed("secret")()
	if version < 0 {
		return SecretVersion{}, fmt.Errorf("version %d: %w", version, ErrNotFound)
	}
	if version == 0 {
		return p.current(ctx, path)
	}
	row, err := p.versionRow(ctx, path, version)
	if err != nil {
		return SecretVersion{}, err
	}
	return p.open(path, row)
}

// current reads the current version of path, from the cache when it can.
func (p *Projection) current(ctx context.Context, path string) (SecretVersion, error) {
	row, gen, ok := p.cache.get(path)
	if ok {
		return p.open(path, row)
	}
	var version int
	err := p.queryRow(ctx, "SELECT current_version FROM secret_metadata WHERE path = ?", path).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && version == 0) {
		return SecretVersion{}, fmt.Errorf("secret %q: %w", path, ErrNotFound)
	}
	if err != nil {
		return SecretVersion{}, fmt.Errorf("secret %q: %w", path, err)
	}
	if row, err = p.versionRow(ctx, path, version); err != nil {
		return SecretVersion{}, err
	}
	p.cache.put(gen, path, row)
	return p.open(path, row)
}

// versionRow reads a readable version's row: deleted and destroyed
// versions are errors.
func (p *Projection) versionRow(ctx context.Context, path string, version int) (cachedRow, error) {
	var (
		value     []byte
		created   int64
		deleted   sql.NullInt64
		destroyed bool
	)
	err := p.queryRow(ctx, "SELECT value, created_time, deleted_time, destroyed FROM secrets WHERE path = ? AND version = ?", path, version).
		Scan(&value, &created, &deleted, &destroyed)
	if errors.Is(err, sql.ErrNoRows) {
		return cachedRow{}, fmt.Errorf("secret %q version %d: %w", path, version, ErrNotFound)
	}
	if err != nil {
		return cachedRow{}, fmt.Errorf("secret %q: %w", path, err)
	}
	// Destroyed outranks deleted: a destroyed version can never come back,
	// a deleted one can be undeleted.
	switch {
	case destroyed || value == nil:
		return cachedRow{}, fmt.Errorf("secret %q version %d: %w", path, version, ErrVersionDestroyed)
	case deleted.Valid:
		return cachedRow{}, fmt.Errorf("secret %q version %d: %w", path, version, ErrVersionDeleted)
	}
	return cachedRow{version: version, created: created, sealed: value}, nil
}

// open unseals a row's value.
func (p *Projection) open(path string, row cachedRow) (SecretVersion, error) {
	data, err := p.openValue(path, row.version, row.sealed)
	if err != nil {
		return SecretVersion{}, err
	}
	return SecretVersion{Path: path, Version: row.version, Data: data, Created: fromNanos(row.created)}, nil
}

// ValueKey returns the id of the per-value key version of path was sealed
// under, for shredding it.
func (p *Projection) ValueKey(ctx context.Context, path string, version int) (string, error) {
	defer p.timed("value_key")()
	var id string
	err := p.queryRow(ctx, "SELECT value_key FROM secrets WHERE path = ? AND version = ?", path, version).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("secret %q version %d: %w", path, version, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("secret %q: %w", path, err)
	}
	return id, nil
}

// VersionData returns the data of any version that still has it, deleted
// or not: exports and restores carry soft-deleted versions along.
func (p *Projection) VersionData(ctx context.Context, path string, version int) (map[string]string, error) {
	defer p.timed("version_data")()
	var value []byte
	err := p.queryRow(ctx, "SELECT value FROM secrets WHERE path = ? AND version = ?", path, version).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("secret %q version %d: %w", path, version, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("secret %q: %w", path, err)
	}
	if value == nil {
		return nil, fmt.Errorf("secret %q version %d: %w", path, version, ErrVersionDestroyed)
	}
	return p.openValue(path, version, value)
}

func (p *Projection) openValue(path string, version int, sealed []byte) (map[string]string, error) {
	plain, err := p.key.Open(nil, sealed, events.ValueAAD(path, version))
	if err != nil {
		return nil, fmt.Errorf("secret %q version %d: %w", path, version, ErrCorrupt)
	}
	defer clear(plain)
	var data map[string]string
	if err := json.Unmarshal(plain, &data); err != nil {
		return nil, fmt.Errorf("secret %q version %d: value is not a JSON object of strings", path, version)
	}
	return data, nil
}

// Metadata returns a path's metadata and versions.
func (p *Projection) Metadata(ctx context.Context, path string) (SecretMetadata, error) {
	defer p.timed("metadata")()
	m := SecretMetadata{Path: path}
	var created, updated, after int64
	var custom string
	err := p.queryRow(ctx, `SELECT current_version, oldest_version, max_versions, created_time, updated_time,
		cas_required, delete_version_after, custom_metadata FROM secret_metadata WHERE path = ?`, path).
		Scan(&m.CurrentVersion, &m.OldestVersion, &m.MaxVersions, &created, &updated, &m.CASRequired, &after, &custom)
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("secret %q: %w", path, ErrNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("metadata %q: %w", path, err)
	}
	m.Created, m.Updated, m.DeleteVersionAfter = fromNanos(created), fromNanos(updated), time.Duration(after)
	if err := json.Unmarshal([]byte(custom), &m.CustomMetadata); err != nil {
		return m, fmt.Errorf("metadata %q: custom metadata: %w", path, err)
	}
	rows, err := p.query(ctx, "SELECT version, created_time, deleted_time, destroyed FROM secrets WHERE path = ? ORDER BY version", path)
	if err != nil {
		return m, fmt.Errorf("metadata %q: %w", path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var v VersionInfo
		var c int64
		var d sql.NullInt64
		if err := rows.Scan(&v.Version, &c, &d, &v.Destroyed); err != nil {
			return m, fmt.Errorf("metadata %q: %w", path, err)
		}
		v.Created, v.Deleted = fromNanos(c), optTime(d)
		m.Versions = append(m.Versions, v)
	}
	return m, rows.Err()
}

// scanStrings reads rows of one text column, and closes them; what
// names the query in its errors.
func scanStrings(rows *sql.Rows, what string) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// Paths returns every path that has metadata, sorted, including paths
// whose versions are all deleted (as SPIKE lists them).
func (p *Projection) Paths(ctx context.Context) ([]string, error) {
	defer p.timed("paths")()
	rows, err := p.query(ctx, "SELECT path FROM secret_metadata ORDER BY path")
	if err != nil {
		return nil, fmt.Errorf("list paths: %w", err)
	}
	return scanStrings(rows, "list paths")
}

// PathsWithDeleteAfter returns the paths whose versions are soft-deleted
// a fixed time after they are written (delete_version_after set).
func (p *Projection) PathsWithDeleteAfter(ctx context.Context) ([]string, error) {
	defer p.timed("paths_with_delete_after")()
	rows, err := p.query(ctx, "SELECT path FROM secret_metadata WHERE delete_version_after > 0 ORDER BY path")
	if err != nil {
		return nil, fmt.Errorf("retention paths: %w", err)
	}
	return scanStrings(rows, "retention paths")
}

// Stored reports whether a secret is, or was, stored at path: it has
// metadata, or a metadata delete removed it. Nexus asks it of a path
// with an empty segment, which only a legacy path may have.
func (p *Projection) Stored(ctx context.Context, path string) (bool, error) {
	defer p.timed("stored")()
	var one int
	err := p.queryRow(ctx, `SELECT 1 FROM secret_metadata WHERE path = ?
		UNION ALL SELECT 1 FROM removed_paths WHERE path = ? LIMIT 1`, path, path).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stored %q: %w", path, err)
	}
	return true, nil
}

// LegacyPaths counts the paths holding secrets that start or end with
// '/' or hold "//": stored before spike refused such paths (see
// api.StoredPathsRequest).
func (p *Projection) LegacyPaths(ctx context.Context) (int, error) {
	defer p.timed("legacy_paths")()
	var n int
	// GLOB, not LIKE: its match is exact and case-sensitive, and '/'
	// is no wildcard in either.
	err := p.queryRow(ctx, "SELECT count(*) FROM secret_metadata WHERE path GLOB '/*' OR path GLOB '*/' OR path GLOB '*//*'").Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("legacy paths: %w", err)
	}
	return n, nil
}

// VersionFloor returns the highest version a removed path ever had (0
// for a path never removed): a new version of it must be numbered
// above both this and every version it holds.
func (p *Projection) VersionFloor(ctx context.Context, path string) (int, error) {
	defer p.timed("version_floor")()
	var v int
	err := p.queryRow(ctx, "SELECT last_version FROM removed_paths WHERE path = ?", path).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("version floor %q: %w", path, err)
	}
	return v, nil
}

// Policy is an access policy in clear.
type Policy struct {
	Name             string
	SpiffeIDPattern  string
	PathPattern      string
	Permissions      []string
	Created, Updated time.Time
}

// Policy returns one policy by name.
func (p *Projection) Policy(ctx context.Context, name string) (Policy, error) {
	defer p.timed("policy")()
	ps, err := p.policies(ctx, "WHERE name = ?", name)
	if err != nil {
		return Policy{}, err
	}
	if len(ps) == 0 {
		return Policy{}, fmt.Errorf("policy %q: %w", name, ErrNotFound)
	}
	return ps[0], nil
}

// Policies returns every policy, sorted by name.
func (p *Projection) Policies(ctx context.Context) ([]Policy, error) {
	defer p.timed("policies")()
	return p.policies(ctx, "")
}

func (p *Projection) policies(ctx context.Context, where string, args ...any) ([]Policy, error) {
	rows, err := p.db.QueryContext(ctx, "SELECT name, details, created_time, updated_time FROM policies "+where+" ORDER BY name", args...)
	if err != nil {
		return nil, fmt.Errorf("policies: %w", err)
	}
	defer rows.Close()
	var out []Policy
	for rows.Next() {
		var pol Policy
		var sealed []byte
		var c, u int64
		if err := rows.Scan(&pol.Name, &sealed, &c, &u); err != nil {
			return nil, fmt.Errorf("policies: %w", err)
		}
		plain, err := p.key.Open(nil, sealed, policyAAD(pol.Name))
		if err != nil {
			return nil, fmt.Errorf("policy %q: %w", pol.Name, ErrCorrupt)
		}
		var d policyDetails
		if err := json.Unmarshal(plain, &d); err != nil {
			return nil, fmt.Errorf("policy %q: details: %w", pol.Name, err)
		}
		pol.SpiffeIDPattern, pol.PathPattern, pol.Permissions = d.SpiffeIDPattern, d.PathPattern, d.Permissions
		pol.Created, pol.Updated = fromNanos(c), fromNanos(u)
		out = append(out, pol)
	}
	return out, rows.Err()
}

// Access is one row of access history: one event, or, for an event
// about several paths read by path, its row for that path.
type Access struct {
	Seq       uint64
	Time      time.Time
	Actor     string
	RequestID string
	Type      string
	Target    string
	Version   int
	// Versions are every version the event concerns: those a delete,
	// undelete or destroy named, or Version alone.
	Versions []int
	Outcome  string
	Detail   string
}

// HistoryQuery filters access history. Empty fields match everything;
// the filters given must all hold.
type HistoryQuery struct {
	Target string // secret path, policy name or keeper
	// TargetPrefix keeps targets that start with it.
	TargetPrefix string
	Actor        string   // SPIFFE ID
	Type         string   // event type
	Types        []string // event types, any of (with Type, either matches)
	Outcome      string
	Outcomes     []string  // outcomes, any of (with Outcome, either matches)
	From         time.Time // inclusive
	To           time.Time // exclusive
	// After is the cursor: only events with a greater seq. Pass the
	// previous page's next value.
	After uint64
	// Limit is the page size; default 100, at most 1000. A page never
	// splits one event's rows (see [Projection.History]).
	Limit int
}

// historySelect reads history rows with their names resolved.
const historySelect = `SELECT h.seq, h.time, a.name, h.request_id, ty.name, tg.name, h.version, o.name, h.detail, h.versions
	FROM access_history h
	JOIN names a ON a.id = h.actor JOIN names ty ON ty.id = h.type
	JOIN names tg ON tg.id = h.target JOIN names o ON o.id = h.outcome`

// historyPathsSelect reads the per-path rows of events about several
// paths, shaped as historySelect's: the event's row with the path's
// target, version and detail. Its conditions on h apply unchanged.
const historyPathsSelect = `SELECT h.seq, h.time, a.name, h.request_id, ty.name, tg.name, x.version, o.name, x.detail, x.versions
	FROM access_history_paths x JOIN access_history h ON h.seq = x.seq
	JOIN names a ON a.id = h.actor JOIN names ty ON ty.id = h.type
	JOIN names tg ON tg.id = x.target JOIN names o ON o.id = h.outcome`

// nameIDs returns the ids of the names recorded, once each, leaving out
// names never recorded (they match nothing).
func (p *Projection) nameIDs(ctx context.Context, names []string) ([]any, error) {
	var ids []any
	seen := map[int64]bool{}
	for _, n := range names {
		var id int64
		err := p.queryRow(ctx, "SELECT id FROM names WHERE name = ?", n).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// MaxHistoryPage bounds a page of history.
const MaxHistoryPage = 1000

// History returns matching events in seq order, and the cursor for the
// next page (0 when this is the last). The rows of one event (a restore
// read by path has one per path) are never split across pages: a page
// can end before Limit rows, and an event with more matching rows than
// Limit comes whole, on a page of its own, which may be followed by an
// empty one.
func (p *Projection) History(ctx context.Context, q HistoryQuery) ([]Access, uint64, error) {
	defer p.timed("history")()
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	if limit > MaxHistoryPage {
		return nil, 0, fmt.Errorf("history: limit %d exceeds %d", limit, MaxHistoryPage)
	}
	plan, ok, err := p.planHistory(ctx, q)
	if err != nil {
		return nil, 0, fmt.Errorf("history: %w", err)
	}
	if !ok {
		return nil, 0, nil // a filter that matches nothing
	}
	out, err := p.readHistory(ctx, plan, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("history: %w", err)
	}
	if query, args, ok := plan.pathsSQL(limit + 1); ok {
		// A path's history also holds the events about several paths
		// that changed it (restores), kept apart in access_history_paths.
		more, err := p.historyRows(ctx, query, args)
		if err != nil {
			return nil, 0, fmt.Errorf("history: %w", err)
		}
		out = mergeBySeq(out, more)
	}
	if len(out) <= limit {
		return out, 0, nil
	}
	// The cursor is a seq, so a page must not end inside the rows of one
	// event (a restore, read by path, has a row per path): the next page
	// starts after that seq and would lose the rest. End the page before
	// the event the limit falls in, or, when that event alone fills the
	// page, return all of its rows.
	cut, last := limit, out[limit].Seq
	for cut > 0 && out[cut-1].Seq == last {
		cut--
	}
	if cut > 0 {
		return out[:cut], out[cut-1].Seq, nil
	}
	if out, err = p.historyEvent(ctx, plan, last); err != nil {
		return nil, 0, fmt.Errorf("history: %w", err)
	}
	return out, last, nil
}

// historyEvent returns every row of the event seq that matches plan.
func (p *Projection) historyEvent(ctx context.Context, plan historyPlan, seq uint64) ([]Access, error) {
	plan.lo, plan.hi, plan.hasHi = seq-1, seq, true
	out, err := p.readHistory(ctx, plan, 1)
	if err != nil {
		return nil, err
	}
	if query, args, ok := plan.pathsSQL(-1); ok { // SQLite: LIMIT -1 is none
		more, err := p.historyRows(ctx, query, args)
		if err != nil {
			return nil, err
		}
		out = mergeBySeq(out, more)
	}
	return out, nil
}

// readHistory reads the first n rows of the plan from access_history.
// A search driven by path or caller names the epochs it covers (see
// historyEpochBits), a batch at a time, until it has n rows or has
// passed the plan's end or the history's.
func (p *Projection) readHistory(ctx context.Context, plan historyPlan, n int) ([]Access, error) {
	if !plan.byEpoch() {
		query, args := plan.sql(n)
		return p.historyRows(ctx, query, args)
	}
	end := plan.hi
	if !plan.hasHi {
		last, ok, err := p.historyEnd(ctx)
		if err != nil || !ok {
			return nil, err
		}
		end = last
	}
	var out []Access
	err := forEpochs(plan.lo, end, func(epochs []any) (bool, error) {
		plan.epochs = epochs
		query, args := plan.sql(n - len(out))
		more, err := p.historyRows(ctx, query, args)
		out = append(out, more...)
		return len(out) < n, err
	})
	return out, err
}

// historyEpochBits sets the width of a history epoch: the rows of 2^16
// consecutive events. The indexes by path and by caller lead with the
// epoch, seq >> 16 (migration 0007), so that a commit of history rows
// touches one short run of each index instead of a page per path or
// caller. A read through them names its epochs, (h.seq >> 16) IN (…),
// and orders by epoch and then seq, which is seq order that SQLite can
// see the index gives: each epoch is one seek, rows come in order, and
// LIMIT stops the read (TestHistoryPlansUseIndexes). The width is the
// indexes': changing it takes a migration that rebuilds them, and
// historyEpochExpr must stay their expression, character for character,
// or SQLite will not use them (TestHistoryEpochExpr).
const (
	historyEpochBits  = 16
	historyEpochExpr  = "(h.seq >> 16)"
	historyEpochOrder = historyEpochExpr + ", h.seq"
	// maxEpochsPerRead bounds the epochs one statement names, each a
	// bound parameter: a billion events are 15,259 epochs.
	maxEpochsPerRead = 1024
)

// historyEpoch returns the epoch of seq.
func historyEpoch(seq uint64) uint64 { return seq >> historyEpochBits }

// forEpochs calls read with the epochs of the seqs in (lo, hi], in
// ascending batches, while it returns true and no error.
func forEpochs(lo, hi uint64, read func(epochs []any) (more bool, err error)) error {
	if hi <= lo {
		return nil
	}
	last := historyEpoch(hi)
	for e := historyEpoch(lo + 1); e <= last; {
		batch := make([]any, 0, min(last-e+1, maxEpochsPerRead))
		for ; e <= last && len(batch) < cap(batch); e++ {
			batch = append(batch, e)
		}
		more, err := read(batch)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// epochIn is the condition naming n epochs.
func epochIn(n int) string {
	if n == 1 {
		return historyEpochExpr + " = ?"
	}
	return historyEpochExpr + " IN (" + placeholders(n) + ")"
}

// placeholders returns n bound parameters for an IN list: "?,?,?".
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// historyEnd returns the greatest seq in the history; ok is false if it
// is empty.
func (p *Projection) historyEnd(ctx context.Context) (seq uint64, ok bool, err error) {
	var last sql.NullInt64
	if err := p.queryRow(ctx, "SELECT max(seq) FROM access_history").Scan(&last); err != nil {
		return 0, false, fmt.Errorf("history end: %w", err)
	}
	return uint64(last.Int64), last.Valid, nil
}

func (p *Projection) historyRows(ctx context.Context, query string, args []any) ([]Access, error) {
	rows, err := p.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Access
	for rows.Next() {
		var a Access
		var t int64
		var versions string
		if err := rows.Scan(&a.Seq, &t, &a.Actor, &a.RequestID, &a.Type, &a.Target, &a.Version, &a.Outcome, &a.Detail, &versions); err != nil {
			return nil, err
		}
		a.Time = fromNanos(t)
		var err error
		if a.Versions, err = splitVersions(versions); err != nil {
			return nil, fmt.Errorf("seq %d: %w", a.Seq, err)
		}
		if len(a.Versions) == 0 && a.Version > 0 {
			a.Versions = []int{a.Version}
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// mergeBySeq merges two lists each in seq order, keeping each list's
// order among rows of one seq: a is one row per event (access_history),
// b the per-path rows, several to a seq when an event changed several
// paths. An event with per-path rows has no target of its own, so no
// target filter matches both its own row and its per-path rows: a seq
// comes from one list only.
func mergeBySeq(a, b []Access) []Access {
	if len(b) == 0 {
		return a
	}
	out := make([]Access, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0].Seq < b[0].Seq {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// historyPlan is a history search made ready to run: a seq range and
// the filters, every name resolved to its id.
//
// History can be long (every read is an event), so a search must never
// read it all to fill a page. Each filter column has an index whose
// rows sort by seq within a key, so the first filter drives: for one id
// the page is a seek to the cursor in that index and a forward read;
// for several ids, one such read per id, each stopping after a page, and
// the smallest seqs of their union. The other filters are checked on the
// rows the driver reads, marked with a unary + so that SQLite does not
// pick their index instead. Without any filter the driver is the table
// itself, in seq order. The indexes by path and by caller sort by epoch
// first (see historyEpochBits): with one of them driving, a read names
// the epochs it covers, from the cursor's on, a batch at a time.
type historyPlan struct {
	lo      uint64 // seq > lo
	hi      uint64 // seq <= hi, when hasHi
	hasHi   bool
	filters []historyFilter // the first with ids drives
	// epochs are the epochs a read driven by path or caller covers
	// (see readHistory).
	epochs []any
}

// byEpoch reports whether the plan's driver is an index led by the
// epoch, so that each read names its epochs.
func (pl historyPlan) byEpoch() bool {
	if len(pl.filters) == 0 || pl.filters[0].sub != "" {
		return false
	}
	col := pl.filters[0].col
	return col == "target" || col == "actor"
}

// historyFilter is one column of access_history matching any of ids,
// or, when sub is set, any id that subquery returns (too many to bind).
type historyFilter struct {
	col     string
	ids     []any
	sub     string
	subArgs []any
}

// maxDriverIDs bounds the ids a driving filter reads one by one; a
// target prefix matching more names is checked as a subquery instead.
const maxDriverIDs = 64

// planHistory resolves q's names; ok is false when a filter names
// something never recorded, so nothing can match.
func (p *Projection) planHistory(ctx context.Context, q HistoryQuery) (plan historyPlan, ok bool, err error) {
	plan.lo = q.After
	if !q.From.IsZero() {
		// Event times never decrease along the log, so a time range is
		// a seq range: find its ends by binary search over the log
		// rather than keeping an index on time.
		lo, err := p.log.SeqAt(ctx, q.From.Add(-time.Nanosecond))
		if err != nil {
			return plan, false, err
		}
		plan.lo = max(plan.lo, lo)
	}
	if !q.To.IsZero() {
		hi, err := p.log.SeqAt(ctx, q.To.Add(-time.Nanosecond))
		if err != nil {
			return plan, false, err
		}
		if hi <= plan.lo {
			return plan, false, nil
		}
		plan.hi, plan.hasHi = hi, true
	}
	prefix := q.TargetPrefix
	if q.Target != "" && prefix != "" {
		if !strings.HasPrefix(q.Target, prefix) {
			return plan, false, nil
		}
		prefix = "" // the exact target says more
	}
	// In driving order: one path's history is short, one caller's
	// longer; an event type or outcome can cover most of the log.
	for _, f := range []struct {
		col    string
		names  []string
		prefix string
	}{
		{col: "target", names: nonEmpty(q.Target)},
		{col: "target", prefix: prefix},
		{col: "actor", names: nonEmpty(q.Actor)},
		{col: "type", names: append(nonEmpty(q.Type), q.Types...)},
		{col: "outcome", names: append(nonEmpty(q.Outcome), q.Outcomes...)},
	} {
		var hf historyFilter
		switch {
		case len(f.names) > 0:
			ids, err := p.nameIDs(ctx, f.names)
			if err != nil {
				return plan, false, err
			}
			hf = historyFilter{col: f.col, ids: ids}
		case f.prefix != "":
			if hf, err = p.prefixFilter(ctx, f.prefix); err != nil {
				return plan, false, err
			}
		default:
			continue
		}
		if hf.sub == "" && len(hf.ids) == 0 {
			return plan, false, nil
		}
		plan.filters = append(plan.filters, hf)
	}
	// The driver must be a filter of ids: move the first to the front.
	for i, f := range plan.filters {
		if f.sub == "" {
			copy(plan.filters[1:i+1], plan.filters[:i])
			plan.filters[0] = f
			break
		}
	}
	return plan, true, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// prefixFilter matches the targets that start with prefix: the names in
// [prefix, the next string after every string with that prefix), a
// range of the names index.
func (p *Projection) prefixFilter(ctx context.Context, prefix string) (historyFilter, error) {
	where, args := "name >= ?", []any{prefix}
	if end, ok := prefixEnd(prefix); ok {
		where, args = where+" AND name < ?", append(args, end)
	}
	rows, err := p.db.QueryContext(ctx, "SELECT id FROM names WHERE "+where+" LIMIT ?", append(args, maxDriverIDs+1)...)
	if err != nil {
		return historyFilter{}, err
	}
	defer rows.Close()
	f := historyFilter{col: "target"}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return historyFilter{}, err
		}
		f.ids = append(f.ids, id)
	}
	if err := rows.Err(); err != nil {
		return historyFilter{}, err
	}
	if len(f.ids) > maxDriverIDs {
		f.ids, f.sub, f.subArgs = nil, "SELECT id FROM names WHERE "+where, args
	}
	return f, nil
}

// prefixEnd returns the least string greater than every string that
// starts with prefix, in SQLite's byte order; ok is false if there is
// none (prefix is all 0xff bytes).
func prefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// sql returns the statement reading up to n rows of the plan.
func (pl historyPlan) sql(n int) (string, []any) {
	order := "h.seq"
	if pl.byEpoch() && len(pl.epochs) > 1 {
		// The same order, as SQLite can see the index gives it across
		// the epochs named; within one, it sees seq order as it is.
		order = historyEpochOrder
	}
	if len(pl.filters) == 0 || pl.filters[0].sub != "" || len(pl.filters[0].ids) == 1 {
		where, args := pl.where(-1)
		return historySelect + " WHERE " + where + " ORDER BY " + order + " LIMIT ?", append(args, n)
	}
	arms := make([]string, len(pl.filters[0].ids))
	var args []any
	for i := range arms {
		where, a := pl.where(i)
		arms[i] = "SELECT seq FROM (SELECT h.seq FROM access_history h WHERE " + where + " ORDER BY " + order + " LIMIT ?)"
		args = append(append(args, a...), n)
	}
	return historySelect + " WHERE h.seq IN (" + strings.Join(arms, " UNION ALL ") + ") ORDER BY h.seq LIMIT ?", append(args, n)
}

// pathsSQL returns the statement reading up to n per-path rows matching
// the plan, when it filters by target; ok is false otherwise. The target
// filter applies to the path's row (x.target), the others to the event's
// own. Per-path rows are few (one per path of a restore), and their
// primary key sorts by seq within a target; the rows of one seq come in
// path order. n < 0 reads them all.
func (pl historyPlan) pathsSQL(n int) (query string, args []any, ok bool) {
	conds, args := []string{"h.seq > ?"}, []any{pl.lo}
	if pl.hasHi {
		conds, args = append(conds, "h.seq <= ?"), append(args, pl.hi)
	}
	for _, f := range pl.filters {
		col := "+h." + f.col
		if f.col == "target" {
			col, ok = "x.target", true
		}
		switch {
		case f.sub != "":
			conds, args = append(conds, col+" IN ("+f.sub+")"), append(args, f.subArgs...)
		case len(f.ids) == 1:
			conds, args = append(conds, col+" = ?"), append(args, f.ids[0])
		default:
			conds, args = append(conds, col+" IN ("+placeholders(len(f.ids))+")"), append(args, f.ids...)
		}
	}
	return historyPathsSelect + " WHERE " + strings.Join(conds, " AND ") + " ORDER BY h.seq, tg.name LIMIT ?", append(args, n), ok
}

// where returns the conditions of one read: of the driver's id arm, or
// with arm -1, of the driver's only id (or of no driver).
func (pl historyPlan) where(arm int) (string, []any) {
	conds, args := []string{"h.seq > ?"}, []any{pl.lo}
	if pl.hasHi {
		conds, args = append(conds, "h.seq <= ?"), append(args, pl.hi)
	}
	if pl.byEpoch() {
		conds, args = append(conds, epochIn(len(pl.epochs))), append(args, pl.epochs...)
	}
	for i, f := range pl.filters {
		col := "+h." + f.col // checked, never driving
		switch {
		case i == 0 && f.sub == "" && arm >= 0:
			conds, args = append(conds, "h."+f.col+" = ?"), append(args, f.ids[arm])
		case i == 0 && f.sub == "" && len(f.ids) == 1:
			conds, args = append(conds, "h."+f.col+" = ?"), append(args, f.ids[0])
		case f.sub != "":
			conds, args = append(conds, col+" IN ("+f.sub+")"), append(args, f.subArgs...)
		case len(f.ids) == 1:
			conds, args = append(conds, col+" = ?"), append(args, f.ids[0])
		default:
			conds, args = append(conds, col+" IN ("+placeholders(len(f.ids))+")"), append(args, f.ids...)
		}
	}
	return strings.Join(conds, " AND "), args

}

// splitVersions reads the versions column ("1,2,3").
func splitVersions(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	out := make([]int, len(parts))
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("versions %q: %w", s, err)
		}
		out[i] = v
	}
	return out, nil
}
