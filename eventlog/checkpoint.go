package eventlog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a signed statement of the log's size and Merkle root, in
// the C2SP checkpoint format: a note whose text is
//
//	<origin>\n<size>\n<base64 root hash>\n
//
// followed by an Ed25519 signature line. An auditor who keeps one can later
// ask for a consistency proof to the current checkpoint and so detect any
// rewrite of history.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   tlog.Hash
	// Note is the signed note, exactly as stored and served.
	Note []byte
}

// maxCheckpointLen bounds a checkpoint note read from a file or a peer.
const maxCheckpointLen = 16 << 10

// formatCheckpoint is the note text for (origin, size, root).
func formatCheckpoint(origin string, size uint64, root tlog.Hash) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]))
}

// parseCheckpointText parses a checkpoint body. Extension lines after the
// root are allowed by the format and ignored.
func parseCheckpointText(text string) (origin string, size uint64, root tlog.Hash, err error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return "", 0, root, fmt.Errorf("checkpoint: want origin, size and root lines")
	}
	origin = lines[0]
	if origin == "" {
		return "", 0, root, fmt.Errorf("checkpoint: empty origin")
	}
	if lines[1] == "" || (len(lines[1]) > 1 && lines[1][0] == '0') {
		return "", 0, root, fmt.Errorf("checkpoint: size %q not canonical", lines[1])
	}
	size, err = strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return "", 0, root, fmt.Errorf("checkpoint: size: %w", err)
	}
	h, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize {
		return "", 0, root, fmt.Errorf("checkpoint: root hash is not %d bytes of base64", tlog.HashSize)
	}
	copy(root[:], h)
	return origin, size, root, nil
}

// OpenCheckpoint verifies a signed checkpoint note against the verifier
// key vkey (as returned by Log.VerifierKey) and parses it.
func OpenCheckpoint(msg []byte, vkey string) (Checkpoint, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("verifier key: %w", err)
	}
	return openCheckpoint(msg, note.VerifierList(v))
}

func openCheckpoint(msg []byte, vs note.Verifiers) (Checkpoint, error) {
	if len(msg) > maxCheckpointLen {
		return Checkpoint{}, fmt.Errorf("checkpoint: %d bytes exceeds limit %d", len(msg), maxCheckpointLen)
	}
	n, err := note.Open(msg, vs)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint signature: %w", err)
	}
	origin, size, root, err := parseCheckpointText(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	return Checkpoint{Origin: origin, Size: size, Root: root, Note: bytes.Clone(msg)}, nil
}

// signer signs checkpoint notes. It implements note.Signer with a key
// held as ed25519.PrivateKey so that it can be zeroed on Lock; the note
// package's own signer keeps the key in an unzeroable string.
type signer struct {
	name string
	hash uint32
	vkey string
	priv ed25519.PrivateKey
}

func newSigner(name string, seed []byte) (*signer, error) {
	priv := ed25519.NewKeyFromSeed(seed)
	vkey, err := note.NewEd25519VerifierKey(name, priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("checkpoint verifier key: %w", err)
	}
	// A verifier key is name+hash+key; the note package computes the hash,
	// so take it from there rather than restating its definition.
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("checkpoint verifier key: unexpected form")
	}
	h, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil {
		return nil, fmt.Errorf("checkpoint verifier key hash: %w", err)
	}
	return &signer{name: name, hash: uint32(h), vkey: vkey, priv: priv}, nil
}

func (s *signer) Name() string    { return s.name }
func (s *signer) KeyHash() uint32 { return s.hash }
func (s *signer) Sign(msg []byte) ([]byte, error) {
	return ed25519.Sign(s.priv, msg), nil
}

func (s *signer) zero() { clear(s.priv) }

// sign returns the signed checkpoint note for (size, root).
func (s *signer) sign(size uint64, root tlog.Hash) ([]byte, error) {
	msg, err := note.Sign(&note.Note{Text: formatCheckpoint(s.name, size, root)}, s)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return msg, nil
}
