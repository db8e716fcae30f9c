package pilot

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadAtMost(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "secret-name")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tc := range []struct {
		name  string
		r     io.Reader
		want  string // the bytes read, or
		err   string // the whole error
		usage bool   // a usage error
	}{
		{name: "under", r: strings.NewReader("abc"), want: "abc"},
		{name: "at the limit", r: strings.NewReader("abcd"), want: "abcd"},
		{name: "over", r: strings.NewReader("abcde"), err: "the input is larger than 4 bytes, the most it can be", usage: true},
		{name: "read error without the path", r: f, err: "cannot read the input: is a directory", usage: true},
	} {
		b, err := readAtMost(tc.r, 4, "the input")
		var u *usageError
		switch {
		case tc.err == "" && (err != nil || string(b) != tc.want):
			t.Errorf("%s: %q, %v; want %q", tc.name, b, err, tc.want)
		case tc.err != "" && (err == nil || err.Error() != tc.err || errors.As(err, &u) != tc.usage):
			t.Errorf("%s: %v, want %q (usage error %v)", tc.name, err, tc.err, tc.usage)
		}
	}
}
