//go:build linux

package loadkit

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/projections"
)

// Digests opens a copy (made in copyDir: opening a projection seals it
// again at close) of the projection a stopped Nexus kept in dataDir, on
// that Nexus's log, and rebuilds one in memory from the whole log; it
// returns both digests. key is the root key; obs, if not nil, watches
// the kept projection's opening. who labels failures.
func Digests(t *testing.T, who, dataDir, copyDir string, key []byte, obs projections.Observer) (kept, rebuilt [32]byte) {
	t.Helper()
	ctx := context.Background()
	log, err := eventlog.OpenReadOnly(ctx, filepath.Join(dataDir, "events.db"), eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if err := log.Unlock(ctx, key); err != nil {
		t.Fatalf("%s: unlock the log with the root key of the recovery files: %v", who, err)
	}
	pkey, err := projections.KeyFromRoot(key)
	if err != nil {
		t.Fatal(err)
	}
	defer clear(pkey)
	k, err := projections.Open(ctx, log, projections.Options{Path: copyProjection(t, dataDir, copyDir), Key: pkey, Observer: obs})
	if err != nil {
		t.Fatalf("%s: open the projection it kept: %v", who, err)
	}
	defer k.Close()
	r, err := projections.Open(ctx, log, projections.Options{Memory: true, Key: pkey})
	if err != nil {
		t.Fatalf("%s: rebuild the projection from the log: %v", who, err)
	}
	defer r.Close()
	if kept, err = k.Digest(ctx); err != nil {
		t.Fatal(err)
	}
	if rebuilt, err = r.Digest(ctx); err != nil {
		t.Fatal(err)
	}
	return kept, rebuilt
}

// copyProjection copies projections.db and its SQLite companions from
// dataDir into dir and returns the copy's path.
func copyProjection(t *testing.T, dataDir, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	srcs, err := filepath.Glob(filepath.Join(dataDir, "projections.db*"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no projections.db in %s (%v)", dataDir, err)
	}
	for _, src := range srcs {
		if err := copyFile(src, filepath.Join(dir, filepath.Base(src))); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "projections.db")
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
