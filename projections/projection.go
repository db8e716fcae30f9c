package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/seal"
	"github.com/spikeledger/spike/migrations"
)

// Options configure a projection.
type Options struct {
	// Path is the database file. Empty with Memory unset is an error.
	Path string
	// Memory keeps the whole projection in RAM; it is rebuilt at every
	// open (SPIKE_NEXUS_PROJECTION=memory).
	Memory bool
	// Key is the 32-byte projection key (see KeyFromRoot). The caller
	// keeps ownership and may zero it after Open.
	Key []byte
	// Progress, if set, is called during a rebuild or long catch-up with
	// the events applied so far and the target.
	Progress func(done, total uint64)
	// Logger receives why a rebuild happened. Default slog.Default().
	Logger *slog.Logger
	// Observer, if set, hears of applies, queries and rebuilds.
	Observer Observer
}

// Projection is an open projection database following one event log.
// Reads are safe for concurrent use; Apply and CatchUp serialise.
type Projection struct {
	log    *eventlog.Log
	db     *sql.DB
	path   string // "" in memory
	key    *seal.AEAD
	opts   Options
	writer sync.Mutex // held by Apply/CatchUp

	mu   sync.RWMutex // guards last
	last position

	macKey []byte // seals the file at a clean close; nil in memory

	names nameCache // interned names, under writer
	stmts sync.Map  // query text → *sql.Stmt prepared on db
	cache currentCache

	// asOf marks a projection built AsOf: it stays at limit.
	asOf  bool
	limit uint64
	// sparse marks an as-of projection of a scope: it applies only the
	// events that changed its paths, so sequence numbers skip.
	sparse bool

	// wconn is the connection every apply to the file writes through
	// (see begin), under writer; nil until the first.
	wconn *sql.Conn
	// commits counts applies committed to db, for ckpt (disk only).
	commits atomic.Uint64
	ckpt    *checkpointer
}

// position is the last applied event.
type position struct {
	seq  uint64
	leaf [32]byte
}

// ErrOutOfOrder is returned by Apply for an event that is not the one
// after the last applied: applying an event twice, or skipping one, is
// impossible by construction.
var ErrOutOfOrder = errors.New("projection: event out of order")

const labelProjection seal.Label = "spike/projections/key/v1"

// KeyFromRoot derives the projection key from the root key. A new root
// key gives a new projection key, and the projection rebuilds itself.
func KeyFromRoot(rootKey []byte) ([]byte, error) {
	return seal.Derive(rootKey, nil, labelProjection)
}

// Open opens (creating or rebuilding as needed) the projection of log,
// which must be unlocked, and catches it up with the log's end.
func Open(ctx context.Context, log *eventlog.Log, opts Options) (*Projection, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Observer == nil {
		opts.Observer = noObserver{}
	}
	if !opts.Memory && opts.Path == "" {
		return nil, errors.New("projection: no path and not in memory")
	}
	if strings.ContainsAny(opts.Path, "?#") {
		return nil, fmt.Errorf("projection: path %q must not contain ? or #", opts.Path)
	}
	if log.Sealed() {
		return nil, fmt.Errorf("projection: %w", eventlog.ErrSealed)
	}
	key, err := newKey(opts.Key)
	if err != nil {
		return nil, err
	}
	p := &Projection{log: log, key: key, opts: opts, path: opts.Path}
	if !opts.Memory {
		if p.macKey, err = seal.Derive(opts.Key, nil, labelFileMAC); err != nil {
			return nil, err
		}
	}
	if opts.Memory {
		p.path = ""
		if p.db, err = openMemory(ctx); err != nil {
			return nil, err
		}
		if err := p.initState(ctx); err != nil {
			p.db.Close()
			return nil, err
		}
	} else if err := p.openDisk(ctx); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := p.CatchUp(ctx); err != nil {
		p.Close()
		return nil, err
	}
	if opts.Memory {
		// In memory every open is a rebuild.
		p.observer().Rebuilt(p.LastApplied(), time.Since(start))
	} else {
		p.startCheckpointer(p.db)
	}
	return p, nil
}

// openDisk opens the file, and rebuilds it when it cannot be trusted.
func (p *Projection) openDisk(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(p.path), 0o700); err != nil {
		return fmt.Errorf("projection directory: %w", err)
	}
	removeStale(p.path)
	reason, err := checkFileMAC(p.macKey, p.path)
	if err != nil {
		return err
	}
	var db *sql.DB
	if reason == "" {
		db, err = openFile(ctx, p.path, false)
		if err == nil {
			p.db = db
			reason, err = p.check(ctx)
		} else {
			reason = err.Error()
		}
	}
	if err != nil && reason == "" {
		if db != nil {
			db.Close()
		}
		return err
	}
	if reason == "" {
		return nil
	}
	level := slog.LevelWarn
	if reason == reasonNew {
		level = slog.LevelInfo // a first start, not a loss
	}
	p.opts.Logger.Log(ctx, level, "rebuilding projection from the event log", "path", p.path, "reason", reason)
	return p.rebuild(ctx)
}

