package pilot

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/securefile"
)

type cipherCmd struct {
	Encrypt cipherEncryptCmd `cmd:"" help:"Encrypt with Nexus's key; prints the envelope (version, nonce, ciphertext)."`
	Decrypt cipherDecryptCmd `cmd:"" help:"Decrypt an envelope made by cipher encrypt."`
}

// cipherIO is where a cipher command reads and writes. Without a file the
// input is standard input and the output standard output.
type cipherIO struct {
	In   string `arg:"" optional:"" type:"path" help:"Input file (default: standard input)."`
	File string `name:"file" type:"path" help:"Input file, as SPIKE spells it (same as the argument)."`
	Out  string `name:"out" short:"o" type:"path" help:"Write the result here (mode 0600, replacing the file whole) instead of to standard output (-)."`
}

// maxCipherInput bounds what a cipher command reads: an envelope of the
// largest payload, or its JSON document.
const maxCipherInput = 4 * (1 + api.NonceSize + api.MaxCipherPayload)

func (c cipherIO) read(stdin io.Reader) ([]byte, error) {
	if c.In != "" && c.File != "" && c.In != c.File {
		return nil, usagef("give the input file once: an argument or --file")
	}
	name := c.In
	if name == "" {
		name = c.File
	}
	r, what := stdin, "the input (standard input)"
	if name != "" && name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("input: %w", err)
		}
		defer f.Close()
		r, what = f, "the input file "+name
	}
	if r == nil {
		return nil, usagef("no input: give a file or pipe it to standard input")
	}
	return readAtMost(r, maxCipherInput, what)
}

// checkOut refuses, before anything is sent, an --out whose directory is
// not there: the command line's mistake, which Nexus should not have
// worked for.
func (c cipherIO) checkOut() error {
	if c.Out == "" || c.Out == "-" {
		return nil
	}
	dir := filepath.Dir(c.Out)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return usagef("--out %s: no directory %s to write it in", c.Out, dir)
	}
	// A regular file is replaced whole, a link replaced, not followed;
	// anything else (a directory, a device) is not ours to replace.
	if fi, err := os.Lstat(c.Out); err == nil && !fi.Mode().IsRegular() && fi.Mode()&os.ModeSymlink == 0 {
		return usagef("--out %s is not a regular file: name a file to write", c.Out)
	}
	return nil
}

// write sends the result to --out or stdout ("" or "-"). A file is
// replaced whole, mode 0600, or left as it was: a failed write never
// leaves a part of a plaintext behind, and a link there is replaced, not
// followed.
func (c cipherIO) write(e *env, b []byte) error {
	if c.Out == "" || c.Out == "-" {
		_, err := e.out.Write(b)
		return err
	}
	if err := securefile.WriteFile(c.Out, b, 0o600); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	return nil
}

