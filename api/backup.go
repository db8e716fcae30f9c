package api

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// A backup (OpOperatorBackup, extension) is a consistent copy of Nexus's
// event log taken while it serves, as one file that the answer's body
// already is and that spike operator backup saves as it arrives:
//
//	spike-backup 1\n              the magic line (BackupMagic)
//	{header as JSON}\n             a BackupHeader, on one line
//	<Bytes bytes>                  the copy of events.db
//	{"sha256":"<64 hex>"}\n        a BackupFooter, then the end
//
// The digest comes last because Nexus knows it only once the copy has
// passed; the length comes first, so a reader knows where the copy ends
// without looking into it. A stream that breaks off, or that Nexus cut
// because the copy failed, lacks its footer and is refused: there is no
// way to end a backup early but to leave it incomplete.
//
// A BackupReader checks everything but the copy's contents, which only
// the event log can judge (eventlog.InstallBackup verifies them against
// the checkpoint the header names).

// BackupMagic is the first line of a backup file.
const BackupMagic = "spike-backup 1\n"

// ContentTypeBackup is the content type of OpOperatorBackup's answer.
const ContentTypeBackup = "application/vnd.spike.backup"

// Bounds of a backup file's parts.
const (
	// MaxBackupHeader bounds the header line: a checkpoint note and a
	// verifier key are a few hundred bytes.
	MaxBackupHeader = 16 << 10
	// MaxBackupBytes bounds the copy: 1 TiB, far above any log.
	MaxBackupBytes = 1 << 40
	// maxBackupFooter bounds the footer line.
	maxBackupFooter = 256
	// maxBackupCheckpoint bounds the checkpoint note (eventlog's own
	// limit is lower).
	maxBackupCheckpoint = 8 << 10
	// maxBackupText bounds the verifier key and the version.
	maxBackupText = 512
)

// BackupHeader describes the copy that follows it.
type BackupHeader struct {
	// Events is the number of events the copy holds; the copy ends
	// exactly at Checkpoint, which is signed at this size.
	Events uint64 `json:"events"`
	// Checkpoint is the signed checkpoint note the copy ends at.
	Checkpoint string `json:"checkpoint"`
	// Bytes is the length of the copy.
	Bytes int64 `json:"bytes"`
	// VerifierKey is the key the log's checkpoints verify with, as the
	// log records it. It is a convenience, not a trust anchor: a
	// restore pins a key obtained elsewhere with --key, and Nexus
	// proves the key against the root key when it unseals the copy.
	VerifierKey string `json:"verifierKey"`
	// Created is when Nexus began the copy.
	Created time.Time `json:"created"`
	// NexusVersion is the version of the Nexus that made the copy.
	NexusVersion string `json:"nexusVersion"`
}

// BackupFooter ends a backup file.
type BackupFooter struct {
	// SHA256 is the digest of the copy's bytes, in lower-case hex.
	SHA256 string `json:"sha256"`
}

// BackupRequest asks Nexus for a backup (OpOperatorBackup). Its body is
// {}.
type BackupRequest struct{}

// BackupRefusal is OpOperatorBackup's answer when it refuses (any
// status but 200): an answer of 200 is the backup file itself.
type BackupRefusal struct {
	Err ErrorCode `json:"err,omitempty"`
}

// Op returns OpOperatorBackup.
func (BackupRequest) Op() Op { return OpOperatorBackup }

// Validate accepts every backup request.
func (BackupRequest) Validate() error { return nil }

// Validate checks every field of the header.
func (h BackupHeader) Validate() error {
	if h.Events == 0 {
		return errors.New("events: a backup holds at least one event")
	}
	if err := checkBackupCheckpoint(h.Checkpoint, h.Events); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if h.Bytes <= 0 || h.Bytes > MaxBackupBytes {
		return fmt.Errorf("bytes: %d is not between 1 and %d", h.Bytes, int64(MaxBackupBytes))
	}
	if err := checkBackupText(h.VerifierKey); err != nil {
		return fmt.Errorf("verifierKey: %w", err)
	}
	// name+hash+key: the key is base64 and may hold '+' itself.
	if parts := strings.SplitN(h.VerifierKey, "+", 3); len(parts) != 3 || parts[0] == "" || len(parts[1]) != 8 || parts[2] == "" {
		return errors.New("verifierKey: not a note verifier key (name+hash+key)")
	} else if _, err := hex.DecodeString(parts[1]); err != nil {
		return errors.New("verifierKey: not a note verifier key (name+hash+key)")
	}
	if h.Created.IsZero() {
		return errors.New("created: missing")
	}
	if err := checkBackupText(h.NexusVersion); err != nil {
		return fmt.Errorf("nexusVersion: %w", err)
	}
	return nil
}

// checkBackupCheckpoint checks the form of a checkpoint note (origin,
// size, root hash, a blank line, signatures) and that its size is
// events. Its signature is the event log's to check.
func checkBackupCheckpoint(note string, events uint64) error {
	if note == "" || len(note) > maxBackupCheckpoint {
		return fmt.Errorf("missing or longer than %d bytes", maxBackupCheckpoint)
	}
	text, sigs, ok := strings.Cut(note, "\n\n")
	if !ok || !strings.HasPrefix(sigs, "— ") || !strings.HasSuffix(sigs, "\n") {
		return errors.New("not a signed note")
	}
	lines := strings.Split(text, "\n")
	if len(lines) != 3 || lines[0] == "" {
		return errors.New("not a checkpoint: want origin, size and root hash")
	}
	if lines[1] != strconv.FormatUint(events, 10) {
		return fmt.Errorf("it is at size %q, but the header says %d events", lines[1], events)
	}
	return nil
}

