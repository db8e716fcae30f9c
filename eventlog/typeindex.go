package eventlog

import (
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// The type index lets ScanBack find events of a few rare types, newest
// first, without reading every event in between: custody looks up its
// sharing records while Nexus is sealed, and in a long log they sit far
// behind millions of reads. The index is derived data, not part of the
// verified log: it only selects which events to read, each is read from
// the events bucket and its type checked there, so a damaged index can
// hide an event from ScanBack but never forge one.

// prepareIndex loads the indexed types the file names, or, if the opener
// asks for another set, rebuilds the index for it in one transaction
// (once: the file then names the new set).
func (l *Log) prepareIndex() error {
	want := slices.Clone(l.opts.IndexTypes)
	slices.Sort(want)
	want = slices.Compact(want)
	return l.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		stored := string(meta.Get(metaIndexed))
		if len(want) == 0 || strings.Join(want, "\n") == stored {
			if stored != "" {
				l.indexed = typeSet(strings.Split(stored, "\n"))
			}
			return nil
		}
		l.indexed = typeSet(want)
		if err := tx.DeleteBucket(bucketTypeIndex); err != nil {
			return fmt.Errorf("type index: %w", err)
		}
		idx, err := tx.CreateBucket(bucketTypeIndex)
		if err != nil {
			return fmt.Errorf("type index: %w", err)
		}
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(v) <= fixedHeaderLen {
				continue
			}
			if t := typeOf(v); l.indexed[t] {
				if err := idx.Put(k, []byte(t)); err != nil {
					return fmt.Errorf("type index: %w", err)
				}
			}
		}
		return meta.Put(metaIndexed, []byte(strings.Join(want, "\n")))
	})
}

func typeSet(types []string) map[string]bool {
	m := make(map[string]bool, len(types))
	for _, t := range types {
		m[t] = true
	}
	return m
}

// covers reports whether every one of types is indexed.
func (l *Log) covers(types []string) bool {
	if len(types) == 0 || l.indexed == nil {
		return false
	}
	for _, t := range types {
		if !l.indexed[t] {
			return false
		}
	}
	return true
}

// indexEvent adds event seq of type typ to the index if its type is
// indexed; idx may be nil only when no type is.
func (l *Log) indexEvent(idx *bolt.Bucket, seq uint64, typ string) error {
	if !l.indexed[typ] {
		return nil
	}
	if err := idx.Put(u64key(seq), []byte(typ)); err != nil {
		return fmt.Errorf("index event %d: %w", seq, err)
	}
	return nil
}