// envelopeDoc is the JSON document of `spike cipher encrypt`, which
// `spike cipher decrypt` also reads. The byte fields are standard
// base64, as on the wire.
type envelopeDoc struct {
	Version    byte   `json:"version"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// plaintextDoc is the JSON document of `spike cipher decrypt`.
type plaintextDoc struct {
	Plaintext []byte `json:"plaintext"`
}

type cipherEncryptCmd struct {
	cipherIO
	Plaintext string `name:"plaintext" help:"The plaintext, base64-encoded, instead of an input file."`
	Algorithm string `name:"algorithm" hidden:"" help:"Accepted for SPIKE's sake and ignored."`
}

// Run prints the envelope as raw bytes (version ‖ nonce ‖ ciphertext,
// SPIKE's stream format) or, with --format json|yaml, as a document.
func (c *cipherEncryptCmd) Run(e *env) error {
	if err := c.checkOut(); err != nil {
		return err
	}
	var plaintext []byte
	if c.Plaintext != "" {
		if c.In != "" || c.File != "" {
			return usagef("give --plaintext or an input file, not both")
		}
		var err error
		if plaintext, err = base64.StdEncoding.DecodeString(c.Plaintext); err != nil {
			return usagef("--plaintext is not standard base64")
		}
	} else {
		var err error
		if plaintext, err = c.read(e.in); err != nil {
			return err
		}
	}
	defer clear(plaintext)
	client, err := e.nexus()
	if err != nil {
		return err
	}
	if e.format == formatHuman {
		out, err := client.EncryptStream(e.ctx, bytes.NewReader(plaintext))
		if err != nil {
			return err
		}
		return c.write(e, out)
	}
	env, err := client.Encrypt(e.ctx, plaintext)
	if err != nil {
		return err
	}
	b, err := render(e.format, envelopeDoc{Version: env.Version, Nonce: env.Nonce, Ciphertext: env.Ciphertext}, nil)
	if err != nil {
		return err
	}
	return c.write(e, b)
}

type cipherDecryptCmd struct {
	cipherIO
	Version    *int   `name:"version" help:"Envelope version (with --nonce and --ciphertext, instead of an input file)."`
	Nonce      string `name:"nonce" help:"Nonce, base64-encoded."`
	Ciphertext string `name:"ciphertext" help:"Ciphertext with its tag, base64-encoded."`
	Algorithm  string `name:"algorithm" hidden:"" help:"Accepted for SPIKE's sake and ignored."`
}

// Run decrypts an envelope given as raw bytes (SPIKE's stream format), as
// the JSON document cipher encrypt prints, or as flags, and prints the
// plaintext raw or, with --format json|yaml, as a document.
func (c *cipherDecryptCmd) Run(e *env) error {
	if err := c.checkOut(); err != nil {
		return err
	}
	env, raw, err := c.envelope(e.in)
	if err != nil {
		return err
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	var plaintext []byte
	if raw != nil {
		plaintext, err = client.DecryptStream(e.ctx, bytes.NewReader(raw))
	} else {
		plaintext, err = client.Decrypt(e.ctx, env)
	}
	if err != nil {
		return err
	}
	defer clear(plaintext)
	if e.format == formatHuman {
		return c.write(e, plaintext)
	}
	b, err := render(e.format, plaintextDoc{Plaintext: plaintext}, nil)
	if err != nil {
		return err
	}
	defer clear(b)
	return c.write(e, b)
}

// envelope returns the envelope from the flags or the input: either as
// fields (env) or as raw stream-format bytes (raw).
func (c *cipherDecryptCmd) envelope(stdin io.Reader) (env api.CipherEnvelope, raw []byte, err error) {
	if c.Version != nil || c.Nonce != "" || c.Ciphertext != "" {
		if c.In != "" || c.File != "" {
			return env, nil, usagef("give --version, --nonce and --ciphertext, or an input file, not both")
		}
		if c.Version == nil || c.Nonce == "" || c.Ciphertext == "" {
			return env, nil, usagef("give all of --version, --nonce and --ciphertext")
		}
		if *c.Version < 0 || *c.Version > 255 {
			return env, nil, usagef("--version must be 0 to 255")
		}
		env.Version = byte(*c.Version)
		if env.Nonce, err = base64.StdEncoding.DecodeString(c.Nonce); err != nil {
			return env, nil, usagef("--nonce is not standard base64")
		}
		if env.Ciphertext, err = base64.StdEncoding.DecodeString(c.Ciphertext); err != nil {
			return env, nil, usagef("--ciphertext is not standard base64")
		}
		return env, nil, checkEnvelope(env, "the envelope given by --version, --nonce and --ciphertext")
	}
	b, err := c.read(stdin)
	if err != nil {
		return env, nil, err
	}
	what := "the input"
	if name := cmpOr(c.In, c.File); name != "" && name != "-" {
		what = name
	}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		var d envelopeDoc
		if err := json.Unmarshal(t, &d); err != nil {
			return env, nil, usagef("%s looks like JSON but is not an envelope document: %v", what, err)
		}
		env = api.CipherEnvelope{Version: d.Version, Nonce: d.Nonce, Ciphertext: d.Ciphertext}
		return env, nil, checkEnvelope(env, what)
	}
	if len(b) == 0 {
		return env, nil, usagef("%s is empty: cipher decrypt reads what cipher encrypt wrote", what)
	}
	if len(b) < 1+api.NonceSize {
		return env, nil, checkEnvelope(api.CipherEnvelope{Version: b[0]}, what)
	}
	env = api.CipherEnvelope{Version: b[0], Nonce: b[1 : 1+api.NonceSize], Ciphertext: b[1+api.NonceSize:]}
	return env, b, checkEnvelope(env, what)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// checkEnvelope refuses, before anything is sent, what cannot be a
// ciphertext of spike's or SPIKE's cipher service: another version byte,
// a nonce that is not 12 bytes, a ciphertext shorter than its 16-byte
// tag. Garbage is said to be garbage here rather than answered by Nexus
// with an unsupported version. what names the input.
func checkEnvelope(env api.CipherEnvelope, what string) error {
	const shape = "cipher decrypt reads what cipher encrypt wrote: version 1, a 12-byte nonce, the ciphertext and its 16-byte tag"
	switch {
	case env.Version != api.CipherVersion:
		return usagef("%s is not a spike or SPIKE ciphertext: its version is %d, not %d (%s)", what, env.Version, api.CipherVersion, shape)
	case len(env.Nonce) != api.NonceSize:
		return usagef("%s is not a spike or SPIKE ciphertext: its nonce is %d bytes, not %d (%s)", what, len(env.Nonce), api.NonceSize, shape)
	case len(env.Ciphertext) < api.TagSize:
		return usagef("%s is not a spike or SPIKE ciphertext: too short, %d bytes of ciphertext where the tag alone is %d (%s)", what, len(env.Ciphertext), api.TagSize, shape)
	}
	return nil
}
