package shamir

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// MaxRecoveryFile bounds a recovery file or typed-in shard.
const MaxRecoveryFile = 4096

// FormatRecovery renders a share as SPIKE's recovery text,
// "spike:<id>:<64 lowercase hex digits>" (no trailing newline).
func FormatRecovery(s Share) string {
	return fmt.Sprintf("spike:%d:%s", s.ID, hex.EncodeToString(s.Value[:]))
}

// ParseRecovery reads SPIKE's recovery text. Surrounding white space is
// ignored; anything else malformed is an error that never quotes the
// shard's digits.
func ParseRecovery(text string) (Share, error) {
	var s Share
	if len(text) > MaxRecoveryFile {
		return s, fmt.Errorf("recovery shard: %d bytes, at most %d", len(text), MaxRecoveryFile)
	}
	parts := strings.SplitN(strings.TrimSpace(text), ":", 3)
	if len(parts) != 3 || parts[0] != "spike" {
		return s, fmt.Errorf("recovery shard: want spike:<id>:<64 hex digits>")
	}
	id, err := strconv.Atoi(parts[1])
	if err != nil || id < 1 || id > MaxShares || parts[1] != strconv.Itoa(id) {
		return s, fmt.Errorf("recovery shard: id %q is not a number from 1 to %d", parts[1], MaxShares)
	}
	if len(parts[2]) != 2*KeySize {
		return s, fmt.Errorf("recovery shard %d: %d hex digits, want %d", id, len(parts[2]), 2*KeySize)
	}
	if _, err := hex.Decode(s.Value[:], []byte(parts[2])); err != nil {
		clear(s.Value[:])
		return Share{}, fmt.Errorf("recovery shard %d: not hexadecimal", id)
	}
	if isZero(s.Value[:]) {
		return Share{}, fmt.Errorf("recovery shard %d: all zero", id)
	}
	s.ID = id
	return s, nil
}
