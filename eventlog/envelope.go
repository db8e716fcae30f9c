package eventlog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/spikeledger/spike/internal/seal"
)

// Envelope layout, version 2 (all integers big-endian):
//
//	0      version   (1 byte, = 2)
//	1:9    seq       (uint64)
//	9:25   id        (ULID, 16 bytes)
//	25:33  time      (int64 Unix nanoseconds)
//	33:37  schema    (uint32)
//	37:41  key id    (uint32)
//	41     type len  (1 byte, 1..MaxTypeLen)
//	42:    type name (ASCII)
//	...    public length (uint16), then the public bytes (version 2 only)
//	...    sealed payload (nonce ‖ ciphertext ‖ tag)
//
// The header (everything before the sealed payload) is the payload's
// associated data, so no header field can be changed without the payload
// failing to open. Version 1 envelopes, written before the public part
// existed, have no public length; they are read as they are.
const (
	envelopeVersion = 2
	fixedHeaderLen  = 42

	// MaxPublicLen bounds the clear, authenticated part of an event.
	MaxPublicLen = 16 << 10

	// MaxTypeLen bounds an event type name.
	MaxTypeLen = 128

	// MaxEnvelopeLen bounds a stored envelope. Anything longer is rejected
	// by the decoder before any other work.
	MaxEnvelopeLen = 64 << 20
)

// Header is the clear part of an event: everything a sealed log can tell.
type Header struct {
	Seq    uint64
	ID     ulid.ULID
	Time   time.Time
	Type   string
	Schema uint32
	KeyID  uint32
	// Public is the event's clear part: authenticated with the payload but
	// readable while the log is sealed, for facts needed before the root
	// key is back (the Feldman commitments recovery checks shards against).
	// Never put a secret here.
	Public []byte

	// version is the envelope version the header was read from (0 for a
	// new event: the current version).
	version byte
}

// Record is one event read back from the log.
type Record struct {
	Header
	// Payload is the decrypted payload, or nil when read sealed.
	Payload []byte
	// Leaf is the RFC 6962 leaf hash of the stored envelope, the value the
	// Merkle tree commits to.
	Leaf tlog.Hash
}

// validType reports whether name is an acceptable event type: 1 to
// MaxTypeLen bytes of letters, digits and . _ - /.
func validType(name string) error {
	if len(name) == 0 || len(name) > MaxTypeLen {
		return fmt.Errorf("event type %q: length %d, want 1..%d", name, len(name), MaxTypeLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-' || c == '/'
		if !ok {
			return fmt.Errorf("event type %q: byte %d (%#x) not allowed", name, i, c)
		}
	}
	return nil
}

// appendHeader appends the encoded header of h to dst, in the envelope
// version it was read from (the current one for a new event).
func appendHeader(dst []byte, h *Header) []byte {
	v := h.version
	if v == 0 {
		v = envelopeVersion
	}
	dst = append(dst, v)
	dst = binary.BigEndian.AppendUint64(dst, h.Seq)
	dst = append(dst, h.ID[:]...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.Time.UnixNano()))
	dst = binary.BigEndian.AppendUint32(dst, h.Schema)
	dst = binary.BigEndian.AppendUint32(dst, h.KeyID)
	dst = append(dst, byte(len(h.Type)))
	dst = append(dst, h.Type...)
	if v == 1 {
		return dst
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(h.Public)))
	return append(dst, h.Public...)
}

// decodeEnvelope splits a stored envelope into its header, the header's
// encoded bytes (the payload's associated data) and the sealed payload. It
// never panics and copies nothing but the type name.
func decodeEnvelope(b []byte) (h Header, aad, sealed []byte, err error) {
	if len(b) > MaxEnvelopeLen {
		return h, nil, nil, fmt.Errorf("%w: %d bytes exceeds limit %d", ErrMalformed, len(b), MaxEnvelopeLen)
	}
	if len(b) < fixedHeaderLen {
		return h, nil, nil, fmt.Errorf("%w: %d bytes is shorter than a header", ErrMalformed, len(b))
	}
	if b[0] != 1 && b[0] != envelopeVersion {
		return h, nil, nil, fmt.Errorf("%w: unknown envelope version %d", ErrMalformed, b[0])
	}
	h.version = b[0]
	h.Seq = binary.BigEndian.Uint64(b[1:9])
	copy(h.ID[:], b[9:25])
	h.Time = time.Unix(0, int64(binary.BigEndian.Uint64(b[25:33]))).UTC()
	h.Schema = binary.BigEndian.Uint32(b[33:37])
	h.KeyID = binary.BigEndian.Uint32(b[37:41])
	n := int(b[41])
	end := fixedHeaderLen + n
	if len(b) < end {
		return h, nil, nil, fmt.Errorf("%w: type name truncated", ErrMalformed)
	}
	h.Type = string(b[fixedHeaderLen:end])
	if err := validType(h.Type); err != nil {
		return h, nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if h.Seq == 0 {
		return h, nil, nil, fmt.Errorf("%w: sequence number 0", ErrMalformed)
	}
	if h.version >= 2 {
		if len(b) < end+2 {
			return h, nil, nil, fmt.Errorf("%w: public length truncated", ErrMalformed)
		}
		n := int(binary.BigEndian.Uint16(b[end:]))
		if n > MaxPublicLen || len(b) < end+2+n {
			return h, nil, nil, fmt.Errorf("%w: public part of %d bytes truncated or over %d", ErrMalformed, n, MaxPublicLen)
		}
		if n > 0 {
			h.Public = bytes.Clone(b[end+2 : end+2+n])
		}
		end += 2 + n
	}
	if len(b)-end < seal.Overhead {
		return h, nil, nil, fmt.Errorf("%w: sealed payload is %d bytes, shorter than %d", ErrMalformed, len(b)-end, seal.Overhead)
	}
	return h, b[:end], b[end:], nil
}

// DecodeHeader decodes the clear header of a stored envelope. It is the
// entry point for tools that read envelopes without the log (and the
// decoder's fuzz target).
func DecodeHeader(envelope []byte) (Header, error) {
	h, _, _, err := decodeEnvelope(envelope)
	return h, err
}
