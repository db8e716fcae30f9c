package shamir

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/cloudflare/circl/group"
	"github.com/cloudflare/circl/secretsharing"
)

// KeySize is the size of the root key and of a shard value.
const KeySize = 32

// MaxShares bounds the number of shares (SPIKE accepts shard ids up to
// 1000 on restore).
const MaxShares = 1000

// Share is one shard: its id (the keeper's 1-based position) and value.
type Share struct {
	ID    int
	Value [KeySize]byte
}

// Zero overwrites the share's value.
func (s *Share) Zero() { clear(s.Value[:]) }

// Commitment is the Feldman commitment to a sharing polynomial: one
// compressed P-256 point per coefficient. It reveals nothing usable about
// the key (recovering it from the first point is the discrete log problem)
// and lets anyone check that a share lies on the polynomial.
type Commitment [][]byte

var g = group.P256

// Params are a sharing's shape.
type Params struct {
	Shares    int // n: shards made, one per keeper
	Threshold int // t: shards needed to recover
}

// Validate checks 1 <= Threshold <= Shares <= MaxShares.
func (p Params) Validate() error {
	switch {
	case p.Threshold < 1:
		return fmt.Errorf("shamir: threshold %d, want at least 1", p.Threshold)
	case p.Shares < p.Threshold:
		return fmt.Errorf("shamir: %d shares cannot meet threshold %d", p.Shares, p.Threshold)
	case p.Shares > MaxShares:
		return fmt.Errorf("shamir: %d shares, at most %d", p.Shares, MaxShares)
	}
	return nil
}

// Split splits rootKey into p.Shares shares exactly as SPIKE v0.8 does:
// the same key always gives the same shares. It also returns the Feldman
// commitment and checks that the first Threshold shares recover the key
// (which fails, as in SPIKE, for the rare key not below the group order).
func Split(rootKey *[KeySize]byte, p Params) ([]Share, Commitment, error) {
	return split(rootKey, p, newDeterministicReader(rootKey[:]))
}

// SplitRefresh splits rootKey with coefficients from rnd: a sharing whose
// shares never combine with another sharing's.
func SplitRefresh(rootKey *[KeySize]byte, p Params, rnd io.Reader) ([]Share, Commitment, error) {
	return split(rootKey, p, rnd)
}

// SplitEpoch splits rootKey for a numbered epoch. Epoch 0 is SPIKE's
// sharing (Split). Every later epoch draws its coefficients from a stream
// seeded with HMAC-SHA256(key, epoch number): a polynomial
// no other epoch shares, so a shard taken in one epoch is useless with
// shards of the next, yet Nexus can recompute any epoch's shards from the
// key alone without storing them.
func SplitEpoch(rootKey *[KeySize]byte, p Params, epoch uint64) ([]Share, Commitment, error) {
	if epoch == 0 {
		return Split(rootKey, p)
	}
	m := hmac.New(sha256.New, rootKey[:])
	m.Write(binary.BigEndian.AppendUint64([]byte("spike/shamir/epoch/v1\x00"), epoch))
	seed := m.Sum(nil)
	defer clear(seed)
	return split(rootKey, p, newDeterministicReader(seed))
}

func split(rootKey *[KeySize]byte, p Params, rnd io.Reader) ([]Share, Commitment, error) {
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	if isZero(rootKey[:]) {
		return nil, nil, errors.New("shamir: root key is all zero")
	}
	secret := g.NewScalar()
	if err := secret.UnmarshalBinary(rootKey[:]); err != nil {
		return nil, nil, fmt.Errorf("shamir: root key is not a P-256 scalar: %w", err)
	}
	defer secret.SetUint64(0)
	ss := secretsharing.New(rnd, uint(p.Threshold-1), secret)
	raw := ss.Share(uint(p.Shares))
	shares := make([]Share, len(raw))
	for i, r := range raw {
		shares[i].ID = i + 1
		b, err := r.Value.MarshalBinary()
		if err != nil || len(b) != KeySize {
			return nil, nil, fmt.Errorf("shamir: encode share %d: %v", i+1, err)
		}
		copy(shares[i].Value[:], b)
		clear(b)
		r.Value.SetUint64(0)
	}
	com, err := encodeCommitment(ss.CommitSecret())
	if err != nil {
		return nil, nil, err
	}
	got, err := Combine(p.Threshold, shares[:p.Threshold])
	if err != nil || subtle.ConstantTimeCompare(got[:], rootKey[:]) != 1 {
		clear(got[:])
		zeroAll(shares)
		return nil, nil, errors.New("shamir: shares do not reconstruct the root key (key not below the P-256 group order)")
	}
	clear(got[:])
	return shares, com, nil
}

