package service

import (
	"bytes"
	"testing"
	"time"
)

// TestExportJobs: at most maxExports at once, only for their owner, gone
// after exportTTL untouched, and zeroed when dropped.
func TestExportJobs(t *testing.T) {
	t.Parallel()
	var e exportJobs
	now := time.Date(2026, 7, 25, 0, 0, 0, 0, time.UTC)
	built := func(owner string, file []byte) *exportJob {
		j := &exportJob{owner: owner, done: make(chan struct{}), file: file}
		close(j.done)
		return j
	}
	a := built("a", []byte("secret-bytes"))
	idA, ok := e.add(a, now)
	if !ok {
		t.Fatal("first export refused")
	}
	if _, ok := e.add(built("b", nil), now); !ok {
		t.Fatal("second export refused")
	}
	if _, ok := e.add(built("c", nil), now); ok {
		t.Fatalf("export %d accepted", maxExports+1)
	}
	if _, ok := e.get(idA, "b", now); ok {
		t.Fatal("an export handed to another caller")
	}
	if j, ok := e.get(idA, "a", now.Add(exportTTL/2)); !ok || j != a {
		t.Fatal("owner cannot fetch its export")
	}
	if data, size, ok := a.chunk(7); !ok || size != 12 || string(data) != "bytes" {
		t.Fatalf("chunk at 7 = %q of %d, %v", data, size, ok)
	}
	// b expires (untouched since now); a was touched at TTL/2.
	if _, ok := e.add(built("c", nil), now.Add(exportTTL+time.Second)); !ok {
		t.Fatal("an expired export still counts")
	}
	file := a.file
	e.drop(idA)
	if _, ok := e.get(idA, "a", now); ok {
		t.Fatal("a dropped export is still there")
	}
	if _, _, ok := a.chunk(0); ok {
		t.Fatal("a dropped export can still be read")
	}
	if !bytes.Equal(file, make([]byte, len(file))) {
		t.Fatalf("dropped export's bytes not zeroed: %q", file)
	}
}
