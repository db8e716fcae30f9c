package projections

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/seal"
	"github.com/spikeledger/spike/migrations"
)

// DefaultMaxVersions is the retention of a path created by an event that
// does not say (SPIKE's default).
const DefaultMaxVersions = 10

// Apply applies committed events, in order, in one transaction. The first
// must follow the last applied event; otherwise nothing is applied and the
// error wraps ErrOutOfOrder.
func (p *Projection) Apply(ctx context.Context, recs []eventlog.Record) error {
	return p.ApplyKnown(ctx, recs, nil)
}

// Known is what the builder of an event knows of it, so that applying
// its record need not recover that from the record: decoding a put's
// payload and resealing its value were a sixth of a put's cost in the
// projection.
type Known struct {
	// Payload is the payload the record's payload encodes, every string
	// in it valid UTF-8 (so that encoding lost nothing). Applying sets
	// its time to the record's.
	Payload events.Payload
	// Value is, for a written version, its value sealed by SealValue;
	// nil to reseal it from the record.
	Value []byte
}

// SealValue seals a written version's value under the projection key as
// Apply stores it, for Known.Value.
func (p *Projection) SealValue(path string, version int, plain []byte) []byte {
	return p.key.Seal(nil, plain, events.ValueAAD(path, version))
}

// ApplyKnown is Apply, given what the caller knows of some of the
// records, by seq: those it takes instead of decoding them.
func (p *Projection) ApplyKnown(ctx context.Context, recs []eventlog.Record, known map[uint64]Known) error {
	if len(recs) == 0 {
		return nil
	}
	prep := make([]prepared, len(recs))
	for i, r := range recs {
		var err error
		if k, ok := known[r.Seq]; ok {
			prep[i], err = p.prepareKnown(ctx, r, k)
		} else {
			prep[i], err = p.prepare(ctx, r)
		}
		if err != nil {
			return err
		}
	}
	p.writer.Lock()
	defer p.writer.Unlock()
	start := time.Now()
	err := p.applyLocked(ctx, p.db, prep)
	if err == nil {
		p.observer().Applied(len(prep), time.Since(start))
	}
	return asNoSpace(err)
}

// prepared is an event made ready to apply: decoded, and for a written
// version, its value resealed under the projection key. Preparing needs
// no database, so a rebuild prepares on one core while it applies on the
// other.
type prepared struct {
	rec   eventlog.Record
	pl    events.Payload
	value []byte
	// hist is the event's access-history row, and versions its versions
	// column: derived here, from the event alone, so that the core that
	// writes to SQLite (a rebuild's bottleneck) does not derive them.
	hist     history
	versions string
}

func (p *Projection) prepare(ctx context.Context, r eventlog.Record) (prepared, error) {
	pl, err := Decode(r)
	if err != nil {
		return prepared{}, fmt.Errorf("projection: seq %d (%s): %w", r.Seq, r.Type, err)
	}
	return p.prepareDecoded(ctx, r, pl, nil)
}

// prepareKnown prepares r from what its builder knows of it, or decodes
// it if that is not its payload's type and schema.
func (p *Projection) prepareKnown(ctx context.Context, r eventlog.Record, k Known) (prepared, error) {
	if k.Payload == nil || k.Payload.Type() != r.Type || k.Payload.Schema() != r.Schema {
		return p.prepare(ctx, r)
	}
	k.Payload.EventMeta().Time = r.Time
	return p.prepareDecoded(ctx, r, k.Payload, k.Value)
}

// prepareDecoded prepares r, decoded as pl; value is a written version's
// value already sealed under the projection key, or nil to reseal it.
func (p *Projection) prepareDecoded(ctx context.Context, r eventlog.Record, pl events.Payload, value []byte) (prepared, error) {
	h := historyOf(pl)
	pr := prepared{rec: r, pl: pl, hist: h, versions: joinVersions(h.versions)}
	if w, ok := pl.(*events.SecretVersionWritten); ok {
		pr.value = value
		if value == nil {
			var err error
			if pr.value, err = p.reseal(ctx, w); err != nil {
				return prepared{}, fmt.Errorf("projection: seq %d (%s): %w", r.Seq, r.Type, err)
			}
		}
	}
	pr.rec.Payload = nil // decoded; the plaintext payload is not needed further
	return pr, nil
}

