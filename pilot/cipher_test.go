package pilot_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestCipherStream(t *testing.T) {
	t.Parallel()
	plain := "attack at dawn\n"
	enc := super(t, plain, "cipher", "encrypt")
	enc.check(t, 0, "")
	env := []byte(enc.stdout)
	if len(env) != 1+12+len(plain)+16 || env[0] != 1 {
		t.Fatalf("envelope of %d bytes, first %x: want version 1, nonce, ciphertext and tag", len(env), env[:1])
	}
	dec := super(t, enc.stdout, "cipher", "decrypt")
	dec.check(t, 0, "")
	if dec.stdout != plain {
		t.Fatalf("decrypted %q, want %q", dec.stdout, plain)
	}

	// Files in and out, the argument and SPIKE's --file alike.
	dir := t.TempDir()
	in, sealed, out := filepath.Join(dir, "in"), filepath.Join(dir, "sealed"), filepath.Join(dir, "out")
	if err := os.WriteFile(in, []byte(plain), 0o600); err != nil {
		t.Fatal(err)
	}
	super(t, "", "cipher", "encrypt", in, "-o", sealed).check(t, 0, "")
	super(t, "", "cipher", "decrypt", "--file", sealed, "--out", out).check(t, 0, "")
	if b, err := os.ReadFile(out); err != nil || string(b) != plain {
		t.Fatalf("round trip through files: %q, %v", b, err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("output file mode: %v, %v (want 0600)", fi.Mode(), err)
	}

	// An output file that was world-readable is replaced by a private
	// one; a link there is replaced, not followed; - is standard output.
	readable, elsewhere, link := filepath.Join(dir, "readable"), filepath.Join(dir, "elsewhere"), filepath.Join(dir, "link")
	for _, f := range []string{readable, elsewhere} {
		if err := os.WriteFile(f, []byte("old content, longer than the plaintext"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(elsewhere, link); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{readable, link} {
		super(t, "", "cipher", "decrypt", sealed, "-o", target).check(t, 0, "")
		fi, err := os.Lstat(target)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want a regular file, mode 0600", target, fi.Mode(), err)
		}
		if b, err := os.ReadFile(target); err != nil || string(b) != plain {
			t.Errorf("%s holds %q, %v", target, b, err)
		}
	}
	if b, err := os.ReadFile(elsewhere); err != nil || string(b) != "old content, longer than the plaintext" {
		t.Errorf("the link's target was written: %q, %v", b, err)
	}
	dash := super(t, "", "cipher", "decrypt", sealed, "-o", "-")
	dash.check(t, 0, "")
	if dash.stdout != plain {
		t.Errorf("-o - wrote %q to standard output, want %q", dash.stdout, plain)
	}
	if _, err := os.Stat("-"); err == nil {
		t.Error(`-o - created a file named "-"`)
	}
	super(t, "", "cipher", "decrypt", sealed, "-o", dir).check(t, 2, "--out "+dir+" is not a regular file")

	altered := bytes.Clone(env)
	altered[len(altered)-1] ^= 1
	super(t, string(altered), "cipher", "decrypt").check(t, 1, "does not decrypt under Nexus's key")
}

func TestCipherJSON(t *testing.T) {
	t.Parallel()
	plain := []byte("s3cret")
	b64 := base64.StdEncoding.EncodeToString(plain)
	enc := super(t, "", "-f", "json", "cipher", "encrypt", "--plaintext", b64)
	enc.check(t, 0, "")
	golden(t, "cipher-encrypt", enc.stdout)
	var doc struct {
		Version    int    `json:"version"`
		Nonce      []byte `json:"nonce"`
		Ciphertext []byte `json:"ciphertext"`
	}
	if err := json.Unmarshal([]byte(enc.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	// The document cipher encrypt prints is what cipher decrypt reads.
	dec := super(t, enc.stdout, "-f", "json", "cipher", "decrypt")
	dec.check(t, 0, "")
	golden(t, "cipher-decrypt", dec.stdout)
	// So are SPIKE's flags.
	flags := super(t, "", "cipher", "decrypt", "--version", "1",
		"--nonce", base64.StdEncoding.EncodeToString(doc.Nonce), "--ciphertext", base64.StdEncoding.EncodeToString(doc.Ciphertext))
	flags.check(t, 0, "")
	if flags.stdout != string(plain) {
		t.Fatalf("decrypted %q, want %q", flags.stdout, plain)
	}
	doc.Ciphertext[0] ^= 1
	bad := super(t, "", "cipher", "decrypt", "--version", "1",
		"--nonce", base64.StdEncoding.EncodeToString(doc.Nonce), "--ciphertext", base64.StdEncoding.EncodeToString(doc.Ciphertext))
	bad.check(t, 1, "does not decrypt under Nexus's key")
	short := super(t, "", "-f", "yaml", "cipher", "decrypt", "--version", "1", "--nonce", "AAAA", "--ciphertext", "AAAA")
	short.check(t, 2, "its nonce is 3 bytes, not 12")
}

func TestCipherRefusals(t *testing.T) {
	t.Parallel()
	runCases(t, []cliCase{
		{name: "encrypt unauthorized", who: nobodyDir(t), stdin: "x", args: []string{"cipher", "encrypt"}, code: 1, want: "execute on spike/system/cipher/exec"},
		{name: "decrypt unauthorized", who: nobodyDir(t), stdin: "\x01" + string(make([]byte, 12+16)), args: []string{"cipher", "decrypt"}, code: 1, want: "execute on spike/system/cipher/exec"},
		{name: "encrypt bad base64", args: []string{"cipher", "encrypt", "--plaintext", "not base64!"}, code: 2, want: "--plaintext is not standard base64"},
		{name: "encrypt plaintext and file", args: []string{"cipher", "encrypt", "--plaintext", "AA==", "--file", "x"}, code: 2, want: "not both"},
		{name: "encrypt two inputs", args: []string{"cipher", "encrypt", "a", "--file", "b"}, code: 2, want: "give the input file once"},
		{name: "encrypt missing file", args: []string{"cipher", "encrypt", "/nonexistent/in"}, code: 2, want: "open /nonexistent/in: no such file"},
		{name: "decrypt some flags", args: []string{"cipher", "decrypt", "--nonce", "AAAA"}, code: 2, want: "give all of --version, --nonce and --ciphertext"},
		// Garbage is said to be garbage, here: nothing is sent.
		{name: "decrypt short envelope", stdin: "\x01abc", args: []string{"cipher", "decrypt"}, code: 2, want: "the input is not a spike or SPIKE ciphertext: its nonce is 0 bytes, not 12"},
		{name: "decrypt text", stdin: "hello, this is not a ciphertext at all", args: []string{"cipher", "decrypt"}, code: 2,
			want: "the input is not a spike or SPIKE ciphertext: its version is 104, not 1 (cipher decrypt reads what cipher encrypt wrote"},
		{name: "decrypt no tag", stdin: "\x01" + string(make([]byte, 12+15)), args: []string{"cipher", "decrypt"}, code: 2, want: "too short, 15 bytes of ciphertext where the tag alone is 16"},
		{name: "decrypt empty", args: []string{"cipher", "decrypt"}, code: 2, want: "the input is empty"},
		{name: "decrypt version 2 flags", args: []string{"cipher", "decrypt", "--version", "2", "--nonce", "AAAAAAAAAAAAAAAA", "--ciphertext", "AAAAAAAAAAAAAAAAAAAAAA=="}, code: 2,
			want: "the envelope given by --version, --nonce and --ciphertext is not a spike or SPIKE ciphertext: its version is 2, not 1"},
		{name: "decrypt bad document", stdin: `{"nonce": 3}`, args: []string{"cipher", "decrypt"}, code: 2, want: "not an envelope document"},
		{name: "decrypt document version 0", stdin: `{"version": 0, "nonce": "AAAAAAAAAAAAAAAA", "ciphertext": "AAAAAAAAAAAAAAAAAAAAAA=="}`, args: []string{"cipher", "decrypt"}, code: 2, want: "its version is 0, not 1"},
		{name: "decrypt out in no directory", stdin: "x", args: []string{"cipher", "decrypt", "-o", "/nonexistent/dir/out"}, code: 2, want: "--out /nonexistent/dir/out: no directory /nonexistent/dir"},
	})
}
