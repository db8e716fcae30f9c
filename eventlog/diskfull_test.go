package eventlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/spikeledger/spike/internal/testdisk"
)

// TestDiskFullAppendsFailAndResume fills the filesystem under a log, with
// the journal on and off: appends go on while the journal has room (it
// is preallocated, so its writes need no new blocks), then fail with an
// error that wraps ENOSPC and that Err reports; nothing is lost or
// damaged, and once space is freed the log writes its files again by
// itself, with no append to prompt it.
func TestDiskFullAppendsFailAndResume(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		journal int64
	}{
		{"journal", 128 << 10},
		{"no journal", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dir := testdisk.Small(t, 4<<20)
			path := filepath.Join(dir, "events.db")
			l, err := Open(ctx, path, Options{JournalSize: tc.journal, CheckpointInterval: 100 * time.Millisecond, Logger: quietLogger})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if err := l.Unlock(ctx, testKey(1)); err != nil {
				t.Fatal(err)
			}
			filler := testdisk.Fill(t, dir)
			payload := make([]byte, 8<<10)
			var acked []string
			var appendErr error
			for i := 0; appendErr == nil; i++ {
				if i == 10_000 {
					t.Fatal("10,000 appends of 8 KiB on a full 4 MiB filesystem all succeeded")
				}
				p := fmt.Sprintf("%d:%s", i, payload)
				if _, appendErr = l.Append(ctx, ev("secret.written", p)); appendErr == nil {
					acked = append(acked, p)
				}
			}
			if !errors.Is(appendErr, syscall.ENOSPC) {
				t.Fatalf("append on a full filesystem: %v, want an error wrapping ENOSPC", appendErr)
			}
			if err := l.Err(); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Err() = %v, want the ENOSPC", err)
			}
			if got := l.Size(); got != uint64(len(acked)) {
				t.Fatalf("size %d after %d acknowledged appends", got, len(acked))
			}

			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for l.Err() != nil {
				if time.Now().After(deadline) {
					t.Fatalf("Err() 30 s after the space was freed: %v", l.Err())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if _, err := l.Append(ctx, ev("secret.written", "after")); err != nil {
				t.Fatalf("append after the space was freed: %v", err)
			}
			acked = append(acked, "after")
			i := 0
			err = l.Scan(ctx, 1, 0, func(r Record) error {
				if string(r.Payload) != acked[i] {
					return fmt.Errorf("event %d is not the append acknowledged", r.Seq)
				}
				i++
				return nil
			})
			if err != nil || i != len(acked) {
				t.Fatalf("scan: %d of %d events, %v", i, len(acked), err)
			}
			vkey, err := l.VerifierKey(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := VerifyFile(ctx, path, vkey, VerifyOptions{}); err != nil {
				t.Fatalf("the log after the disk filled: %v", err)
			}
		})
	}
}
