//go:build linux

package system

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// fatalTB records a Fatal and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) { f.Fatal(fmt.Sprintf(format, args...)) }

func (f *fatalTB) Fatal(args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprint(args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// fails runs f with a fatalTB and returns its Fatal message, "" if none.
func fails(t *testing.T, f func(testing.TB)) string {
	ft := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(ft)
	}()
	<-done
	return ft.msg
}

func TestWaitForEndsWhenTheProcessExits(t *testing.T) {
	t.Parallel()
	bin, env := self(t, "echo")
	p := StartProc(t, t, "echo", bin, filepath.Join(t.TempDir(), "echo.log"), env) // no argument: exits 100
	msg := fails(t, func(tb testing.TB) {
		WaitFor(tb, "never", p, func() (bool, string) { return false, "still not" })
	})
	for _, want := range []string{"never: echo exited while waiting", "exit status 100", "last seen: still not"} {
		if !strings.Contains(msg, want) {
			t.Errorf("WaitFor's failure %q lacks %q", msg, want)
		}
	}
}

func TestWaitForReturnsOnceTrue(t *testing.T) {
	t.Parallel()
	n := 0
	msg := fails(t, func(tb testing.TB) {
		WaitFor(tb, "third time", nil, func() (bool, string) { n++; return n == 3, "" })
	})
	if msg != "" || n != 3 {
		t.Errorf("failed %q after %d polls, want success on the third", msg, n)
	}
}

func TestTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name, content, want string
	}{
		{"short", "all of it", "all of it"},
		{"long", strings.Repeat("a", 10) + strings.Repeat("b", tailBytes), "…" + strings.Repeat("b", tailBytes)},
	}
	for _, tc := range tests {
		path := filepath.Join(dir, tc.name)
		if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := Tail(path); got != tc.want {
			t.Errorf("%s: Tail gives %d bytes starting %.10q, want %d starting %.10q", tc.name, len(got), got, len(tc.want), tc.want)
		}
	}
	if got := Tail(filepath.Join(dir, "missing")); !strings.HasPrefix(got, "(") {
		t.Errorf("Tail of a missing file: %q, want the error in parentheses", got)
	}
}
