package api

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
)

// ShardSize is the size of a Shamir shard of the root key, in bytes.
const ShardSize = 32

// MaxShardID is the largest shard (share) ID an operator restore accepts
// (SPIKE_NEXUS_SHAMIR_MAX_SHARE_COUNT). IDs start at 1.
const MaxShardID = 1000

// Shard is one Shamir share of the root key: the 32-byte big-endian value
// of the share. On the wire it is a JSON array of 32 integers 0–255, not
// base64 (Go encodes arrays, unlike slices, element by element), and a
// missing shard is null: fields hold a *Shard.
//
// Decoding is stricter than SPIKE's: an array of any length other than 32
// is rejected instead of being truncated or zero-padded.
type Shard [ShardSize]byte

// errShardForm is the decoding error for anything but 32 integers 0–255.
var errShardForm = errors.New("shard: want an array of 32 integers 0-255")

// UnmarshalJSON decodes an array of exactly 32 integers 0–255. Like
// encoding/json's own decoders it leaves the shard alone on null.
func (s *Shard) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var ints []int
	err := json.Unmarshal(b, &ints)
	defer clear(ints)
	if err != nil || len(ints) != ShardSize {
		return errShardForm
	}
	var v Shard
	defer clear(v[:])
	for i, n := range ints {
		if n < 0 || n > 255 {
			return errShardForm
		}
		v[i] = byte(n)
	}
	*s = v
	return nil
}

// IsZero reports whether every byte of the shard is zero, in constant
// time. SPIKE treats an all-zero shard as no shard.
func (s *Shard) IsZero() bool {
	var zero Shard
	return subtle.ConstantTimeCompare(s[:], zero[:]) == 1
}

// Wipe overwrites the shard with zeros.
func (s *Shard) Wipe() { clear(s[:]) }
