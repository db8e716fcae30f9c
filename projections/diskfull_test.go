package projections

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/spikeledger/spike/internal/testdisk"
)

// TestDiskFullApplyFailsWhole fills the filesystem under a projection
// file (its log elsewhere): an apply fails with an error that wraps
// ENOSPC and applies nothing of its batch, what is stored still reads,
// and once space is freed a catch-up brings it to the log's end, equal
// to a rebuild; closed and reopened, it is trusted as it is (its MAC and
// integrity check pass: no rebuild).
func TestDiskFullApplyFailsWhole(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dir := testdisk.Small(t, 2<<20)
	path := filepath.Join(dir, "projections.db")
	p := f.open(path)
	value := strings.Repeat("v", 16<<10)
	if err := p.Apply(f.ctx, f.append(f.written("alice", "kept", 1, map[string]string{"k": "before"}))); err != nil {
		t.Fatal(err)
	}
	filler := testdisk.Fill(t, dir)
	var applyErr error
	for i := 0; applyErr == nil; i++ {
		if i == 1000 {
			t.Fatal("1000 applies of 16 KiB on a full 2 MiB filesystem all succeeded")
		}
		before := p.LastApplied()
		recs := f.append(f.written("alice", fmt.Sprintf("p/%d", i), 1, map[string]string{"k": value}),
			f.written("alice", fmt.Sprintf("q/%d", i), 1, map[string]string{"k": value}))
		if applyErr = p.Apply(f.ctx, recs); applyErr != nil && p.LastApplied() != before {
			t.Fatalf("a failed apply moved the projection from %d to %d", before, p.LastApplied())
		}
	}
	if !errors.Is(applyErr, syscall.ENOSPC) {
		t.Fatalf("apply on a full disk: %v, want an error wrapping ENOSPC", applyErr)
	}
	if sv, err := p.Secret(f.ctx, "kept", 0); err != nil || sv.Data["k"] != "before" {
		t.Fatalf("a read on the full disk: %v", err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := p.CatchUp(f.ctx); err != nil {
		t.Fatalf("catch-up after the space was freed: %v", err)
	}
	if p.LastApplied() != f.log.Size() {
		t.Fatalf("caught up to %d of %d", p.LastApplied(), f.log.Size())
	}
	if f.digest(p) != f.digest(f.open("")) {
		t.Fatal("the projection that met a full disk differs from a rebuild")
	}
	live := f.digest(p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	opts := f.opts(path)
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	again, err := Open(f.ctx, f.log, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if strings.Contains(logs.String(), "rebuilding") {
		t.Fatalf("reopened after a full disk, the projection was rebuilt: %s", logs.String())
	}
	if f.digest(again) != live {
		t.Fatal("reopened, the projection differs")
	}
}
