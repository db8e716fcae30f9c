package projections

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/migrations"
)

// Batch sizes: live catch-up commits often so a crash loses little work;
// a rebuild into a scratch file commits rarely because it is all-or-nothing
// anyway.
const (
	catchUpBatch = 4096
	rebuildBatch = 8192
)

// CatchUp applies every event committed to the log since the last applied
// one. A projection built AsOf stays at its point.
func (p *Projection) CatchUp(ctx context.Context) error {
	p.writer.Lock()
	defer p.writer.Unlock()
	to := p.log.Size()
	if p.asOf {
		to = min(to, p.limit)
	}
	return p.applyRange(ctx, p.db, to, catchUpBatch)
}

// applyRange applies events up to seq to, reading the log in one goroutine
// (which decrypts) while this one applies: the two halves of a rebuild run
// on two cores.
func (p *Projection) applyRange(ctx context.Context, db *sql.DB, to uint64, batch int) error {
	from := p.position().seq + 1
	if from > to {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []prepared, 2)
	scanErr := make(chan error, 1)
	go func() {
		defer close(batches)
		buf := make([]prepared, 0, batch)
		err := p.log.Scan(ctx, from, to, func(r eventlog.Record) error {
			pr, err := p.prepare(ctx, r)
			if err != nil {
				return err
			}
			buf = append(buf, pr)
			if len(buf) == batch {
				select {
				case batches <- buf:
				case <-ctx.Done():
					return ctx.Err()
				}
				buf = make([]prepared, 0, batch)
			}
			return nil
		})
		if err == nil && len(buf) > 0 {
			select {
			case batches <- buf:
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		scanErr <- err
	}()
	for b := range batches {
		if err := p.applyLocked(ctx, db, b); err != nil {
			return asNoSpace(err)
		}
		if p.opts.Progress != nil {
			p.opts.Progress(b[len(b)-1].rec.Seq, to)
		}
	}
	if err := <-scanErr; err != nil {
		return fmt.Errorf("projection: read log: %w", err)
	}
	if got := p.position().seq; got != to {
		return fmt.Errorf("projection: caught up to %d, want %d", got, to)
	}
	return nil
}

// rebuild replaces the database file with one built from the whole log in
// a scratch file, swapped in by rename once complete: a crash mid-rebuild
// leaves the old file (or none), never a half-built one.
func (p *Projection) rebuild(ctx context.Context) error {
	if p.db != nil {
		p.dropStmts()
		p.db.Close()
		p.db = nil
	}
	suffix := make([]byte, 6)
	rand.Read(suffix)
	tmp := p.path + ".rebuild-" + hex.EncodeToString(suffix)
	defer os.Remove(tmp)
	start, size := time.Now(), p.log.Size()
	if err := p.buildInto(ctx, tmp, size); err != nil {
		return err
	}
	defer func() { p.observer().Rebuilt(size, time.Since(start)) }()
	for _, ext := range []string{"-wal", "-shm"} {
		// A stale WAL would be replayed into the new file: remove it first.
		if err := os.Remove(p.path + ext); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("projection rebuild: %w", err)
		}
	}
	if err := os.Rename(tmp, p.path); err != nil {
		return fmt.Errorf("projection rebuild: %w", err)
	}
	if err := syncDir(filepath.Dir(p.path)); err != nil {
		return err
	}
	db, err := openFile(ctx, p.path, false)
	if err != nil {
		return err
	}
	p.db = db
	return nil
}

// buildInto builds a projection up to seq to in a new file at path, and
// syncs it.
func (p *Projection) buildInto(ctx context.Context, path string, to uint64) error {
	db, err := openFile(ctx, path, true)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, _, err := migrations.Apply(ctx, db); err != nil {
		return fmt.Errorf("projection rebuild: %w", err)
	}
	if err := initStateDB(ctx, db, p); err != nil {
		return err
	}
	p.setPosition(position{})
	indexes, err := dropIndexes(ctx, db)
	if err != nil {
		return err
	}
	p.writer.Lock()
	err = p.applyRange(ctx, db, to, rebuildBatch)
	p.writer.Unlock()
	if err != nil {
		return err
	}
	for _, ix := range indexes {
		if _, err := db.ExecContext(ctx, ix); err != nil {
			return fmt.Errorf("projection rebuild: recreate index: %w", err)
		}
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("projection rebuild: close: %w", err)
	}
	return syncFile(path)
}

// dropIndexes drops every secondary index and returns the statements that
// recreate them: a bulk load is several times faster into bare tables,
// and an index built once over the loaded rows is compact.
func dropIndexes(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
	if err != nil {
		return nil, fmt.Errorf("projection rebuild: list indexes: %w", err)
	}
	var names, stmts []string
	for rows.Next() {
		var name, stmt string
		if err := rows.Scan(&name, &stmt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("projection rebuild: list indexes: %w", err)
		}
		names, stmts = append(names, name), append(stmts, stmt)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("projection rebuild: list indexes: %w", err)
	}
	for _, n := range names {
		if _, err := db.ExecContext(ctx, `DROP INDEX "`+n+`"`); err != nil {
			return nil, fmt.Errorf("projection rebuild: drop index %s: %w", n, err)
		}
	}
	return stmts, nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error { return syncFile(dir) }
