package eventlog

import (
	"context"
)

// Subscription delivers every committed event from a starting sequence
// number on, in order: first those already in the log, then new ones as
// they commit. Each subscription reads the log on its own, so a slow
// subscriber never holds up appends or other subscribers; it simply falls
// further behind and catches up from the file.
type Subscription struct {
	l    *Log
	next uint64
	buf  []Record
}

// Subscribe returns a subscription starting at seq from (0 or 1 means the
// first event). Payloads are decrypted, so the log must be unlocked when
// Next reads.
func (l *Log) Subscribe(from uint64) *Subscription {
	return &Subscription{l: l, next: max(from, 1)}
}

// Next returns the next event, waiting for it to be committed if needed.
// It returns ctx's error when ctx ends first, and ErrClosed once the log
// is closed.
func (s *Subscription) Next(ctx context.Context) (Record, error) {
	for len(s.buf) == 0 {
		size, grew := s.l.watch()
		if s.next <= size {
			if err := s.fill(ctx, size); err != nil {
				return Record{}, err
			}
			continue
		}
		select {
		case <-grew:
		case <-ctx.Done():
			return Record{}, ctx.Err()
		case <-s.l.closed:
			return Record{}, ErrClosed
		}
	}
	rec := s.buf[0]
	s.buf[0] = Record{}
	s.buf = s.buf[1:]
	return rec, nil
}

// Position returns the sequence number the next call to Next returns.
func (s *Subscription) Position() uint64 { return s.next - uint64(len(s.buf)) }

// Buffered returns how many events Next returns without reading the log
// or waiting: a follower flushes what it wrote before it may wait.
func (s *Subscription) Buffered() int { return len(s.buf) }

func (s *Subscription) fill(ctx context.Context, size uint64) error {
	r := s.l.ring.Load()
	if r == nil {
		return ErrSealed
	}
	end := min(size, s.next+scanChunk-1)
	var batch []Record
	n := 0
	err := s.l.view(ctx, func(v *snap) error {
		var err error
		batch, err = readRange(v, s.next, end, r, s.buf[:0], &n)
		return err
	})
	s.l.touched(n)
	if err != nil {
		return err
	}
	s.buf = batch
	s.next += uint64(len(batch))
	return nil
}
