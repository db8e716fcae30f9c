//go:build linux

package loadkit

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

type line struct {
	N int    `json:"n"`
	S string `json:"s,omitempty"`
}

func TestLinesRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []line
	}{
		{"empty", nil},
		{"one", []line{{N: 1, S: "a"}}},
		{"several", []line{{N: 1}, {N: 2, S: "b\nc"}, {N: 3, S: "«d»"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "j.jsonl")
			if err := WriteLines(path, tt.in); err != nil {
				t.Fatal(err)
			}
			var out []line
			if err := ReadLines(path, func(l line) { out = append(out, l) }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out, tt.in) {
				t.Errorf("read back %v, wrote %v", out, tt.in)
			}
		})
	}
}

func TestReadLinesBadLine(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "j.jsonl")
	if err := os.WriteFile(path, []byte("{\"n\":1}\nnot json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ReadLines(path, func(line) {}); err == nil {
		t.Error("a journal with a line that is not JSON read without error")
	}
}
