//go:build linux

package ha

// The offline checks, run on stopped replicas: each replica's events.db
// verifies against the checkpoint key, all hold the same events (leaf
// hash for leaf hash, so byte for byte) and the same checkpoint notes,
// and each replica's projection has the digest a rebuild gives.

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/test/e2e/loadkit"
)

// logPrint is what two replicas' logs must agree on.
type logPrint struct {
	size        uint64
	leaves      [32]byte // SHA-256 over every leaf hash in order
	checkpoints [32]byte // SHA-256 over every (size, note) in order
	ncp         int
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

// compareDigest opens a copy of the projection replica i kept on its
// stopped log and compares its digest with that of a projection rebuilt
// in memory from the whole log.
func (c *cluster) compareDigest(t *testing.T, i int, key []byte) {
	t.Helper()
	r := c.reps[i]
	dir := filepath.Join(t.TempDir(), "projection-"+r.id+"-"+time.Now().Format("150405.000"))
	kept, rebuilt := loadkit.Digests(t, "replica "+r.id, r.dataDir, dir, key, nil)
	if kept != rebuilt {
		t.Errorf("replica %s: projection digest %x, a full rebuild's %x", r.id, kept, rebuilt)
	}
}
