package eventlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// A change is what a replicated log commits through consensus: the exact
// bbolt writes one step of the leader's writer made (sealed envelopes,
// tree hashes, wrapped value keys, key ring records, a signed
// checkpoint), with the log size before and after. Every replica applies
// the same changes in the same order, so every replica's file holds the
// same bytes under the same keys: the same events, Merkle tree and
// checkpoints, verifiable offline on any of them. A change carries
// nothing in clear that the file does not already hold in clear.
//
// Encoding:
//
//	magic   "spkc" and version 1
//	logID   16 bytes
//	base    uint64  log size before
//	size    uint64  log size after
//	count   uint32
//	count × { bucket uint8, key uint32-prefixed, value uint32-prefixed }
const (
	changeMagic   = "spkc\x01"
	changeHdrLen  = len(changeMagic) + 16 + 8 + 8 + 4
	maxChangePuts = 1 << 24
)

type put struct {
	bucket byte // index into allBuckets
	key    []byte
	value  []byte
}

type change struct {
	logID      []byte
	base, size uint64
	puts       []put
}

func bucketIndex(name []byte) byte {
	for i, b := range allBuckets {
		if bytes.Equal(b, name) {
			return byte(i)
		}
	}
	panic("eventlog: unknown bucket " + string(name))
}

func (c *change) add(bucket []byte, k, v []byte) {
	c.puts = append(c.puts, put{bucket: bucketIndex(bucket), key: bytes.Clone(k), value: bytes.Clone(v)})
}

func (c *change) encode() []byte {
	n := changeHdrLen
	for _, p := range c.puts {
		n += 1 + 4 + len(p.key) + 4 + len(p.value)
	}
	b := make([]byte, 0, n)
	b = append(b, changeMagic...)
	b = append(b, c.logID...)
	b = binary.BigEndian.AppendUint64(b, c.base)
	b = binary.BigEndian.AppendUint64(b, c.size)
	b = binary.BigEndian.AppendUint32(b, uint32(len(c.puts)))
	for _, p := range c.puts {
		b = append(b, p.bucket)
		b = appendBytes(b, p.key)
		b = appendBytes(b, p.value)
	}
	return b
}

var errBadChange = errors.New("malformed replicated change")

// decodeChange parses and checks a change: known buckets only, never the
// log's identity or format, events only in (base, size] and each one an
// envelope of its own sequence number.
func decodeChange(b []byte) (*change, error) {
	if len(b) < changeHdrLen || string(b[:len(changeMagic)]) != changeMagic {
		return nil, fmt.Errorf("%w: bad header", errBadChange)
	}
	d := decoder{b: b[len(changeMagic):]}
	c := &change{logID: bytes.Clone(d.take(16))}
	c.base, c.size = d.u64(), d.u64()
	n := d.count(1 + 4 + 4)
	if d.err != nil || c.size < c.base || n > maxChangePuts {
		return nil, fmt.Errorf("%w: bad header", errBadChange)
	}
	events := uint64(0)
	for i := 0; i < n && d.err == nil; i++ {
		bk := d.take(1)
		if d.err != nil {
			break
		}
		p := put{bucket: bk[0], key: d.bytes(), value: d.bytes()}
		if d.err != nil {
			break
		}
		if err := c.checkPut(p); err != nil {
			return nil, err
		}
		if p.bucket == bucketIndex(bucketEvents) {
			events++
		}
		c.puts = append(c.puts, p)
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("%w: truncated or trailing bytes", errBadChange)
	}
	if events != c.size-c.base {
		return nil, fmt.Errorf("%w: %d events for sizes %d..%d", errBadChange, events, c.base, c.size)
	}
	return c, nil
}

func (c *change) checkPut(p put) error {
	if int(p.bucket) >= len(allBuckets) {
		return fmt.Errorf("%w: bucket %d", errBadChange, p.bucket)
	}
	name := allBuckets[p.bucket]
	switch {
	case bytes.Equal(name, bucketMeta):
		if bytes.Equal(p.key, metaID) || bytes.Equal(p.key, metaFormat) || bytes.Equal(p.key, metaIndexed) || bytes.Equal(p.key, metaRaftIndex) {
			return fmt.Errorf("%w: writes the log's %s", errBadChange, p.key)
		}
	case bytes.Equal(name, bucketEvents):
		if len(p.key) != 8 {
			return fmt.Errorf("%w: event key", errBadChange)
		}
		seq := beUint64(p.key)
		if seq <= c.base || seq > c.size {
			return fmt.Errorf("%w: event %d outside %d..%d", errBadChange, seq, c.base+1, c.size)
		}
		if h, err := DecodeHeader(p.value); err != nil || h.Seq != seq {
			return fmt.Errorf("%w: event %d is not an envelope of itself", errBadChange, seq)
		}
	case bytes.Equal(name, bucketHashes), bytes.Equal(name, bucketCheckpoints), bytes.Equal(name, bucketTypeIndex):
		if len(p.key) != 8 {
			return fmt.Errorf("%w: %s key", errBadChange, name)
		}
	case bytes.Equal(name, bucketDataKeys):
		if len(p.key) != 4 {
			return fmt.Errorf("%w: data key id", errBadChange)
		}
	case bytes.Equal(name, bucketValueKeys):
		if len(p.key) != len(ValueKeyID{}) || len(p.value) == 0 {
			return fmt.Errorf("%w: value key", errBadChange)
		}
	}
	return nil
}