// Combine recovers the root key from at least threshold shares of one
// sharing (the first threshold distinct ones are used). It cannot tell a
// wrong share: use CombineVerified where a commitment is known.
func Combine(threshold int, shares []Share) ([KeySize]byte, error) {
	var key [KeySize]byte
	if threshold < 1 {
		return key, fmt.Errorf("shamir: threshold %d, want at least 1", threshold)
	}
	picked, err := distinct(shares, threshold)
	if err != nil {
		return key, err
	}
	raw := make([]secretsharing.Share, len(picked))
	for i, s := range picked {
		raw[i] = secretsharing.Share{ID: g.NewScalar().SetUint64(uint64(s.ID)), Value: g.NewScalar()}
		if err := raw[i].Value.UnmarshalBinary(s.Value[:]); err != nil {
			return key, fmt.Errorf("shamir: shard %d is not a P-256 scalar", s.ID)
		}
	}
	defer func() {
		for _, r := range raw {
			r.Value.SetUint64(0)
		}
	}()
	secret, err := secretsharing.Recover(uint(threshold-1), raw)
	if err != nil {
		return key, fmt.Errorf("shamir: recover: %w", err)
	}
	defer secret.SetUint64(0)
	b, err := secret.MarshalBinary()
	if err != nil || len(b) != KeySize {
		return key, errors.New("shamir: recovered secret has the wrong size")
	}
	copy(key[:], b)
	clear(b)
	return key, nil
}

// distinct returns the first n shares with distinct valid ids, sorted by
// id, or an error if there are fewer.
func distinct(shares []Share, n int) ([]Share, error) {
	seen := map[int]bool{}
	var out []Share
	for _, s := range shares {
		if s.ID < 1 || s.ID > MaxShares {
			return nil, fmt.Errorf("shamir: shard id %d outside 1..%d", s.ID, MaxShares)
		}
		if seen[s.ID] || len(out) == n {
			continue
		}
		if isZero(s.Value[:]) {
			return nil, fmt.Errorf("shamir: shard %d is all zero", s.ID)
		}
		seen[s.ID] = true
		out = append(out, s)
	}
	if len(out) < n {
		return nil, fmt.Errorf("shamir: %d distinct shards, need %d", len(out), n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Verify reports whether share lies on the polynomial com commits to.
func Verify(share Share, com Commitment) bool {
	elems, err := decodeCommitment(com)
	if err != nil || share.ID < 1 || share.ID > MaxShares {
		return false
	}
	v := g.NewScalar()
	if v.UnmarshalBinary(share.Value[:]) != nil {
		return false
	}
	defer v.SetUint64(0)
	s := secretsharing.Share{ID: g.NewScalar().SetUint64(uint64(share.ID)), Value: v}
	return secretsharing.Verify(uint(len(elems)-1), s, elems)
}

// CombineVerified recovers the root key from the shares that verify
// against com, leaving out the others (returned by id). It needs
// len(com) verified shares.
func CombineVerified(shares []Share, com Commitment) (key [KeySize]byte, rejected []int, err error) {
	var good []Share
	for _, s := range shares {
		if Verify(s, com) {
			good = append(good, s)
		} else {
			rejected = append(rejected, s.ID)
		}
	}
	key, err = Combine(len(com), good)
	return key, rejected, err
}

func encodeCommitment(c secretsharing.SecretCommitment) (Commitment, error) {
	out := make(Commitment, len(c))
	for i, e := range c {
		b, err := e.MarshalBinaryCompress()
		if err != nil {
			return nil, fmt.Errorf("shamir: encode commitment: %w", err)
		}
		out[i] = b
	}
	return out, nil
}

func decodeCommitment(c Commitment) (secretsharing.SecretCommitment, error) {
	if len(c) == 0 || len(c) > MaxShares {
		return nil, errors.New("shamir: commitment has no points or too many")
	}
	out := make(secretsharing.SecretCommitment, len(c))
	for i, b := range c {
		e := g.NewElement()
		if err := e.UnmarshalBinary(b); err != nil {
			return nil, fmt.Errorf("shamir: commitment point %d: %w", i, err)
		}
		out[i] = e
	}
	return out, nil
}

func isZero(b []byte) bool {
	var acc byte
	for _, x := range b {
		acc |= x
	}
	return acc == 0
}

func zeroAll(shares []Share) {
	for i := range shares {
		shares[i].Zero()
	}
}

// deterministicReader is SPIKE's coefficient stream: SHA-256 of the seed,
// then SHA-256 of each block in turn, read out byte by byte.
type deterministicReader struct {
	block [sha256.Size]byte
	pos   int
}

func newDeterministicReader(seed []byte) *deterministicReader {
	return &deterministicReader{block: sha256.Sum256(seed)}
}

func (r *deterministicReader) Read(p []byte) (int, error) {
	if r.pos == len(r.block) {
		r.block = sha256.Sum256(r.block[:])
		r.pos = 0
	}
	n := copy(p, r.block[r.pos:])
	r.pos += n
	return n, nil
}
