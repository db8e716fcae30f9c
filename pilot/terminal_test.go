package pilot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spikeledger/spike/eventlog"
)

func TestIsTerminal(t *testing.T) {
	t.Parallel()
	f, err := os.CreateTemp(t.TempDir(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for _, v := range []any{f, r, w, null, strings.NewReader("x"), &bytes.Buffer{}, nil, (*os.File)(nil)} {
		if isTerminal(v) {
			t.Errorf("%T taken for a terminal", v)
		}
	}
	if tty, err := os.Open("/dev/tty"); err == nil {
		defer tty.Close()
		if !isTerminal(tty) {
			t.Error("/dev/tty not taken for a terminal")
		}
	}
}

func TestConfirm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		terminal bool
		yes      bool
		answer   string
		want     error // nil, errDeclined, or a *usageError (any)
		usage    bool
		asked    bool
	}{
		{name: "--yes skips the question", yes: true},
		{name: "--yes on a terminal", terminal: true, yes: true},
		{name: "no terminal, no --yes", usage: true},
		{name: "y", terminal: true, answer: "y\n", asked: true},
		{name: "YES", terminal: true, answer: " YES \n", asked: true},
		{name: "no", terminal: true, answer: "no\n", want: errDeclined, asked: true},
		{name: "empty line", terminal: true, answer: "\n", want: errDeclined, asked: true},
		{name: "end of input", terminal: true, answer: "", want: errDeclined, asked: true},
		{name: "yes without newline", terminal: true, answer: "yes", asked: true},
	} {
		var errOut bytes.Buffer
		e := &env{in: strings.NewReader(tc.answer), errOut: &errOut, command: "spike policy delete",
			opts: runOptions{terminal: func(any) bool { return tc.terminal }}}
		err := e.confirm("Delete policy \"p\"?", tc.yes)
		var u *usageError
		switch {
		case tc.usage:
			if !errors.As(err, &u) || !strings.Contains(err.Error(), "pass --yes") {
				t.Errorf("%s: %v, want a usage error asking for --yes", tc.name, err)
			}
		case !errors.Is(err, tc.want) || (tc.want == nil && err != nil):
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if asked := strings.Contains(errOut.String(), `Delete policy "p"? [y/N] `); asked != tc.asked {
			t.Errorf("%s: asked %v, want %v (stderr %q)", tc.name, asked, tc.asked, errOut.String())
		}
	}
}

func TestProgress(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	p := newProgress(&b, true, "verify")
	p.update(0, 200)
	p.update(1, 200) // still 0%: not redrawn
	p.update(100, 200)
	p.update(200, 200)
	p.done()
	want := "\rverify [                              ]   0% 0/200" +
		"\rverify [===============               ]  50% 100/200" +
		"\rverify [==============================] 100% 200/200\n"
	if b.String() != want {
		t.Errorf("%q\nwant %q", b.String(), want)
	}
	b.Reset()
	p = newProgress(&b, false, "verify")
	p.update(1, 2)
	p.done()
	if b.Len() != 0 {
		t.Errorf("a disabled bar drew %q", b.String())
	}
}

// audit verify draws its bar on a terminal and nothing extra when piped.
func TestVerifyProgress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "data", "events.db")
	l, err := eventlog.Open(ctx, path, eventlog.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(ctx, bytes.Repeat([]byte{7}, 32)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := l.Append(ctx, eventlog.Event{Type: "test.event", Schema: 1, Payload: fmt.Appendf(nil, "%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	key, err := l.VerifierKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, terminal := range []bool{true, false} {
		var out, errOut bytes.Buffer
		code := Run(ctx, []string{"audit", "verify", path, "--key", key}, nil, &out, &errOut,
			withTerminal(func(v any) bool { return terminal && v == io.Writer(&errOut) }))
		if code != 0 || !strings.HasPrefix(out.String(), "verified  ") {
			t.Fatalf("terminal %v: exit %d, stdout %q, stderr %q", terminal, code, out.String(), errOut.String())
		}
		drew := strings.HasPrefix(errOut.String(), "\rverify [") && strings.HasSuffix(errOut.String(), "100% 3/3\n")
		if drew != terminal || !terminal && errOut.Len() != 0 {
			t.Errorf("terminal %v: stderr %q", terminal, errOut.String())
		}
	}
}