// check decides whether the open database can be caught up. It returns a
// reason to rebuild, or an error that should stop Open.
// reasonNew is check's reason for a database with nothing in it yet.
const reasonNew = "new database"

func (p *Projection) check(ctx context.Context) (reason string, err error) {
	var ok string
	if err := p.db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&ok); err != nil || ok != "ok" {
		return fmt.Sprintf("database fails its integrity check (%v %s)", err, ok), nil
	}
	from, _, err := migrations.Apply(ctx, p.db)
	if err != nil {
		return "schema: " + err.Error(), nil
	}
	if from > 0 && from < migrations.Rederive {
		return fmt.Sprintf("schema upgraded from version %d: its rows were derived by an older build", from), nil
	}
	st, err := readState(ctx, p.db)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return reasonNew, nil
	case err != nil:
		return "state: " + err.Error(), nil
	case st.origin != p.log.Origin():
		return fmt.Sprintf("database follows log %s, not %s", st.origin, p.log.Origin()), nil
	}
	if _, err := p.key.Open(nil, st.keyCheck, []byte(keyCheckAAD)); err != nil {
		return "root key changed", nil
	}
	if st.seq > p.log.Size() {
		return fmt.Sprintf("database is at seq %d, beyond the log's end %d", st.seq, p.log.Size()), nil
	}
	if st.seq > 0 {
		rec, err := p.log.GetSealed(ctx, st.seq)
		if err != nil {
			return "", fmt.Errorf("projection: read log at %d: %w", st.seq, err)
		}
		if rec.Leaf != st.leaf {
			return fmt.Sprintf("event %d in the log differs from the one applied", st.seq), nil
		}
	}
	p.last = position{seq: st.seq, leaf: st.leaf}
	return "", nil
}

// dropStmts closes the prepared statements of the current database.
func (p *Projection) dropStmts() {
	p.cache.invalidate()
	p.stmts.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		p.stmts.Delete(k)
		return true
	})
}

func newKey(k []byte) (*seal.AEAD, error) {
	a, err := seal.New(k)
	if err != nil {
		return nil, fmt.Errorf("projection key: %w", err)
	}
	return a, nil
}

// Close closes the database. A file is checkpointed and sealed with a
// MAC, so that the next open can tell it is exactly as it was left.
func (p *Projection) Close() error {
	if p.db == nil {
		return nil
	}
	if p.ckpt != nil {
		p.ckpt.close()
		p.ckpt = nil
	}
	p.writer.Lock()
	defer p.writer.Unlock()
	if p.wconn != nil {
		p.wconn.Close()
		p.wconn = nil
	}
	p.dropStmts()
	var err error
	if p.path != "" && p.macKey != nil {
		_, err = p.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	}
	if cerr := p.db.Close(); err == nil {
		err = cerr
	}
	p.db = nil
	if err == nil && p.path != "" && p.macKey != nil {
		err = writeFileMAC(p.macKey, p.path)
	}
	seal.Zero(p.macKey)
	p.macKey = nil
	if err != nil {
		return fmt.Errorf("close projection: %w", err)
	}
	return nil
}

// LastApplied returns the sequence number of the last applied event.
func (p *Projection) LastApplied() uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.last.seq
}

// openFile opens a projection database file. bulk selects settings for a
// rebuild into a scratch file: no journal and no syncs until the end.
func openFile(ctx context.Context, path string, bulk bool) (*sql.DB, error) {
	pragmas := fmt.Sprintf("_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(%d)", walCheckpointPages)
	if bulk {
		pragmas = "_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_pragma=locking_mode(EXCLUSIVE)&_pragma=temp_store(MEMORY)"
	}
	dsn := "file:" + path + "?" + pragmas + "&_pragma=busy_timeout(10000)&_pragma=cache_size(-32768)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open projection %s: %w", path, err)
	}
	if bulk {
		db.SetMaxOpenConns(1)
	} else {
		db.SetMaxOpenConns(4)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open projection %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("projection %s: %w", path, err)
	}
	return db, nil
}

// openMemory opens a private in-memory database. One connection only: each
// connection to ":memory:" would be a different database.
func openMemory(ctx context.Context) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file::memory:?_pragma=cache_size(-32768)")
	if err != nil {
		return nil, fmt.Errorf("open memory projection: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if _, _, err := migrations.Apply(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("memory projection: %w", err)
	}
	return db, nil
}

// removeStale removes leftovers of an interrupted rebuild.
func removeStale(path string) {
	matches, _ := filepath.Glob(path + ".rebuild-*")
	for _, m := range matches {
		os.Remove(m)
	}
}
