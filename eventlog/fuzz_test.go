package eventlog

import (
	"bytes"
	"crypto/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/spikeledger/spike/internal/seal"
)

// fuzzEnvelope is a well-formed envelope: a header followed by a sealed
// payload's worth of bytes.
func fuzzEnvelope(h Header, payload int) []byte {
	return append(appendHeader(nil, &h), make([]byte, seal.Overhead+payload)...)
}

func FuzzDecodeHeader(f *testing.F) {
	id := ulid.MustParse("01JABCDEFGHJKMNPQRSTVWXYZ0")
	valid := []Header{
		{Seq: 1, ID: id, Time: time.Unix(0, 0).UTC(), Type: "t", Schema: 0, KeyID: 1},
		{Seq: 1<<64 - 1, ID: id, Time: time.Unix(1700000000, 123).UTC(), Type: "secret.written", Schema: 7, KeyID: 1<<32 - 1},
		{Seq: 42, Time: time.Unix(-5, 0).UTC(), Type: strings.Repeat("a/b_c-D.9", MaxTypeLen/9), Schema: 1, KeyID: 2},
	}
	for i, h := range valid {
		env := fuzzEnvelope(h, i*5)
		f.Add(env)
		f.Add(env[:len(env)-1])              // payload too short
		f.Add(env[:fixedHeaderLen+1])        // type name truncated
		f.Add(env[:fixedHeaderLen-1])        // header truncated
		f.Add(append([]byte{2}, env[1:]...)) // unknown version
	}
	zeroSeq := fuzzEnvelope(Header{Type: "t"}, 0)
	f.Add(zeroSeq)
	badType := fuzzEnvelope(Header{Seq: 1, Type: "a b"}, 0)
	f.Add(badType)
	emptyType := fuzzEnvelope(Header{Seq: 1, Type: ""}, 0)
	f.Add(emptyType)
	f.Add([]byte{})
	f.Add([]byte{envelopeVersion})
	withPublic := fuzzEnvelope(Header{Seq: 9, Type: "system.bootstrapped", Public: []byte("commitment")}, 4)
	f.Add(withPublic)
	v1 := fuzzEnvelope(Header{Seq: 3, Type: "policy.put", version: 1}, 2)
	f.Add(v1)
	f.Add(bytes.Repeat([]byte{0xFF}, 200))

	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHeader(b)
		h2, aad, sealed, err2 := decodeEnvelope(b)
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(h, h2) {
			t.Fatalf("DecodeHeader and decodeEnvelope disagree: %+v %v / %+v %v", h, err, h2, err2)
		}
		if err != nil {
			if aad != nil || sealed != nil {
				t.Fatalf("rejected input returned slices: %x, %x", aad, sealed)
			}
			return
		}
		if h.Seq == 0 {
			t.Fatalf("accepted sequence number 0: %x", b)
		}
		if err := validType(h.Type); err != nil {
			t.Fatalf("accepted invalid type: %v", err)
		}
		if len(sealed) < seal.Overhead {
			t.Fatalf("accepted sealed payload of %d bytes", len(sealed))
		}
		if len(aad)+len(sealed) != len(b) || !bytes.Equal(append(bytes.Clone(aad), sealed...), b) {
			t.Fatal("header and payload do not split the input")
		}
		// The header re-encodes to exactly the bytes it came from, so it
		// is the associated data the payload was sealed with.
		if re := appendHeader(nil, &h); !bytes.Equal(re, aad) {
			t.Fatalf("header %+v re-encodes to %x, decoded from %x", h, re, aad)
		}
	})
}

func FuzzParseCheckpoint(f *testing.F) {
	seed := bytes.Repeat([]byte{3}, 32)
	origin := "spike.ist/eventlog/00112233445566778899aabbccddeeff"
	s, err := newSigner(origin, seed)
	if err != nil {
		f.Fatal(err)
	}
	var root tlog.Hash
	copy(root[:], bytes.Repeat([]byte{0xAB}, tlog.HashSize))
	const size = 5
	signed, err := s.sign(size, root)
	if err != nil {
		f.Fatal(err)
	}
	// A key no fuzz input can hold a signature for.
	_, randomKey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		f.Fatal(err)
	}

	f.Add(signed, s.vkey)
	f.Add([]byte(formatCheckpoint(origin, size, root)), s.vkey)
	f.Add([]byte(formatCheckpoint(origin, size, root)+"extension line\n"), s.vkey)
	f.Add([]byte("o\n0\n"+strings.Repeat("A", 43)+"=\n"), "")
	f.Add([]byte("o\n01\nAAAA\n"), "x+1+2")
	f.Add([]byte("\n1\n\n"), randomKey)
	f.Add([]byte("o\n18446744073709551616\n\n"), randomKey)
	f.Add(append(bytes.Clone(signed), signed...), s.vkey)
	f.Add([]byte{}, "")

	f.Fuzz(func(t *testing.T, msg []byte, vkey string) {
		// The text parser alone.
		o, n, r, err := parseCheckpointText(string(msg))
		if err == nil {
			if o == "" || strings.Contains(o, "\n") {
				t.Fatalf("accepted origin %q", o)
			}
			// What was accepted is exactly the canonical encoding, followed
			// by extension lines.
			if want := formatCheckpoint(o, n, r); !strings.HasPrefix(string(msg), want) {
				t.Fatalf("parsed (%q, %d, %v) from %q, which does not start with %q", o, n, r, msg, want)
			}
		}

		// No fuzz input can forge a signature under a key it does not hold.
		if cp, err := OpenCheckpoint(msg, randomKey); err == nil {
			t.Fatalf("random key accepted %q as %+v", msg, cp)
		}
		// Under the genuine key, only the genuine statement is accepted
		// (the note format lets unknown signature lines be added).
		if cp, err := OpenCheckpoint(msg, s.vkey); err == nil {
			if cp.Origin != origin || cp.Size != size || cp.Root != root || !bytes.Equal(cp.Note, msg) {
				t.Fatalf("genuine key accepted %q as %+v", msg, cp)
			}
		}
		// Any fuzzed verifier key (the caller's trusted input): no panic,
		// and whatever is accepted is what the text says.
		if cp, err := OpenCheckpoint(msg, vkey); err == nil {
			if cp.Origin == "" || cp.Origin != o || cp.Size != n || cp.Root != r || !bytes.Equal(cp.Note, msg) {
				t.Fatalf("accepted %q under %q as %+v, text parses as (%q, %d, %v)", msg, vkey, cp, o, n, r)
			}
		}
	})
}
