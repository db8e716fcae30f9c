package custody

import (
	"encoding/json"
	"fmt"

	"github.com/spikeledger/spike/internal/shamir"
)

// sharing is what the log records, in clear, about how the root key is
// split: enough to check a shard before the key is back.
type sharing struct {
	// Epoch numbers the sharing: 0 is SPIKE's deterministic one made at
	// bootstrap, later ones come from refresh rotations.
	Epoch      uint64            `json:"epoch,omitempty"`
	Shares     int               `json:"shares"`
	Threshold  int               `json:"threshold"`
	Commitment shamir.Commitment `json:"commitment"`
}

func (s sharing) encode() ([]byte, error) { return json.Marshal(s) }

func decodeSharing(b []byte) (sharing, error) {
	var s sharing
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("recorded sharing: %w", err)
	}
	p := shamir.Params{Shares: s.Shares, Threshold: s.Threshold}
	if err := p.Validate(); err != nil {
		return s, fmt.Errorf("recorded sharing: %w", err)
	}
	if len(s.Commitment) != s.Threshold {
		return s, fmt.Errorf("recorded sharing: %d commitment points for threshold %d", len(s.Commitment), s.Threshold)
	}
	return s, nil
}

// EncodeSharing is the public part of a bootstrap record of a sharing
// into shares with threshold and commitment com (epoch 0), as custody
// reads it back while sealed.
func EncodeSharing(shares, threshold int, com shamir.Commitment) ([]byte, error) {
	return sharing{Shares: shares, Threshold: threshold, Commitment: com}.encode()
}
