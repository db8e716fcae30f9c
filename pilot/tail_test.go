package pilot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/devcluster"
	"github.com/spikeledger/spike/pilot"
)

// syncBuffer is a buffer a running command writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAuditTail runs audit tail until it prints the event a write makes,
// then stops it as Ctrl-C does: exit 0.
func TestAuditTail(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"human", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			path := uniq(t, "tail/")
			var out, errOut syncBuffer
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			args := []string{"--nexus-url", nexusURL(t), "--svid-dir", svidDir(t, devcluster.SVIDAuditor), "--retry-wait", "0",
				"--format", format, "audit", "tail", "--path", path, "--since", "1h"}
			done := make(chan int, 1)
			go func() { done <- pilot.Run(ctx, args, strings.NewReader(""), &out, &errOut) }()
			super(t, "", "secret", "put", path, "k=v").check(t, 0, "")
			for !strings.Contains(out.String(), path) {
				select {
				case code := <-done:
					t.Fatalf("audit tail exited %d: %s %s", code, out.String(), errOut.String())
				case <-time.After(10 * time.Millisecond):
				}
			}
			cancel() // Ctrl-C
			if code := <-done; code != 0 || errOut.String() != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut.String())
			}
			got := strings.Split(strings.TrimSpace(out.String()), "\n")
			switch format {
			case "human":
				if len(got) != 2 || !strings.HasPrefix(got[0], "SEQ  TIME") || !strings.Contains(got[1], "secret.version.written") {
					t.Fatalf("output %q", got)
				}
			case "json":
				var ev api.AuditEvent
				if len(got) != 1 || json.Unmarshal([]byte(got[0]), &ev) != nil || ev.Path != path || ev.Type != "secret.version.written" {
					t.Fatalf("output %q", got)
				}
			}
		})
	}
}

func TestAuditTailUsage(t *testing.T) {
	t.Parallel()
	runCases(t, []cliCase{
		{name: "from and since", args: []string{"audit", "tail", "--from", "1", "--since", "1h"}, code: 2, want: "--from and --since"},
		{name: "unknown type", args: []string{"audit", "tail", "--type", "secret.reed"}, code: 2, want: "no such event type"},
		{name: "not an auditor", who: nobodyDir(t), args: []string{"audit", "tail"}, code: 1, want: "refused"},
	})
}