func (p *Projection) applyLocked(ctx context.Context, db *sql.DB, recs []prepared) error {
	pos := p.position()
	if p.names.db != db {
		p.names.merge(db, nil) // names cached for another database are not ids here
	}
	changes := !recordsOnly(recs)
	if changes {
		// Before and after the commit: no row read before it is kept.
		p.cache.invalidate()
		defer p.cache.invalidate()
	}
	tx, err := p.begin(ctx, db)
	if err != nil {
		return fmt.Errorf("projection apply: %w", err)
	}
	defer tx.Rollback()
	// The statements run under a context that is never done: the driver
	// starts a goroutine per statement to watch a context that can be,
	// which cost a rebuild more than some of the statements themselves.
	// Each statement is short; cancellation is checked between events
	// instead, and the transaction itself still ends with ctx.
	a := &applier{ctx: context.WithoutCancel(ctx), tx: tx, p: p, shared: db == p.db}
	defer a.close()
	for _, pr := range recs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("projection apply: %w", err)
		}
		r := pr.rec
		if r.Seq != pos.seq+1 && !(p.sparse && r.Seq > pos.seq) {
			return fmt.Errorf("%w: got seq %d after %d", ErrOutOfOrder, r.Seq, pos.seq)
		}
		if err := a.apply(pr); err != nil {
			return fmt.Errorf("projection apply seq %d (%s): %w", r.Seq, r.Type, err)
		}
		pos = position{seq: r.Seq, leaf: r.Leaf}
	}
	if err := a.flushHistory(); err != nil {
		return err
	}
	if err := a.exec(positionUpdate, pos.seq, pos.leaf[:]); err != nil {
		return fmt.Errorf("projection state: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("projection apply: commit: %w", err)
	}
	if db == p.db {
		p.commits.Add(1)
	}
	p.setPosition(pos)
	p.names.merge(db, a.newNames)
	// Prepare on the database what this transaction had to prepare for
	// itself, now that no transaction holds a connection (a memory
	// database has only one): the next apply binds them instead of
	// parsing the SQL again.
	for _, q := range a.missed {
		if _, err := p.stmt(ctx, q); err != nil {
			return fmt.Errorf("projection apply: prepare: %w", err)
		}
	}
	return nil
}

// begin starts a write transaction on db. On the projection's own file
// every write goes through one connection, kept for it: SQLite drops a
// connection's page cache when another connection has written since its
// last transaction, so writes taking turns over the pool's connections
// read their B-trees back from the log and the file every time (page
// fetches were 5 % of a put's server CPU at 8 callers; now under 2 %).
func (p *Projection) begin(ctx context.Context, db *sql.DB) (*sql.Tx, error) {
	if db != p.db || p.path == "" {
		// A rebuild's scratch file has one connection; in memory, the
		// only connection serves reads too and must not be kept.
		return db.BeginTx(ctx, nil)
	}
	if p.wconn == nil {
		c, err := db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		p.wconn = c
	}
	tx, err := p.wconn.BeginTx(ctx, nil)
	if err != nil {
		// Perhaps the connection broke: the next write takes another.
		// Closing it alone would return it to the pool, which hands the
		// most recently returned connection out first; reporting it bad
		// makes the pool close it instead.
		p.wconn.Raw(func(any) error { return driver.ErrBadConn })
		p.wconn.Close()
		p.wconn = nil
	}
	return tx, err
}

// nameCache remembers interned names of one database. It is used only
// under the projection's writer lock.
type nameCache struct {
	db  *sql.DB
	ids map[string]int64
}

// merge adds names committed to db, starting over if db changed (a
// rebuild) or the cache grew past its bound.
func (c *nameCache) merge(db *sql.DB, names map[string]int64) {
	if c.db != db || len(c.ids)+len(names) > maxCachedNames {
		c.db, c.ids = db, make(map[string]int64, len(names))
	}
	for n, id := range names {
		c.ids[n] = id
	}
}

func (p *Projection) position() position {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.last
}

func (p *Projection) setPosition(pos position) {
	p.mu.Lock()
	p.last = pos
	p.mu.Unlock()
}

