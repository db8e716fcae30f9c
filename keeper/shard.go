package keeper

import (
	"errors"
	"sync"

	"github.com/spikeledger/spike/api"
)

// errStopped is returned by a shardStore used after close.
var errStopped = errors.New("keeper: stopped")

// shardStore holds the keeper's one shard in a locked page. It is safe
// for concurrent use.
type shardStore struct {
	mu    sync.Mutex
	page  *lockedPage
	shard *api.Shard // the first ShardSize bytes of page; nil once closed
	held  bool
}

// newShardStore allocates the store's memory. warn explains why the
// memory is not protected as it should be (not locked against swap, or
// not kept out of core dumps); the store works regardless.
func newShardStore() (s *shardStore, warn, err error) {
	page, warn, err := newLockedPage()
	if err != nil {
		return nil, nil, err
	}
	return &shardStore{page: page, shard: (*api.Shard)(page.b[:api.ShardSize])}, warn, nil
}

// set replaces the held shard with a copy of sh and reports whether one
// was held before.
func (s *shardStore) set(sh *api.Shard) (replaced bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shard == nil {
		return false, errStopped
	}
	replaced = s.held
	copy(s.shard[:], sh[:])
	s.held = true
	return replaced, nil
}

// with calls fn with the held shard, under the store's lock, and reports
// whether there was one to call it with. fn must not keep the pointer.
func (s *shardStore) with(fn func(*api.Shard)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shard == nil || !s.held {
		return false
	}
	fn(s.shard)
	return true
}

// has reports whether a shard is held.
func (s *shardStore) has() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shard != nil && s.held
}

// locked reports whether the store's memory is locked against swap.
func (s *shardStore) locked() bool { return s.page.locked }

// close zeroes the shard and releases its memory. Later calls do nothing.
func (s *shardStore) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shard == nil {
		return nil
	}
	s.shard.Wipe()
	s.shard, s.held = nil, false
	return s.page.free()
}
