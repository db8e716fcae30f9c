package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
)

// AsOf names a point in the log: a sequence number, or an instant (the
// state after the last event at or before it). Exactly one is set.
type AsOf struct {
	Seq  uint64
	Time time.Time
}

// Resolve turns an AsOf into a sequence number in log.
func (a AsOf) Resolve(ctx context.Context, log *eventlog.Log) (uint64, error) {
	switch {
	case a.Seq != 0 && !a.Time.IsZero():
		return 0, fmt.Errorf("as-of: give a seq or a time, not both")
	case a.Seq != 0:
		if a.Seq > log.Size() {
			return 0, fmt.Errorf("as-of: seq %d is beyond the log's end %d", a.Seq, log.Size())
		}
		return a.Seq, nil
	case !a.Time.IsZero():
		return log.SeqAt(ctx, a.Time)
	default:
		return log.Size(), nil
	}
}

// BuildAsOf builds a scratch projection of log up to at, in memory unless
// opts.Path names a new file. It never moves past that point: CatchUp on
// it does nothing more. Close it when done (and remove the file, if any).
func BuildAsOf(ctx context.Context, log *eventlog.Log, at AsOf, opts Options) (*Projection, error) {
	seq, err := at.Resolve(ctx, log)
	if err != nil {
		return nil, err
	}
	key, err := newKey(opts.Key)
	if err != nil {
		return nil, err
	}
	p := &Projection{log: log, key: key, opts: opts, asOf: true, limit: seq}
	if opts.Path == "" || opts.Memory {
		if p.db, err = openMemory(ctx); err != nil {
			return nil, err
		}
		if err := p.initState(ctx); err != nil {
			p.db.Close()
			return nil, err
		}
		if seq > 0 {
			p.writer.Lock()
			err = p.applyRange(ctx, p.db, seq, rebuildBatch)
			p.writer.Unlock()
		}
	} else {
		p.path = opts.Path
		if _, serr := os.Stat(opts.Path); serr == nil {
			return nil, fmt.Errorf("as-of: %s already exists", opts.Path)
		}
		if err = os.MkdirAll(filepath.Dir(opts.Path), 0o700); err == nil {
			err = p.buildInto(ctx, opts.Path, seq)
		}
		if err == nil {
			p.db, err = openFile(ctx, opts.Path, false)
		}
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("as-of %d: %w", seq, err)
	}
	return p, nil
}

// Scope names the secret paths an as-of state is wanted for: Paths, or
// every path that starts with Prefix. The zero Scope is every path.
type Scope struct {
	Prefix string
	Paths  []string
}

// All reports whether the scope is every path.
func (s Scope) All() bool { return s.Prefix == "" && len(s.Paths) == 0 }

// Has reports whether path is in the scope.
func (s Scope) Has(path string) bool {
	if len(s.Paths) > 0 {
		return slices.Contains(s.Paths, path)
	}
	return strings.HasPrefix(path, s.Prefix)
}

// where is the SQL condition on column col (a path) of the scope, and
// its arguments.
func (s Scope) where(col string) (string, []any) {
	switch {
	case len(s.Paths) > 0:
		args := make([]any, len(s.Paths))
		for i, p := range s.Paths {
			args[i] = p
		}
		return col + " IN (" + placeholders(len(s.Paths)) + ")", args
	case s.Prefix != "":
		if end, ok := prefixEnd(s.Prefix); ok {
			return col + " >= ? AND " + col + " < ?", []any{s.Prefix, end}
		}
		return col + " >= ?", []any{s.Prefix}
	}
	return "1", nil
}

// secretChanges is the condition on access_history's type column that
// keeps the events that change a path's secret state (not reads,
// denials or refusals, which only record).
func secretChanges() string {
	types := []string{
		(*events.SecretVersionWritten)(nil).Type(), (*events.SecretVersionsDeleted)(nil).Type(),
		(*events.SecretVersionsUndeleted)(nil).Type(), (*events.SecretVersionsDestroyed)(nil).Type(),
		(*events.SecretMetadataUpdated)(nil).Type(), (*events.SecretMetadataDeleted)(nil).Type(),
	}
	return "h.type IN (SELECT id FROM names WHERE name IN ('" + strings.Join(types, "', '") + "'))"
}

// BuildAsOfScope builds a scratch in-memory projection of the secrets in
// scope as they were at seq (policies are left out). It replays only the
// events that changed those paths, which live's access history indexes
// by path: a restore of one prefix on a long log reads that prefix's
// events, not the whole log. live must follow the same log and have
// applied seq; if it has not, or the scope is every path, the whole log
// up to seq is replayed, as BuildAsOf does.
func BuildAsOfScope(ctx context.Context, live *Projection, seq uint64, scope Scope, opts Options) (*Projection, error) {
	if scope.All() || live.LastApplied() < seq {
		return BuildAsOf(ctx, live.log, AsOf{Seq: seq}, opts)
	}
	seqs, err := live.changeSeqs(ctx, scope, seq)
	if err != nil {
		return nil, fmt.Errorf("as-of %d: %w", seq, err)
	}
	key, err := newKey(opts.Key)
	if err != nil {
		return nil, err
	}
	p := &Projection{log: live.log, key: key, opts: opts, asOf: true, limit: seq, sparse: true}
	if p.db, err = openMemory(ctx); err != nil {
		return nil, err
	}
	if err := p.initState(ctx); err != nil {
		p.Close()
		return nil, err
	}
	p.writer.Lock()
	err = p.applySeqs(ctx, seqs)
	p.writer.Unlock()
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("as-of %d: %w", seq, err)
	}
	return p, nil
}