// Decode turns a record into its domain payload, upcasting older schemas,
// with the event's time from the log header.
func Decode(r eventlog.Record) (events.Payload, error) {
	schema, payload, err := migrations.Upcast(r.Type, r.Schema, r.Payload)
	if err != nil {
		return nil, err
	}
	pl, err := events.Decode(r.Type, schema, payload)
	if err != nil {
		return nil, err
	}
	pl.EventMeta().Time = r.Time
	return pl, nil
}

// applier applies events within one transaction.
type applier struct {
	ctx context.Context // never done: see applyLocked
	tx  *sql.Tx
	p   *Projection
	// stmts caches prepared statements for the transaction: parsing SQL
	// was half the cost of a rebuild.
	stmts map[string]*sql.Stmt
	// shared is set when tx is on the projection's own database, whose
	// statements outlive transactions; missed lists the queries it had
	// none for yet.
	shared bool
	missed []string
	// hist holds access-history rows not yet inserted, flattened.
	hist []any
	// names interned by this transaction, not yet in p.names.
	newNames map[string]int64
}

// maxCachedNames bounds the interned-name cache; past it the cache starts
// over and misses are looked up in the database.
const maxCachedNames = 100_000

// intern returns the id of name in the names table, adding it if new.
func (a *applier) intern(name string) (int64, error) {
	if id, ok := a.p.names.ids[name]; ok {
		return id, nil
	}
	if id, ok := a.newNames[name]; ok {
		return id, nil
	}
	// A rebuild misses once per name (every actor and path): the two
	// statements are prepared once per transaction, not per miss.
	var id int64
	row, err := a.queryRow("SELECT id FROM names WHERE name = ?", name)
	if err == nil {
		err = row.Scan(&id)
	}
	if errors.Is(err, sql.ErrNoRows) {
		if row, err = a.queryRow("INSERT INTO names (name) VALUES (?) RETURNING id", name); err == nil {
			err = row.Scan(&id)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("intern name: %w", err)
	}
	if a.newNames == nil {
		a.newNames = map[string]int64{}
	}
	a.newNames[name] = id
	return id, nil
}

func (a *applier) exec(query string, args ...any) error {
	st, err := a.stmt(query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(a.ctx, args...)
	return err
}

// queryRow is exec for a statement that returns one row.
func (a *applier) queryRow(query string, args ...any) (*sql.Row, error) {
	st, err := a.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryRowContext(a.ctx, args...), nil
}

// stmt returns query prepared for the transaction, parsing it at most
// once per transaction (and, on the projection's own database, once).
func (a *applier) stmt(query string) (*sql.Stmt, error) {
	st, ok := a.stmts[query]
	if !ok {
		if shared, found := a.p.stmts.Load(query); a.shared && found {
			// Bound to this transaction's connection, where it is
			// already prepared: no parsing.
			st = a.tx.StmtContext(a.ctx, shared.(*sql.Stmt))
		} else {
			var err error
			if st, err = a.tx.PrepareContext(a.ctx, query); err != nil {
				return nil, err
			}
			if a.shared {
				a.missed = append(a.missed, query)
			}
		}
		if a.stmts == nil {
			a.stmts = map[string]*sql.Stmt{}
		}
		a.stmts[query] = st
	}
	return st, nil
}

func (a *applier) close() {
	for _, st := range a.stmts {
		st.Close()
	}
}

// history is the access-history row of one event.
type history struct {
	target   string
	version  int
	versions []int // every version concerned, when there are several
	outcome  string
	detail   string
	// paths are the rows, one per path, of an event about several
	// paths (a restore): each path's history shows the event.
	paths []pathHistory
}

// pathHistory is the row of one path of an event about several paths.
type pathHistory struct {
	target   string
	version  int
	versions []int
	detail   string
}

func (a *applier) apply(pr prepared) error {
	r, pl := pr.rec, pr.pl
	t := r.Time.UnixNano()
	if err := a.change(r.Seq, t, pl, pr.value); err != nil {
		return err
	}
	h := &pr.hist
	var err error
	m := pl.EventMeta()
	var ids [4]int64
	for i, n := range [4]string{m.Actor, r.Type, h.target, h.outcome} {
		if ids[i], err = a.intern(n); err != nil {
			return err
		}
	}
	for _, ph := range h.paths {
		if err := a.pathHistory(r.Seq, ph); err != nil {
			return err
		}
	}
	// int64, not uint64 or int: database/sql converts any other integer
	// type through reflection, once per value.
	a.hist = append(a.hist, int64(r.Seq), t, ids[0], m.RequestID, ids[1], ids[2], int64(h.version), ids[3], h.detail, pr.versions)
	if len(a.hist) == historyRowsPerInsert*historyColumns {
		return a.flushHistory()
	}
	return nil
}

// historyOf is the access-history row of an event. It reads nothing
// but the event, so that Replay answers from the log alone exactly what
// History answers from the database.
func historyOf(pl events.Payload) history {
	h := history{outcome: events.OutcomeOK}
	switch e := pl.(type) {
	case *events.SecretVersionWritten:
		h = history{target: e.Path, version: e.Version, outcome: events.OutcomeOK, detail: writtenDetail(e)}
	case *events.SecretVersionsDeleted:
		h = versionsHistory(e.Path, e.Versions)
		if len(e.Versions) == 0 {
			h.detail = "nothing to delete"
		}
	case *events.SecretVersionsUndeleted:
		h = versionsHistory(e.Path, e.Versions)
	case *events.SecretVersionsDestroyed:
		h = versionsHistory(e.Path, e.Versions)
	case *events.SecretMetadataUpdated:
		h = history{target: e.Path, outcome: events.OutcomeOK, detail: versionsDetail("pruned", e.Pruned)}
	case *events.SecretMetadataDeleted:
		h = history{target: e.Path, version: firstOf(e.Versions), versions: e.Versions, outcome: events.OutcomeOK,
			detail: strings.TrimSpace(versionsDetail("destroyed", e.Versions) + fmt.Sprintf(" last_version=%d", e.LastVersion))}
	case *events.SecretRead:
		h = history{target: e.Path, version: e.Version, outcome: e.Outcome, detail: e.Reason}
	case *events.AccessDenied:
		h = history{target: e.Path, outcome: events.OutcomeDenied, detail: strings.TrimSpace(e.Action + " " + e.Reason)}
	case *events.RequestRefused:
		h = history{target: e.Path, version: firstOf(e.Versions), versions: e.Versions, outcome: e.Outcome, detail: strings.TrimSpace(e.Action + " " + e.Reason)}
	case *events.RestorePointApplied:
		h = restoreHistory(e)
	case *events.PolicyPut:
		h.target = e.Name
	case *events.PolicyDeleted:
		h.target = e.Name
	case *events.CipherUsed:
		h = history{target: "spike/system/cipher", outcome: e.Outcome, detail: e.Operation}
	case *events.KeeperUnreachable:
		h = history{target: e.Keeper, outcome: events.OutcomeError, detail: e.Error}
	case *events.ShardsDistributed:
		h = distributed(e)
	case *events.RootKeyRecovered:
		h.detail = fmt.Sprintf("keepers=%s rejected=%s", strings.Join(e.Keepers, ","), strings.Join(e.Rejected, ","))
	case *events.ClusterMemberAdded:
		h = history{target: "spike/system/cluster/" + e.ID, outcome: events.OutcomeOK,
			detail: strings.TrimSpace(fmt.Sprintf("raft=%s api=%s", e.RaftAddress, e.APIAddress))}
	case *events.ClusterMemberRemoved:
		h = history{target: "spike/system/cluster/" + e.ID, outcome: events.OutcomeOK}
	}
	return h
}

// change applies what an event changes in the read model, beside its
// history row.
func (a *applier) change(seq uint64, t int64, pl events.Payload, value []byte) error {
	switch e := pl.(type) {
	case *events.SecretVersionWritten:
		return a.written(seq, t, e, value)
	case *events.SecretVersionsDeleted:
		if len(e.Versions) == 0 {
			return nil // a delete that found nothing to do changes nothing
		}
		when := t
		if e.Deleted != nil {
			when = e.Deleted.UnixNano()
		}
		return a.setVersions(e.Path, t, e.Versions, "UPDATE secrets SET deleted_time = ? WHERE path = ? AND version = ? AND destroyed = 0", when)
	case *events.SecretVersionsUndeleted:
		return a.setVersions(e.Path, t, e.Versions, "UPDATE secrets SET deleted_time = NULL WHERE path = ? AND version = ? AND destroyed = 0")
	case *events.SecretVersionsDestroyed:
		return a.setVersions(e.Path, t, e.Versions, "UPDATE secrets SET value = NULL, destroyed = 1 WHERE path = ? AND version = ?")
	case *events.SecretMetadataUpdated:
		return a.metadata(t, e)
	case *events.SecretMetadataDeleted:
		return a.removePath(e)
	case *events.PolicyPut:
		return a.policyPut(seq, t, e)
	case *events.PolicyDeleted:
		return a.exec("DELETE FROM policies WHERE name = ?", e.Name)
	}
	return nil
}

// versionsHistory is the row of a delete, undelete or destroy.
func versionsHistory(path string, vs []int) history {
	return history{target: path, version: firstOf(vs), versions: vs, outcome: events.OutcomeOK, detail: versionsDetail("versions", vs)}
}

// writtenDetail says how a version came to be written, and what it
// pruned.
func writtenDetail(e *events.SecretVersionWritten) string {
	var parts []string
	switch {
	case e.Via == "rollback":
		parts = append(parts, fmt.Sprintf("rollback from=%d", e.From))
	case e.Via != "":
		parts = append(parts, e.Via)
	}
	if d := versionsDetail("pruned", e.Pruned); d != "" {
		parts = append(parts, d)
	}
	return strings.Join(parts, " ")
}

// restoreHistory is the row of a restore: the point it restored to and
// what it changed. When it changed (or named) one path the row is that
// path's; otherwise each path it changed gets a row of its own.
func restoreHistory(e *events.RestorePointApplied) history {
	point := fmt.Sprintf("to seq %d (%s)", e.AsOfSeq, e.AsOfTime.UTC().Format(time.RFC3339Nano))
	h := history{outcome: events.OutcomeOK}
	switch {
	case len(e.Changes) == 1:
		h.target = e.Changes[0].Path
	case len(e.Changes) == 0 && len(e.Paths) == 1:
		h.target = e.Paths[0]
	}
	parts := []string{point}
	for _, c := range e.Changes {
		what := restoreChangeDetail(c)
		if c.Path == h.target {
			h.version, h.versions = c.Written, c.Deleted
			parts = append(parts, what)
			continue
		}
		parts = append(parts, c.Path+": "+what)
		h.paths = append(h.paths, pathHistory{target: c.Path, version: c.Written, versions: c.Deleted, detail: point + "; " + what})
	}
	switch {
	case len(e.Changes) > 0:
	case len(e.Paths) > 0:
		parts = append(parts, "for "+strings.Join(e.Paths, ", "))
	case e.Prefix != "":
		parts = append(parts, "for every path under "+e.Prefix)
	default:
		parts = append(parts, "for every path")
	}
	h.detail = strings.Join(parts, "; ")
	return h
}

func restoreChangeDetail(c events.RestoreChange) string {
	var what []string
	if c.Written > 0 {
		what = append(what, fmt.Sprintf("wrote version %d", c.Written))
	}
	if len(c.Deleted) > 0 {
		what = append(what, "deleted "+versionsDetail("versions", c.Deleted))
	}
	return strings.Join(what, ", ")
}

// pathHistory inserts the row of one path of an event about several.
func (a *applier) pathHistory(seq uint64, ph pathHistory) error {
	id, err := a.intern(ph.target)
	if err != nil {
		return err
	}
	if err := a.exec("INSERT INTO access_history_paths (target, seq, version, versions, detail) VALUES (?, ?, ?, ?, ?)",
		id, seq, ph.version, joinVersions(ph.versions), ph.detail); err != nil {
		return fmt.Errorf("access history of %s: %w", ph.target, err)
	}
	return nil
}

// History rows are inserted many per statement: one INSERT per event was
// the largest single cost of a rebuild. 100 rows × 9 columns stays under
// SQLite's default limit of 32766 bound parameters.
const (
	historyColumns       = 10
	historyRowsPerInsert = 100
)

func (a *applier) flushHistory() error {
	defer func() { a.hist = a.hist[:0] }()
	rows := a.hist
	// Insert in chunks of a few fixed sizes, so that a handful of
	// statements, each prepared once, serve every batch.
	for _, size := range historyChunks {
		for len(rows) >= size*historyColumns {
			if err := a.exec(historyInsert(size), rows[:size*historyColumns]...); err != nil {
				return fmt.Errorf("access history: %w", err)
			}
			rows = rows[size*historyColumns:]
		}
	}
	return nil
}

// historyChunks are the row counts of the history inserts, largest
// first; the last must be 1.
var historyChunks = [...]int{64, 16, 4, 1}

// historyInsert is the statement inserting n history rows.
func historyInsert(n int) string {
	return "INSERT INTO access_history (seq, time, actor, request_id, type, target, version, outcome, detail, versions) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?),", n), ",")
}

