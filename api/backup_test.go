package api

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

const testBackupNote = "spike-log/0123\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— spike-log/0123 AAAAAAAA\n"

func testBackupHeader(n int) BackupHeader {
	return BackupHeader{Events: 3, Checkpoint: testBackupNote, Bytes: int64(n), VerifierKey: "spike-log/0123+0a0b0c0d+AQID",
		Created: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC), NexusVersion: "v1.2.3"}
}

// testBackup returns a valid backup file of copy.
func testBackup(t testing.TB, copy []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteBackupHeader(&b, testBackupHeader(len(copy))); err != nil {
		t.Fatal(err)
	}
	b.Write(copy)
	if err := WriteBackupFooter(&b, sha256.Sum256(copy)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// readBackup reads a whole backup file.
func readBackup(file []byte) (BackupHeader, []byte, error) {
	r, err := NewBackupReader(bytes.NewReader(file))
	if err != nil {
		return BackupHeader{}, nil, err
	}
	copy, err := io.ReadAll(r)
	return r.Header(), copy, err
}

func TestBackupRoundTrip(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 4096, 200 << 10} {
		copy := bytes.Repeat([]byte{0xa5, '\n', '{'}, n)[:n]
		h, got, err := readBackup(testBackup(t, copy))
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(got, copy) || h != testBackupHeader(n) {
			t.Fatalf("%d bytes: read back %d bytes, header %+v", n, len(got), h)
		}
	}
}

func TestBackupReaderRefuses(t *testing.T) {
	t.Parallel()
	copy := []byte("0123456789")
	good := string(testBackup(t, copy))
	magic, rest, _ := strings.Cut(good, "\n")
	header, rest, _ := strings.Cut(rest, "\n")
	footer := rest[len(copy):]
	body := string(copy)
	head := magic + "\n" + header + "\n"
	swap := func(old, new string) string {
		return magic + "\n" + strings.Replace(header, old, new, 1) + "\n" + body + footer
	}
	for _, c := range []struct{ name, file, want string }{
		{"empty", "", "too short"},
		{"other magic", "spike-backup 2\n" + header + "\n" + body + footer, "does not start"},
		{"no header", magic + "\n", "ends inside a line"},
		{"header not JSON", head[:len(magic)+1] + "{\n" + body + footer, "malformed"},
		{"header array", magic + "\n[1]\n" + body + footer, "not a JSON object"},
		{"header unknown key", swap(`"events":3`, `"events":3,"x":1`), "unknown key"},
		{"header key case", swap(`"events"`, `"Events"`), "unknown key"},
		{"header repeated key", swap(`"events":3`, `"events":3,"events":3`), "repeated"},
		{"header trailing", magic + "\n" + header + " {}\n" + body + footer, "malformed"},
		{"no events", swap(`"events":3`, `"events":0`), "at least one event"},
		{"checkpoint size", swap(`"events":3`, `"events":4`), "header says 4"},
		{"checkpoint unsigned", swap(`\n\n—`, `\n\nx`), "signed note"},
		{"no bytes", swap(`"bytes":10`, `"bytes":0`), "bytes"},
		{"too many bytes", swap(`"bytes":10`, `"bytes":1099511627777`), "bytes"},
		{"verifier key", swap(`0a0b0c0d+`, ``), "verifierKey"},
		{"verifier key hash", swap(`0a0b0c0d`, `0a0b0c0g`), "verifierKey"},
		{"verifier key space", swap(`0a0b0c0d`, `0a0b 0c0d`), "verifierKey"},
		{"no created", swap(`"created":"2026-12-06T12:00:00Z"`, `"created":"0001-01-01T00:00:00Z"`), "created"},
		{"version control", swap(`v1.2.3`, `v1\u0007`), "nexusVersion"},
		{"header too long", magic + "\n" + strings.Repeat(" ", MaxBackupHeader+1) + header + "\n" + body + footer, "longer than"},
		{"truncated copy", head + body[:5], "ends 5 bytes early"},
		{"no footer", head + body, "ends inside a line"},
		{"footer cut", good[:len(good)-2], "ends inside a line"},
		{"wrong digest", head + "0123456788" + footer, "checksum mismatch"},
		{"upper-case digest", head + body + strings.ToUpper(footer[:12]) + footer[12:], "unknown key"},
		{"footer extra key", head + body + strings.Replace(footer, "{", `{"x":1,`, 1), "unknown key"},
		{"footer short digest", head + body + `{"sha256":"00"}` + "\n", "lower-case hex"},
		{"trailing byte", good + "x", "trailing data"},
		{"two footers", good + footer, "trailing data"},
		{"copy longer", head + body + "x" + footer, "malformed"},
	} {
		_, _, err := readBackup([]byte(c.file))
		if err == nil || !errors.Is(err, ErrBadBackup) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want ErrBadBackup saying %q", c.name, err, c.want)
		}
	}
}

func TestBackupWriteHeaderValidates(t *testing.T) {
	t.Parallel()
	h := testBackupHeader(10)
	h.NexusVersion = ""
	if err := WriteBackupHeader(io.Discard, h); err == nil {
		t.Fatal("a header without a version was written")
	}
}

// FuzzReadBackup: reading never panics; a file that is accepted is
// written back byte for byte from what was read.
func FuzzReadBackup(f *testing.F) {
	f.Add(testBackup(f, []byte("0123456789")))
	f.Add(testBackup(f, []byte{0}))
	f.Add([]byte(BackupMagic))
	f.Fuzz(func(t *testing.T, file []byte) {
		h, copy, err := readBackup(file)
		if err != nil {
			if !errors.Is(err, ErrBadBackup) {
				t.Fatalf("unexpected kind of error: %v", err)
			}
			return
		}
		var b bytes.Buffer
		if err := WriteBackupHeader(&b, h); err != nil {
			t.Fatalf("accepted header not written: %v", err)
		}
		b.Write(copy)
		if err := WriteBackupFooter(&b, sha256.Sum256(copy)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := readBackup(b.Bytes()); err != nil {
			t.Fatalf("rewritten file refused: %v", err)
		}
	})
}