// applySeqs applies the events seqs names, ascending, in batches.
func (p *Projection) applySeqs(ctx context.Context, seqs []uint64) error {
	batch := make([]prepared, 0, min(len(seqs), rebuildBatch))
	for i, seq := range seqs {
		r, err := p.log.Get(ctx, seq)
		if err != nil {
			return fmt.Errorf("read event %d: %w", seq, err)
		}
		pr, err := p.prepare(ctx, r)
		if err != nil {
			return err
		}
		batch = append(batch, pr)
		if len(batch) == cap(batch) || i == len(seqs)-1 {
			if err := p.applyLocked(ctx, p.db, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return nil
}

// changeSeqs returns, ascending, the sequence numbers up to upTo of the
// events that changed the secret state of a path in scope: for each
// path, a seek into the history's index by epoch and path for each
// epoch (see historyEpochBits).
func (p *Projection) changeSeqs(ctx context.Context, scope Scope, upTo uint64) ([]uint64, error) {
	defer p.timed("change_seqs")()
	where, args := scope.where("n.name")
	var seqs []uint64
	err := forEpochs(0, upTo, func(epochs []any) (bool, error) {
		rows, err := p.db.QueryContext(ctx, changeSeqsQuery(len(epochs), where), slices.Concat(epochs, args, []any{upTo})...)
		if err != nil {
			return false, err
		}
		defer rows.Close()
		for rows.Next() {
			var s uint64
			if err := rows.Scan(&s); err != nil {
				return false, err
			}
			seqs = append(seqs, s)
		}
		return true, rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("events of the scope: %w", err)
	}
	slices.Sort(seqs)
	return seqs, nil
}

// changeSeqsQuery reads the seqs of the changes to the paths where
// selects in epochs epochs, up to a seq; its parameters are the epochs,
// where's and the seq. CROSS JOIN keeps the names in scope the outer
// loop, and INDEXED BY makes each a seek per epoch into the history's
// index by epoch and path. Left to itself, SQLite weighed a long list
// of epochs as costly and chose worse: every change in the log read
// through the index by type, once per path in scope (minutes on a log
// of ten million events), or an index built on the fly.
func changeSeqsQuery(epochs int, where string) string {
	return `SELECT h.seq FROM names n CROSS JOIN access_history h INDEXED BY access_history_target_epoch ON ` + epochIn(epochs) + ` AND h.target = n.id
		WHERE ` + where + ` AND h.seq <= ? AND ` + secretChanges()
}

// ChangedSince returns a path in scope whose secret state an event after
// seq after changed, and that event, if there is one: what a restore
// planned at after checks before it applies the plan. Unlike changeSeqs
// it reads the changes made since after, whatever their path (through
// the index by type), which a plan made moments ago keeps few: searched
// by path, a scope of every path (or a prefix of thousands) would be a
// seek per path per epoch.
func (p *Projection) ChangedSince(ctx context.Context, scope Scope, after uint64) (path string, seq uint64, ok bool, err error) {
	defer p.timed("changed_since")()
	where, args := scope.where("n.name")
	err = p.db.QueryRowContext(ctx, changedSinceQuery(where), append([]any{after}, args...)...).Scan(&path, &seq)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, false, nil
	}
	if err != nil {
		return "", 0, false, fmt.Errorf("changes since %d: %w", after, err)
	}
	return path, seq, true, nil
}

// changedSinceQuery reads the first change after a seq to the paths
// where selects; its parameters are the seq and where's.
func changedSinceQuery(where string) string {
	return `SELECT n.name, h.seq FROM access_history h JOIN names n ON n.id = h.target
		WHERE h.seq > ? AND ` + secretChanges() + ` AND ` + where + ` ORDER BY h.seq LIMIT 1`
}

// PathsIn returns the paths in scope that have metadata, sorted, as
// Paths does for every path.
func (p *Projection) PathsIn(ctx context.Context, scope Scope) ([]string, error) {
	defer p.timed("paths_in")()
	where, args := scope.where("path")
	// Not a cached statement: the text varies with the number of paths.
	rows, err := p.db.QueryContext(ctx, "SELECT path FROM secret_metadata WHERE "+where+" ORDER BY path", args...)
	if err != nil {
		return nil, fmt.Errorf("list paths: %w", err)
	}
	return scanStrings(rows, "list paths")
}
