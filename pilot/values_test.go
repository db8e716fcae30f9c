package pilot

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParsePairs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "v")
	if err := os.WriteFile(file, []byte("line one\nline two\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, maxValueInput+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		want  map[string]string
		err   string // substring of a usage error
	}{
		{name: "literal", args: []string{"a=1", "b=x=y", "c="}, want: map[string]string{"a": "1", "b": "x=y", "c": ""}},
		{name: "file verbatim", args: []string{"k=@" + file}, want: map[string]string{"k": "line one\nline two\n"}},
		{name: "stdin less one newline", args: []string{"k=-"}, stdin: "tok\n\n", want: map[string]string{"k": "tok\n"}},
		{name: "stdin crlf", args: []string{"k=-"}, stdin: "tok\r\n", want: map[string]string{"k": "tok"}},
		{name: "escaped at", args: []string{"k=@@home"}, want: map[string]string{"k": "@home"}},
		{name: "no equals", args: []string{"hunter2"}, err: "value 1 is not KEY=VALUE"},
		{name: "empty key", args: []string{"a=1", "=v"}, err: "value 2 is not KEY=VALUE"},
		{name: "duplicate", args: []string{"a=1", "a=2"}, err: `key "a" is given twice`},
		{name: "stdin twice", args: []string{"a=-", "b=-"}, err: "only one value"},
		{name: "missing file", args: []string{"a=@" + file + "x"}, err: "no such file"},
		{name: "too large", args: []string{"a=@" + big}, err: `the value of "a" (from the file ` + big + `) is larger than 4 MiB (4194304 bytes), the most it can be`},
	} {
		got, err := parsePairs(tc.args, strings.NewReader(tc.stdin))
		var u *usageError
		switch {
		case tc.err != "" && (err == nil || !errors.As(err, &u) || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: err %v, want a usage error mentioning %q", tc.name, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err == "" && !maps.Equal(got, tc.want):
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A mistyped pair may be the secret itself: errors never quote it. A
// KEY=@FILE names a file by its syntax (KEY=@@VALUE is the literal), and
// its errors name the file, as every command's do.
func TestParsePairsNeverQuotesValues(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a-dir")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"s3cr3t-value"}, "value 1 is not KEY=VALUE"},
		{[]string{"k=s3cr3t-value", "k=s3cr3t-value"}, "given twice"},
		{[]string{"k=@missing.pem"}, `value of "k": cannot open the file missing.pem (no such file or directory); write k=@@... for a literal value starting with @`},
		{[]string{"k=@" + dir}, `cannot read the value of "k" (from the file ` + dir + `): is a directory`},
		{[]string{"k=-"}, `value of "k": no standard input`},
	} {
		_, err := parsePairs(tc.args, nil)
		var u *usageError
		if err == nil || !errors.As(err, &u) || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want a usage error mentioning %q and no value", tc.args, err, tc.want)
		}
	}
}

func TestParseLabels(t *testing.T) {
	t.Parallel()
	got, err := parseLabels([]string{"owner=team-a", "note=a=b"})
	if err != nil || !maps.Equal(got, map[string]string{"owner": "team-a", "note": "a=b"}) {
		t.Errorf("%v, %v", got, err)
	}
	if got, err := parseLabels(nil); err != nil || got == nil || len(got) != 0 {
		t.Errorf("no labels: %v, %v (want an empty map, which clears)", got, err)
	}
	for _, bad := range [][]string{{"x"}, {"=v"}, {"a=1", "a=2"}} {
		if _, err := parseLabels(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// FuzzParsePairs: KEY=VALUE arguments come from the command line. A
// literal pair round-trips exactly, and no error ever quotes a value.
func FuzzParsePairs(f *testing.F) {
	for _, s := range []string{"k=v", "k=", "=v", "k==v", "k=@@x", "k=-", "novalue", "k=v=w", "\x00=\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		key, value, _ := strings.Cut(arg, "=")
		if strings.HasPrefix(value, "@") && !strings.HasPrefix(value, "@@") {
			return // names a file: not this target's business
		}
		got, err := parsePairs([]string{arg}, strings.NewReader("from stdin\n"))
		if err != nil {
			if len(value) >= 8 && strings.Contains(err.Error(), value) {
				t.Fatalf("error quotes the value: %v", err)
			}
			return
		}
		switch {
		case value == "-":
			if got[key] != "from stdin" {
				t.Fatalf("%q read %q from stdin", arg, got[key])
			}
		case strings.HasPrefix(value, "@@"):
			if got[key] != value[1:] {
				t.Fatalf("%q = %q", arg, got[key])
			}
		default:
			if got[key] != value {
				t.Fatalf("%q = %q, want %q", arg, got[key], value)
			}
		}
	})
}
