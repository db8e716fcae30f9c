package eventlog

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"
)

// bucketHashReader reads tlog stored hashes from the hashes bucket of one
// transaction. Inside the writer's transaction it also sees hashes put
// earlier in that same transaction, which is what StoredHashes needs.
type bucketHashReader struct{ b *bolt.Bucket }

func (r bucketHashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		v := r.b.Get(u64key(uint64(idx)))
		if len(v) != tlog.HashSize {
			return nil, &IntegrityError{Reason: fmt.Sprintf("stored hash %d is missing or not %d bytes", idx, tlog.HashSize)}
		}
		copy(out[i][:], v)
	}
	return out, nil
}

// appendHashes stores the tree hashes that adding the record with leaf
// hash leaf at index n (seq n+1) creates.
func appendHashes(b *bolt.Bucket, n int64, leaf tlog.Hash) error {
	hs, err := tlog.StoredHashesForRecordHash(n, leaf, bucketHashReader{b})
	if err != nil {
		return fmt.Errorf("tree hashes for seq %d: %w", n+1, err)
	}
	base := tlog.StoredHashIndex(0, n)
	for i, h := range hs {
		if err := b.Put(u64key(uint64(base+int64(i))), h[:]); err != nil {
			return fmt.Errorf("store tree hash: %w", err)
		}
	}
	return nil
}

// TreeHash returns the Merkle root of the first size events.
func (l *Log) TreeHash(ctx context.Context, size uint64) (tlog.Hash, error) {
	var h tlog.Hash
	err := l.view(ctx, func(s *snap) error {
		if err := s.checkSize(size); err != nil {
			return err
		}
		var err error
		h, err = tlog.TreeHash(int64(size), s)
		return err
	})
	return h, err
}

// LeafHash returns the RFC 6962 leaf hash of the event seq, the value an
// inclusion proof for it proves.
func (l *Log) LeafHash(ctx context.Context, seq uint64) (tlog.Hash, error) {
	var h tlog.Hash
	if seq == 0 {
		return h, fmt.Errorf("leaf hash: seq 0: %w", ErrNotFound)
	}
	err := l.view(ctx, func(s *snap) error {
		if err := s.checkSize(seq); err != nil {
			return err
		}
		hs, err := s.ReadHashes([]int64{tlog.StoredHashIndex(0, int64(seq-1))})
		if err != nil {
			return err
		}
		h = hs[0]
		return nil
	})
	return h, err
}

// InclusionProof proves that the event seq is in the tree of the first
// size events. Check it with CheckInclusion.
func (l *Log) InclusionProof(ctx context.Context, seq, size uint64) (tlog.RecordProof, error) {
	if seq == 0 || seq > size {
		return nil, fmt.Errorf("inclusion proof: seq %d not in a tree of size %d", seq, size)
	}
	var p tlog.RecordProof
	err := l.view(ctx, func(s *snap) error {
		if err := s.checkSize(size); err != nil {
			return err
		}
		var err error
		p, err = tlog.ProveRecord(int64(size), int64(seq-1), s)
		return err
	})
	return p, err
}

// ConsistencyProof proves that the tree of the first oldSize events is a
// prefix of the tree of the first newSize events. Check it with
// CheckConsistency.
func (l *Log) ConsistencyProof(ctx context.Context, oldSize, newSize uint64) (tlog.TreeProof, error) {
	if oldSize == 0 || oldSize > newSize {
		return nil, fmt.Errorf("consistency proof: sizes %d, %d: want 0 < old <= new", oldSize, newSize)
	}
	var p tlog.TreeProof
	err := l.view(ctx, func(s *snap) error {
		if err := s.checkSize(newSize); err != nil {
			return err
		}
		var err error
		p, err = tlog.ProveTree(int64(newSize), int64(oldSize), s)
		return err
	})
	return p, err
}

// CheckInclusion reports whether proof shows that the envelope with leaf
// hash leaf is event seq of the tree of size size with root root.
func CheckInclusion(proof tlog.RecordProof, size uint64, root tlog.Hash, seq uint64, leaf tlog.Hash) error {
	if seq == 0 || seq > size {
		return fmt.Errorf("inclusion: seq %d not in a tree of size %d", seq, size)
	}
	if err := tlog.CheckRecord(proof, int64(size), root, int64(seq-1), leaf); err != nil {
		return fmt.Errorf("inclusion of seq %d: %w", seq, ErrTampered)
	}
	return nil
}

// CheckConsistency reports whether proof shows that the tree (oldSize,
// oldRoot) is a prefix of the tree (newSize, newRoot).
func CheckConsistency(proof tlog.TreeProof, newSize uint64, newRoot tlog.Hash, oldSize uint64, oldRoot tlog.Hash) error {
	if oldSize == 0 || oldSize > newSize {
		return fmt.Errorf("consistency: sizes %d, %d: want 0 < old <= new", oldSize, newSize)
	}
	if err := tlog.CheckTree(proof, int64(newSize), newRoot, int64(oldSize), oldRoot); err != nil {
		return fmt.Errorf("consistency of size %d with %d: %w", oldSize, newSize, ErrTampered)
	}
	return nil
}

// lastSeq is the sequence number of the last event in tx, 0 if none.
func lastSeq(tx *bolt.Tx) uint64 {
	k, _ := tx.Bucket(bucketEvents).Cursor().Last()
	if len(k) != 8 {
		return 0
	}
	return beUint64(k)
}