func firstOf(vs []int) int {
	if len(vs) == 0 {
		return 0
	}
	return vs[0]
}

func versionsDetail(label string, vs []int) string {
	if len(vs) == 0 {
		return ""
	}
	return label + "=" + joinVersions(vs)
}

// joinVersions is the versions column: "1,2,3", "" for none.
func joinVersions(vs []int) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func distributed(e *events.ShardsDistributed) history {
	h := history{outcome: events.OutcomeOK}
	var failed []string
	for _, r := range e.Results {
		if !r.OK {
			failed = append(failed, r.Keeper)
		}
	}
	if len(failed) > 0 {
		h.outcome = events.OutcomeError
		h.detail = "failed=" + strings.Join(failed, ",")
	}
	return h
}

// written stores a new version, prunes what it displaced and updates the
// path's metadata.
func (a *applier) written(seq uint64, t int64, e *events.SecretVersionWritten, value []byte) error {
	created := t
	if e.Created != nil {
		created = e.Created.UnixNano()
	}
	if err := a.exec("INSERT INTO secrets (path, version, value, created_time, deleted_time, destroyed, seq, value_key) VALUES (?, ?, ?, ?, NULL, 0, ?, ?)",
		e.Path, int64(e.Version), value, created, int64(seq), e.ValueKey); err != nil {
		return fmt.Errorf("store version %d: %w", e.Version, err)
	}
	maxVersions := e.MaxVersions
	if maxVersions <= 0 {
		maxVersions = DefaultMaxVersions
	}
	if err := a.prune(e.Path, e.Pruned); err != nil {
		return err
	}
	// The new version is readable, so it is the current one if it is the
	// highest: no need to scan the path's versions for that. Pruning only
	// removes the lowest versions, so only the oldest needs looking up.
	oldest := `CASE WHEN oldest_version = 0 OR oldest_version > ?2 THEN ?2 ELSE oldest_version END`
	if len(e.Pruned) > 0 {
		oldest = `(SELECT MIN(version) FROM secrets WHERE path = ?1 AND deleted_time IS NULL AND destroyed = 0)`
	}
	if err := a.exec(`INSERT INTO secret_metadata (path, current_version, oldest_version, max_versions, created_time, updated_time)
		VALUES (?1, ?2, ?2, ?3, ?4, ?4) ON CONFLICT (path) DO UPDATE SET
			updated_time = excluded.updated_time,
			current_version = MAX(current_version, ?2),
			oldest_version = `+oldest,
		e.Path, int64(e.Version), int64(maxVersions), t); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	return nil
}

