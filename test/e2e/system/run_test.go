//go:build linux

package system

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRun(t *testing.T) {
	t.Parallel()
	bin, env := self(t, "echo")
	tests := []struct {
		name  string
		code  string
		stdin []byte
		save  bool
	}{
		{"exit 0, no stdin", "0", nil, false},
		{"exit 3 is a result", "3", nil, false},
		{"stdin", "0", []byte("in and out"), false},
		{"saved output", "0", []byte("kept"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Cmd{Bin: bin, Args: []string{tc.code}, Env: env, Stdin: tc.stdin}
			if tc.save {
				c.Save = filepath.Join(t.TempDir(), "out")
			}
			r := Run(t, c)
			if want := map[string]int{"0": 0, "3": 3}[tc.code]; r.Code != want {
				t.Errorf("exit %d, want %d\n%s", r.Code, want, r)
			}
			if r.Stdout != string(tc.stdin) || r.Stderr != "to stderr" {
				t.Errorf("stdout %q, stderr %q; want %q, %q", r.Stdout, r.Stderr, tc.stdin, "to stderr")
			}
			if !tc.save {
				return
			}
			for ext, want := range map[string]string{".stdout": r.Stdout, ".stderr": r.Stderr} {
				b, err := os.ReadFile(c.Save + ext)
				if err != nil || string(b) != want {
					t.Errorf("%s%s: %q (%v), want %q", c.Save, ext, b, err, want)
				}
			}
		})
	}
}

func TestRunDir(t *testing.T) {
	t.Parallel()
	bin, env := self(t, "pwd")
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	there, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, want string
	}{
		{"the test's", "", here},
		{"another", there, there},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := Run(t, Cmd{Bin: bin, Env: env, Dir: tc.dir})
			if r.Code != 0 || r.Stdout != tc.want {
				t.Errorf("Dir %q: ran in %q, want %q\n%s", tc.dir, r.Stdout, tc.want, r)
			}
		})
	}
}