// checkBackupText checks a short, printable, one-line field.
func checkBackupText(s string) error {
	if s == "" || len(s) > maxBackupText {
		return fmt.Errorf("missing or longer than %d bytes", maxBackupText)
	}
	for _, r := range s {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return errors.New("holds a character that is not printable, or a space")
		}
	}
	return nil
}

// WriteBackupHeader writes the magic line and h, after validating h.
func WriteBackupHeader(w io.Writer, h BackupHeader) error {
	if err := h.Validate(); err != nil {
		return fmt.Errorf("backup header: %w", err)
	}
	b, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("backup header: %w", err)
	}
	if len(b)+1 > MaxBackupHeader {
		return fmt.Errorf("backup header: %d bytes, more than %d", len(b)+1, MaxBackupHeader)
	}
	_, err = io.WriteString(w, BackupMagic+string(b)+"\n")
	return err
}

// WriteBackupFooter writes the footer for a copy whose digest is sum.
func WriteBackupFooter(w io.Writer, sum [sha256.Size]byte) error {
	b, err := json.Marshal(BackupFooter{SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		return fmt.Errorf("backup footer: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ErrBadBackup marks a backup file that is malformed, truncated, longer
// than it says, or whose copy does not match its digest.
var ErrBadBackup = errors.New("not a valid backup file")

func badBackup(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadBackup, fmt.Sprintf(format, args...))
}

// BackupReader reads a backup file strictly. NewBackupReader reads and
// checks the header; Read then returns the copy's bytes, and returns
// io.EOF only once the footer has been read, the digest matched and
// nothing followed. Every other way a file can end is an error wrapping
// ErrBadBackup (or the underlying reader's error). A caller that must not
// act on a bad copy keeps what it reads aside until EOF.
type BackupReader struct {
	header BackupHeader
	r      *bufio.Reader
	left   int64 // bytes of the copy not yet read
	h      hash.Hash
	sum    [sha256.Size]byte
	err    error // sticky: io.EOF once verified
}

// NewBackupReader reads the magic line and the header from r and checks
// them.
func NewBackupReader(r io.Reader) (*BackupReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic := make([]byte, len(BackupMagic))
	if _, err := io.ReadFull(br, magic); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, badBackup("too short to be one")
		}
		return nil, fmt.Errorf("read backup: %w", err)
	}
	if string(magic) != BackupMagic {
		return nil, badBackup("it does not start with %q", strings.TrimSpace(BackupMagic))
	}
	line, err := readBackupLine(br, MaxBackupHeader)
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	var h BackupHeader
	if err := strictJSON(line, &h); err != nil {
		return nil, badBackup("header: %v", err)
	}
	if err := h.Validate(); err != nil {
		return nil, badBackup("header: %v", err)
	}
	return &BackupReader{header: h, r: br, left: h.Bytes, h: sha256.New()}, nil
}

// Header returns the file's header.
func (b *BackupReader) Header() BackupHeader { return b.header }

// SHA256 returns the copy's digest, once Read has returned io.EOF.
func (b *BackupReader) SHA256() ([sha256.Size]byte, bool) {
	return b.sum, b.err == io.EOF
}

// Read reads the copy.
func (b *BackupReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.left == 0 {
		b.err = b.finish()
		return 0, b.err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.h.Write(p[:n])
	b.left -= int64(n)
	switch {
	case errors.Is(err, io.EOF) && b.left > 0:
		b.err = badBackup("truncated: the copy ends %d bytes early", b.left)
		return n, b.err
	case err != nil && !errors.Is(err, io.EOF):
		b.err = fmt.Errorf("read backup: %w", err)
		return n, b.err
	}
	return n, nil
}

// finish reads the footer, checks the digest and that nothing follows.
func (b *BackupReader) finish() error {
	line, err := readBackupLine(b.r, maxBackupFooter)
	if err != nil {
		return fmt.Errorf("footer: %w", err)
	}
	var f BackupFooter
	if err := strictJSON(line, &f); err != nil {
		return badBackup("footer: %v", err)
	}
	want, err := hex.DecodeString(f.SHA256)
	if err != nil || len(want) != sha256.Size || f.SHA256 != strings.ToLower(f.SHA256) {
		return badBackup("footer: sha256 is not %d bytes of lower-case hex", sha256.Size)
	}
	b.h.Sum(b.sum[:0])
	if !bytes.Equal(b.sum[:], want) {
		return badBackup("checksum mismatch: the copy's SHA-256 is not the one its footer gives")
	}
	if _, err := b.r.ReadByte(); err == nil {
		return badBackup("trailing data after the footer")
	} else if !errors.Is(err, io.EOF) {
		return fmt.Errorf("read backup: %w", err)
	}
	return io.EOF
}

// readBackupLine reads one line of at most limit bytes, newline
// included, and returns it without the newline.
func readBackupLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > limit {
			return nil, badBackup("a line longer than %d bytes", limit)
		}
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil, badBackup("truncated: the file ends inside a line")
		default:
			return nil, fmt.Errorf("read backup: %w", err)
		}
	}
}

// strictJSON decodes one JSON object into v: no unknown or repeated
// keys, no trailing data, valid UTF-8 only.
func strictJSON(b []byte, v any) error {
	if !json.Valid(b) {
		return errors.New("malformed JSON")
	}
	if err := knownKeys(b, v); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// knownKeys refuses an object whose top-level keys repeat or are not
// exactly the JSON names of v's fields, or that is not an object:
// encoding/json would keep the last of repeated values silently, and
// match names regardless of case.
func knownKeys(b []byte, v any) error {
	names := map[string]bool{}
	t := reflect.TypeOf(v).Elem()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names[name] = true
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		k, _ := t.(string)
		if !names[k] {
			return fmt.Errorf("unknown key %q", k)
		}
		if seen[k] {
			return fmt.Errorf("key %q repeated", k)
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}
