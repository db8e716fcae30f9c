package keeper_test

import (
	"strings"
	"testing"

	"github.com/spikeledger/spike/keeper"
)

// TestMaxConnectionsValidate: the connection cap is kept when in range,
// 0 leaves the transport's default, and anything else names the variable.
func TestMaxConnectionsValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n  int
		ok bool
	}{
		{0, true}, {1, true}, {4096, true}, {keeper.MaxConnectionsLimit, true},
		{-1, false}, {keeper.MaxConnectionsLimit + 1, false},
	} {
		got, err := keeper.Config{MaxConnections: tc.n}.Validate()
		switch {
		case tc.ok && (err != nil || got.MaxConnections != tc.n):
			t.Errorf("Validate(MaxConnections %d) = %d, %v", tc.n, got.MaxConnections, err)
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), "SPIKE_KEEPER_MAX_CONNECTIONS")):
			t.Errorf("Validate(MaxConnections %d): %v, want an error naming the variable", tc.n, err)
		}
	}
}
