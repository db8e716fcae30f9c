package cluster

import (
	"io"
	"log/slog"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestHCLogger checks that raft's log reaches slog at the matching level,
// with the logger's name, its implied arguments and the call's.
func TestHCLogger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		log   func(hclog.Logger)
		level slog.Level
		want  map[string]string
	}{
		{"trace", func(l hclog.Logger) { l.Trace("m", "k", 1) }, levelTrace, map[string]string{"logger": "raft", "k": "1"}},
		{"debug", func(l hclog.Logger) { l.Debug("m") }, slog.LevelDebug, map[string]string{"logger": "raft"}},
		{"info", func(l hclog.Logger) { l.Info("m") }, slog.LevelInfo, map[string]string{"logger": "raft"}},
		{"warn", func(l hclog.Logger) { l.Warn("m") }, slog.LevelWarn, map[string]string{"logger": "raft"}},
		{"error", func(l hclog.Logger) { l.Error("m", "err", "boom") }, slog.LevelError, map[string]string{"logger": "raft", "err": "boom"}},
		{"with and named", func(l hclog.Logger) { l.With("peer", "n1").Named("net").Info("m", "k", "v") }, slog.LevelInfo, map[string]string{"logger": "raft.net", "peer": "n1", "k": "v"}},
		{"standard logger", func(l hclog.Logger) {
			l.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}).Print("m")
		}, slog.LevelWarn, map[string]string{"logger": "raft"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logs := newCaptureLog()
			tt.log(NewHCLogger(logs.logger(), "raft"))
			if len(logs.records) != 1 {
				t.Fatalf("%d records, want 1", len(logs.records))
			}
			r := logs.records[0]
			if r.Message != "m" || r.Level != tt.level {
				t.Errorf("record %q at %v, want %q at %v", r.Message, r.Level, "m", tt.level)
			}
			got := attrs(r)
			if len(got) != len(tt.want) {
				t.Errorf("attributes %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("attribute %s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// TestHCLoggerLevel checks that the slog handler's level decides what
// raft sees as enabled.
func TestHCLoggerLevel(t *testing.T) {
	t.Parallel()
	warn := NewHCLogger(slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})), "raft")
	if warn.IsInfo() || !warn.IsWarn() || !warn.IsError() {
		t.Errorf("at slog Warn: IsInfo %v IsWarn %v IsError %v", warn.IsInfo(), warn.IsWarn(), warn.IsError())
	}
	if got := warn.GetLevel(); got != hclog.Warn {
		t.Errorf("GetLevel = %v, want %v", got, hclog.Warn)
	}
}
