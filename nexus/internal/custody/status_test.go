package custody

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/transport"
)

func TestSawKeeper(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name      string
		ctx       context.Context
		err       error
		reachable bool
		seen      bool // LastSeen set
		recorded  bool
	}{
		{"answered", context.Background(), nil, true, true, true},
		{"answered with an error", context.Background(), &transport.StatusError{Status: 500}, true, true, true},
		{"holds no shard", context.Background(), shardGetError(&transport.StatusError{Status: 400}), true, true, true},
		{"no connection", context.Background(), errors.New("connection refused"), false, false, true},
		{"cut short by shutdown", cancelled, errors.New("context canceled"), false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &Custody{cfg: Config{Keepers: []string{"https://k1", "https://k2"}},
				health: keeperHealth{last: make([]keeperContact, 2)}}
			c.sawKeeper(tc.ctx, 1, tc.err)
			ks, up := c.keeperStatuses()
			k := ks[1]
			if k.URL != "https://k2" || k.Reachable != tc.reachable || (k.LastSeen != nil) != tc.seen || (k.LastChecked != nil) != tc.recorded ||
				(k.Error != "") != (tc.err != nil && tc.recorded) || up != map[bool]int{true: 1, false: 0}[tc.reachable] {
				t.Errorf("after %v: %+v, %d reachable", tc.err, k, up)
			}
			if tc.name == "holds no shard" && !strings.HasPrefix(k.Error, "holds no shard yet: server answered 400") {
				t.Errorf("a keeper without a shard: %q", k.Error)
			}
			if ks[0] != (api.KeeperStatus{URL: "https://k1"}) {
				t.Errorf("untouched keeper = %+v", ks[0])
			}
		})
	}
}
