package projections

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spikeledger/spike/eventlog"
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