// reseal opens a written value with its per-value key and seals it under
// the projection key. A value whose key was destroyed since is stored as
// NULL: it can no longer be read, by anyone.
func (p *Projection) reseal(ctx context.Context, e *events.SecretVersionWritten) ([]byte, error) {
	id, err := ulid.ParseStrict(e.ValueKey)
	if err != nil {
		return nil, fmt.Errorf("value key id: %w", err)
	}
	aad := events.ValueAAD(e.Path, e.Version)
	plain, err := p.log.OpenValue(ctx, id, e.Sealed, aad)
	if errors.Is(err, eventlog.ErrValueDestroyed) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open value of version %d: %w", e.Version, err)
	}
	defer seal.Zero(plain)
	return p.key.Seal(nil, plain, aad), nil
}

func (a *applier) prune(path string, versions []int) error {
	for _, v := range versions {
		if err := a.exec("DELETE FROM secrets WHERE path = ? AND version = ?", path, int64(v)); err != nil {
			return fmt.Errorf("prune version %d: %w", v, err)
		}
	}
	return nil
}

// Current and oldest are maintained incrementally above; recompute is the
// general form, for deletes, undeletes, destroys and metadata changes.

// setVersions runs query (whose last two parameters are path and version,
// after any extra leading ones) for every version, then updates metadata.
func (a *applier) setVersions(path string, t int64, versions []int, query string, lead ...any) error {
	for _, v := range versions {
		args := append(append([]any{}, lead...), path, v)
		if err := a.exec(query, args...); err != nil {
			return fmt.Errorf("version %d: %w", v, err)
		}
	}
	if err := a.exec("UPDATE secret_metadata SET updated_time = ? WHERE path = ?", t, path); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	return a.recompute(path)
}

