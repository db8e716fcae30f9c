package shamir

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A malformed recovery file may hold shard digits in any field: errors
// say which part is wrong and never repeat the text.
func TestParseRecoveryNeverQuotesText(t *testing.T) {
	t.Parallel()
	digits := strings.Repeat("c0ffee", 11)[:64]
	for _, tc := range []struct{ text, want string }{
		{"spike:" + digits + ":" + digits, "the id"},
		{"spike:" + digits[:3] + ":" + digits, "the id"},
		{"spike:-" + digits[:2] + ":" + digits, "the id"},
		{digits + ":1:" + digits, "want spike:<id>:<64 hex digits>"},
		{"spike:1:" + digits[:63] + "g", "not hexadecimal"},
		{"spike:1:" + digits + digits, "128 hex digits, want 64"},
		{digits, "want spike:<id>:<64 hex digits>"},
	} {
		_, err := ParseRecovery(tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseRecovery(%.20q…): %v, want an error mentioning %q", tc.text, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), digits[:6]) {
			t.Errorf("error quotes the text: %v", err)
		}
	}
}

func TestReadRecovery(t *testing.T) {
	t.Parallel()
	key := goldenKey("read")
	shares, _, err := Split(&key, Params{Shares: 2, Threshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	text := FormatRecovery(shares[1]) + "\n"
	got, err := ReadRecovery(strings.NewReader(text))
	if err != nil || got != shares[1] {
		t.Fatalf("ReadRecovery: %v, %v", got.ID, err)
	}
	// Past the bound, nothing more is read than one byte beyond it.
	r := strings.NewReader(text + strings.Repeat(" ", 2*MaxRecoveryFile))
	if _, err := ReadRecovery(r); err == nil || !strings.Contains(err.Error(), "more than 4096 bytes") {
		t.Errorf("oversized: %v", err)
	}
	if left := r.Len(); left != len(text)+2*MaxRecoveryFile-(MaxRecoveryFile+1) {
		t.Errorf("read %d bytes of an oversized input, want %d", r.Size()-int64(left), MaxRecoveryFile+1)
	}
	path := filepath.Join(t.TempDir(), RecoveryFileName(2))
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadRecoveryFile(path); err != nil || got != shares[1] {
		t.Errorf("ReadRecoveryFile: %v, %v", got.ID, err)
	}
	if _, err := ReadRecoveryFile(path + ".none"); err == nil {
		t.Error("missing file read")
	}
}

func TestRecoveryFileNames(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]int{
		"spike.recovery.1.txt":     1,
		"spike.recovery.1000.txt":  1000,
		"spike.recovery.0.txt":     0,
		"spike.recovery.01.txt":    0,
		"spike.recovery.1001.txt":  0,
		"spike.recovery.-1.txt":    0,
		"spike.recovery.+1.txt":    0,
		"spike.recovery-old.txt":   0,
		"spike.recovery..txt":      0,
		"spike.recovery.1.txt~":    0,
		"spike.recovery.1.txt.bak": 0,
		"spike.recovery.x.txt":     0,
	} {
		id, ok := recoveryFileID(name)
		if ok != (want != 0) || id != want {
			t.Errorf("recoveryFileID(%q) = %d, %v; want %d", name, id, ok, want)
		}
	}
	if got := RecoveryFileName(7); got != "spike.recovery.7.txt" {
		t.Errorf("RecoveryFileName(7) = %q", got)
	}
}

func TestWriteRecoveryDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "recover")
	key := goldenKey("dir")
	// The old set has ids 1 to 12, so that order by id is not order by
	// name, and an interrupted write left its staging directory.
	old, _, err := Split(&key, Params{Shares: 12, Threshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	files, err := WriteRecoveryDir(dir, old)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 12 || filepath.Base(files[1]) != "spike.recovery.2.txt" || filepath.Base(files[11]) != "spike.recovery.12.txt" {
		t.Fatalf("files %v", files)
	}
	if listed, err := RecoveryFiles(dir); err != nil || !slices.Equal(listed, files) {
		t.Fatalf("RecoveryFiles = %v, %v; want %v", listed, err, files)
	}
	keep := []string{"spike.recovery-old.txt", "spike.recovery.01.txt", "notes.txt"}
	for _, name := range keep {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("operator's"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, stagingPrefix+"123", "x"), 0o700); err != nil {
		t.Fatal(err)
	}

	fresh, _, err := SplitEpoch(&key, Params{Shares: 3, Threshold: 2}, 1)
	if err != nil {
		t.Fatal(err)
	}
	files, err = WriteRecoveryDir(dir, []Share{fresh[2], fresh[0], fresh[1]})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := slices.Sorted(slices.Values(append([]string{"spike.recovery.1.txt", "spike.recovery.2.txt", "spike.recovery.3.txt"}, keep...)))
	if !slices.Equal(names, want) {
		t.Errorf("directory holds %v, want %v", names, want)
	}
	for i, f := range files {
		got, err := ReadRecoveryFile(f)
		if err != nil || got != fresh[i] {
			t.Errorf("%s: share %d, %v; want share %d of the new set", f, got.ID, err, fresh[i].ID)
		}
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v", f, fi.Mode(), err)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, %v", fi.Mode(), err)
	}
}

// A set that cannot be written is refused before anything changes.
func TestWriteRecoveryDirRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	one := Share{ID: 1, Value: goldenKey("one")}
	for name, set := range map[string][]Share{
		"none":     nil,
		"id 0":     {{ID: 0, Value: one.Value}},
		"id 1001":  {{ID: 1001, Value: one.Value}},
		"twice":    {one, one},
		"all zero": {one, {ID: 2}},
	} {
		if _, err := WriteRecoveryDir(dir, set); err == nil {
			t.Errorf("%s: written", name)
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("directory holds %v, %v", entries, err)
	}
	if files, err := RecoveryFiles(filepath.Join(dir, "missing")); err != nil || files != nil {
		t.Errorf("missing directory: %v, %v", files, err)
	}
}
