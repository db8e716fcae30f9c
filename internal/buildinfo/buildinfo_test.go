package buildinfo

import (
	"bytes"
	"strings"
	"testing"
)

func TestPrintIfAsked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want bool
	}{
		{"version flag", []string{"--version"}, true},
		{"no args", nil, false},
		{"other flag", []string{"--help"}, false},
		{"version among others", []string{"--version", "x"}, false},
		{"single dash", []string{"-version"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			got := PrintIfAsked(&out, "prog", tt.args)
			if got != tt.want {
				t.Fatalf("PrintIfAsked(%q) = %v, want %v", tt.args, got, tt.want)
			}
			if !got && out.Len() != 0 {
				t.Fatalf("printed %q when not asked", out.String())
			}
			if got && out.String() != "prog "+Version()+"\n" {
				t.Fatalf("printed %q, want %q", out.String(), "prog "+Version()+"\n")
			}
		})
	}
}

func TestVersionNeverEmpty(t *testing.T) {
	t.Parallel()
	if v := Version(); strings.TrimSpace(v) == "" {
		t.Fatal("Version() is empty")
	}
}