// recompute sets a path's current and oldest versions: the highest and
// lowest versions that can still be read (0 when none can).
func (a *applier) recompute(path string) error {
	err := a.exec(`UPDATE secret_metadata SET
		current_version = COALESCE((SELECT MAX(version) FROM secrets WHERE path = ?1 AND deleted_time IS NULL AND destroyed = 0), 0),
		oldest_version  = COALESCE((SELECT MIN(version) FROM secrets WHERE path = ?1 AND deleted_time IS NULL AND destroyed = 0), 0)
		WHERE path = ?1`, path)
	if err != nil {
		return fmt.Errorf("current version: %w", err)
	}
	return nil
}

func (a *applier) metadata(t int64, e *events.SecretMetadataUpdated) error {
	var custom *string
	if e.CustomMetadata != nil {
		b, err := json.Marshal(*e.CustomMetadata)
		if err != nil {
			return err
		}
		s := string(b)
		custom = &s
	}
	var after *int64
	if e.DeleteVersionAfter != nil {
		n := int64(*e.DeleteVersionAfter / time.Nanosecond)
		after = &n
	}
	err := a.exec(`INSERT INTO secret_metadata (path, current_version, oldest_version, max_versions, created_time, updated_time, cas_required, delete_version_after, custom_metadata)
		VALUES (?1, 0, 0, COALESCE(?2, ?7), ?3, ?3, COALESCE(?4, 0), COALESCE(?5, 0), COALESCE(?6, '{}'))
		ON CONFLICT (path) DO UPDATE SET
			max_versions = COALESCE(?2, max_versions),
			updated_time = ?3,
			cas_required = COALESCE(?4, cas_required),
			delete_version_after = COALESCE(?5, delete_version_after),
			custom_metadata = COALESCE(?6, custom_metadata)`,
		e.Path, e.MaxVersions, t, e.CASRequired, after, custom, DefaultMaxVersions)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if err := a.prune(e.Path, e.Pruned); err != nil {
		return err
	}
	return a.recompute(e.Path)
}

