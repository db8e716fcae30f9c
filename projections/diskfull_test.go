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
)

// smallDisk mounts a tmpfs of size bytes under a test directory: a
// filesystem the test fills for real, so that SQLite meets ENOSPC from
// the kernel. It skips where the kernel refuses the mount.
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("skipped: cannot mount a small tmpfs here (%v); the disk-full tests need root and a kernel that allows mounts", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes a file in dir until the filesystem is full, and
// returns its path: removing it frees the space.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for n := len(chunk); n > 0; {
		if _, err := f.Write(chunk[:n]); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			n /= 2
		}
	}
	return path
}

// TestDiskFullApplyFailsWhole fills the filesystem under a projection
// file (its log elsewhere): an apply fails with an error that wraps
// ENOSPC and applies nothing of its batch, what is stored still reads,
// and once space is freed a catch-up brings it to the log's end, equal
// to a rebuild; closed and reopened, it is trusted as it is (its MAC and
// integrity check pass: no rebuild).
func TestDiskFullApplyFailsWhole(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dir := smallDisk(t, 2<<20)
	path := filepath.Join(dir, "projections.db")
	p := f.open(path)
	value := strings.Repeat("v", 16<<10)
	if err := p.Apply(f.ctx, f.append(f.written("alice", "kept", 1, map[string]string{"k": "before"}))); err != nil {
		t.Fatal(err)
	}
	filler := fillDisk(t, dir)
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
