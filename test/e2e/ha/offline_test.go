//go:build linux

package ha

// The offline checks, run on stopped replicas: each replica's events.db
// verifies against the checkpoint key, all hold the same events (leaf
// hash for leaf hash, so byte for byte) and the same checkpoint notes,
// and each replica's projection has the digest a rebuild gives.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/projections"
	"github.com/spikeledger/spike/test/e2e/system"
)

// logPrint is what two replicas' logs must agree on.
type logPrint struct {
	size        uint64
	leaves      [32]byte // SHA-256 over every leaf hash in order
	checkpoints [32]byte // SHA-256 over every (size, note) in order
	ncp         int
}

// rootKey has the recover role write the recovery files through replica
// i and rebuilds the root key from a threshold of them, as an operator
// could.
func (c *cluster) rootKey(t *testing.T, i int) [shamir.KeySize]byte {
	t.Helper()
	dir := filepath.Join(c.d.Dir(), "recovery")
	r := c.d.Run(t, "recover", system.Cmd{Bin: c.tb.Path(recoverBin), Args: []string{"operator", "recover"},
		Env: c.d.Env("SPIKE_PILOT_RECOVERY_DIR="+dir, "SPIKE_NEXUS_URL="+c.url(i))})
	if r.Code != 0 {
		t.Fatalf("spike operator recover: %s", r)
	}
	var shares []shamir.Share
	for id := 1; id <= c.d.Threshold(); id++ {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("spike.recovery.%d.txt", id)))
		if err != nil {
			t.Fatal(err)
		}
		sh, err := shamir.ParseRecovery(string(b))
		if err != nil {
			t.Fatalf("recovery file %d: %v", id, err)
		}
		shares = append(shares, sh)
	}
	key, err := shamir.Combine(len(shares), shares)
	if err != nil {
		t.Fatalf("combine the recovery files: %v", err)
	}
	return key
}

// offlineChecks runs every offline check on the stopped replicas and
// returns the log size they agree on.
func (c *cluster) offlineChecks(t *testing.T, vkey string, key []byte) uint64 {
	t.Helper()
	ctx := context.Background()
	var first logPrint
	for i, r := range c.reps {
		path := filepath.Join(r.dataDir, "events.db")
		rep, err := eventlog.VerifyFile(ctx, path, vkey, eventlog.VerifyOptions{})
		if err != nil {
			t.Errorf("replica %s: offline verification of events.db: %v", r.id, err)
			continue
		}
		if rep.Checkpoints == 0 {
			t.Errorf("replica %s: a log of %d events with no signed checkpoint", r.id, rep.Size)
		}
		lp := fingerprint(t, path)
		if lp.size != rep.Size {
			t.Errorf("replica %s: %d events scanned, %d verified", r.id, lp.size, rep.Size)
		}
		if i == 0 {
			first = lp
		} else if lp != first {
			t.Errorf("replica %s's log differs from %s's: %d events, %d checkpoints (leaves %x, checkpoints %x) against %d, %d (%x, %x)",
				r.id, c.reps[0].id, lp.size, lp.ncp, lp.leaves[:6], lp.checkpoints[:6], first.size, first.ncp, first.leaves[:6], first.checkpoints[:6])
		}
		c.compareDigest(t, i, key)
	}
	t.Logf("offline: %d replicas' logs of %d events and %d checkpoints verify and are identical; every projection digest equals a rebuild's",
		len(c.reps), first.size, first.ncp)
	return first.size
}

// fingerprint reads a stopped replica's log sealed.
func fingerprint(t *testing.T, path string) logPrint {
	t.Helper()
	ctx := context.Background()
	log, err := eventlog.OpenReadOnly(ctx, path, eventlog.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer log.Close()
	leaves, cps := sha256.New(), sha256.New()
	var lp logPrint
	err = log.ScanSealed(ctx, 1, 0, func(r eventlog.Record) error {
		if r.Seq != lp.size+1 {
			return fmt.Errorf("event %d after %d", r.Seq, lp.size)
		}
		lp.size = r.Seq
		leaves.Write(r.Leaf[:])
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", path, err)
	}
	err = log.Checkpoints(ctx, func(size uint64, note []byte) error {
		lp.ncp++
		fmt.Fprintf(cps, "%d %d\n", size, len(note))
		cps.Write(note)
		return nil
	})
	if err != nil {
		t.Fatalf("checkpoints of %s: %v", path, err)
	}
	copy(lp.leaves[:], leaves.Sum(nil))
	copy(lp.checkpoints[:], cps.Sum(nil))
	return lp
}

// compareDigest opens a copy of the projection replica i kept (opening
// one seals it again at close) on its stopped log and compares its digest
// with that of a projection rebuilt in memory from the whole log.
func (c *cluster) compareDigest(t *testing.T, i int, key []byte) {
	t.Helper()
	r := c.reps[i]
	ctx := context.Background()
	log, err := eventlog.OpenReadOnly(ctx, filepath.Join(r.dataDir, "events.db"), eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if err := log.Unlock(ctx, key); err != nil {
		t.Fatalf("replica %s: unlock the log with the root key of the recovery files: %v", r.id, err)
	}
	pkey, err := projections.KeyFromRoot(key)
	if err != nil {
		t.Fatal(err)
	}
	defer clear(pkey)
	kept, err := projections.Open(ctx, log, projections.Options{Path: copyProjection(t, r), Key: pkey})
	if err != nil {
		t.Fatalf("replica %s: open the projection it kept: %v", r.id, err)
	}
	defer kept.Close()
	rebuilt, err := projections.Open(ctx, log, projections.Options{Memory: true, Key: pkey})
	if err != nil {
		t.Fatalf("replica %s: rebuild the projection from the log: %v", r.id, err)
	}
	defer rebuilt.Close()
	a, err := kept.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rebuilt.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a[:], b[:]) {
		t.Errorf("replica %s: projection digest %x, a full rebuild's %x", r.id, a, b)
	}
}

// copyProjection copies a replica's projections.db and its SQLite
// companions into a directory of their own and returns the copy's path.
func copyProjection(t *testing.T, r *replica) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "projection-"+r.id+"-"+time.Now().Format("150405.000"))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	srcs, err := filepath.Glob(filepath.Join(r.dataDir, "projections.db*"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no projections.db in %s (%v)", r.dataDir, err)
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