// removePath removes a path's versions and settings, remembering the
// highest version it ever had (see VersionFloor).
func (a *applier) removePath(e *events.SecretMetadataDeleted) error {
	for _, q := range []string{"DELETE FROM secrets WHERE path = ?", "DELETE FROM secret_metadata WHERE path = ?"} {
		if err := a.exec(q, e.Path); err != nil {
			return fmt.Errorf("remove %s: %w", e.Path, err)
		}
	}
	err := a.exec(`INSERT INTO removed_paths (path, last_version) VALUES (?1, ?2)
		ON CONFLICT (path) DO UPDATE SET last_version = MAX(last_version, ?2)`, e.Path, e.LastVersion)
	if err != nil {
		return fmt.Errorf("remove %s: %w", e.Path, err)
	}
	return nil
}

// policyDetails is what a policy row seals.
type policyDetails struct {
	SpiffeIDPattern string   `json:"spiffe_id_pattern"`
	PathPattern     string   `json:"path_pattern"`
	Permissions     []string `json:"permissions"`
}

func policyAAD(name string) []byte { return []byte("spike/policy/v1\x00" + name) }

func (a *applier) policyPut(seq uint64, t int64, e *events.PolicyPut) error {
	b, err := json.Marshal(policyDetails{e.SpiffeIDPattern, e.PathPattern, e.Permissions})
	if err != nil {
		return err
	}
	sealed := a.p.key.Seal(nil, b, policyAAD(e.Name))
	err = a.exec(`INSERT INTO policies (name, details, created_time, updated_time, seq) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET details = excluded.details, updated_time = excluded.updated_time, seq = excluded.seq`,
		e.Name, sealed, t, t, seq)
	if err != nil {
		return fmt.Errorf("policy %s: %w", e.Name, err)
	}
	return nil
}
