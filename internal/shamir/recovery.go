package shamir

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
)

// MaxRecoveryFile bounds a recovery file or typed-in shard.
const MaxRecoveryFile = 4096

// FormatRecovery renders a share as SPIKE's recovery text,
// "spike:<id>:<64 lowercase hex digits>" (no trailing newline).
func FormatRecovery(s Share) string {
	b := appendRecovery(nil, s)
	defer clear(b)
	return string(b)
}

// appendRecovery appends the recovery text of s to dst: a form the
// caller can wipe, which a string is not.
func appendRecovery(dst []byte, s Share) []byte {
	dst = append(dst, "spike:"...)
	dst = strconv.AppendInt(dst, int64(s.ID), 10)
	dst = append(dst, ':')
	return hex.AppendEncode(dst, s.Value[:])
}

// ParseRecovery reads SPIKE's recovery text. Surrounding white space is
// ignored; anything else malformed is an error that says which part is
// wrong and never quotes the text, which may be shard digits.
func ParseRecovery(text string) (Share, error) {
	b := []byte(text)
	defer clear(b)
	return parseRecovery(b)
}

// ReadRecovery reads one share in SPIKE's recovery text from r: at most
// MaxRecoveryFile bytes, more is an error. The bytes read are wiped.
func ReadRecovery(r io.Reader) (Share, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxRecoveryFile+1))
	defer clear(b)
	if err != nil {
		return Share{}, fmt.Errorf("recovery shard: read: %w", err)
	}
	return parseRecovery(b)
}

// ReadRecoveryFile reads the share in the recovery file name.
func ReadRecoveryFile(name string) (Share, error) {
	f, err := os.Open(name)
	if err != nil {
		return Share{}, fmt.Errorf("recovery file: %w", err)
	}
	defer f.Close()
	return ReadRecovery(f)
}

func parseRecovery(b []byte) (Share, error) {
	var s Share
	if len(b) > MaxRecoveryFile {
		return s, fmt.Errorf("recovery shard: more than %d bytes", MaxRecoveryFile)
	}
	parts := bytes.SplitN(bytes.TrimSpace(b), []byte(":"), 3)
	if len(parts) != 3 || string(parts[0]) != "spike" {
		return s, fmt.Errorf("recovery shard: want spike:<id>:<64 hex digits>")
	}
	id, ok := parseID(parts[1])
	if !ok {
		return s, fmt.Errorf("recovery shard: the id (the field after \"spike:\") is not a number from 1 to %d", MaxShares)
	}
	if len(parts[2]) != 2*KeySize {
		return s, fmt.Errorf("recovery shard %d: %d hex digits, want %d", id, len(parts[2]), 2*KeySize)
	}
	if _, err := hex.Decode(s.Value[:], parts[2]); err != nil {
		clear(s.Value[:])
		return Share{}, fmt.Errorf("recovery shard %d: not hexadecimal", id)
	}
	if isZero(s.Value[:]) {
		return Share{}, fmt.Errorf("recovery shard %d: all zero", id)
	}
	s.ID = id
	return s, nil
}

// parseID reads a share id: a decimal number from 1 to MaxShares with no
// sign or leading zero, so that each id has one spelling.
func parseID(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > len(strconv.Itoa(MaxShares)) || b[0] == '0' {
		return 0, false
	}
	id := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		id = 10*id + int(c-'0')
	}
	if id > MaxShares {
		return 0, false
	}
	return id, true
}
