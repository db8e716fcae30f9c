package keeper

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/spikeledger/spike/api"
)

func TestShardStore(t *testing.T) {
	t.Parallel()
	s, warn, err := newShardStore()
	if err != nil {
		t.Fatal(err)
	}
	if warn != nil {
		t.Logf("memory not fully protected here: %v", warn)
	}
	if s.has() || s.with(func(*api.Shard) { t.Fatal("called without a shard") }) {
		t.Fatal("a new store holds a shard")
	}
	for i, want := range []api.Shard{{1, 2, 3}, {31: 9}} {
		in := want
		replaced, err := s.set(&in)
		if err != nil || replaced != (i > 0) {
			t.Fatalf("set #%d: replaced %v, %v", i, replaced, err)
		}
		in.Wipe() // the store holds its own copy
		var got api.Shard
		if !s.with(func(sh *api.Shard) { got = *sh }) || got != want {
			t.Fatalf("set #%d: holds %v, want %v", i, got, want)
		}
	}
	// The store's shard lives in the locked page, not on the heap.
	if &s.page.b[0] != &s.shard[0] {
		t.Fatal("the shard is not in the locked page")
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	if s.has() || s.with(func(*api.Shard) { t.Fatal("called after close") }) {
		t.Fatal("a closed store holds a shard")
	}
	if _, err := s.set(&api.Shard{1}); !errors.Is(err, errStopped) {
		t.Fatalf("set after close: %v", err)
	}
	if err := s.close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// TestAppendShardResponse: the hand-written encoding is byte for byte
// encoding/json's.
func TestAppendShardResponse(t *testing.T) {
	t.Parallel()
	var ramp api.Shard
	for i := range ramp {
		ramp[i] = byte(i * 8)
	}
	for _, sh := range []api.Shard{{}, {255, 0, 1, 10, 99, 100, 200}, ramp} {
		for _, epoch := range []uint64{0, 1, 1 << 40} {
			want, err := json.Marshal(api.ShardGetResponse{Shard: &sh, Epoch: epoch})
			if err != nil {
				t.Fatal(err)
			}
			if got := appendShardResponse(nil, &sh, epoch); string(got) != string(want) {
				t.Errorf("got %s, want %s", got, want)
			}
		}
	}
}
