package api

// RecoverRequest asks Nexus for every shard of its root key
// (OpOperatorRecover), for an operator to keep offline. Its body is {}.
type RecoverRequest struct{}

// RecoverResponse answers OpOperatorRecover with every shard keyed by its
// ID (1 to the number of shares): {"shards":{"1":[…32 ints…],…}}.
type RecoverResponse struct {
	Shards map[int]*Shard `json:"shards"`
	Err    ErrorCode      `json:"err,omitempty"`
}

// RestoreRequest hands Nexus one recovery shard (OpOperatorRestore); once
// it holds enough it rebuilds the root key.
type RestoreRequest struct {
	ID    int    `json:"id"`
	Shard *Shard `json:"shard"`
}

// RestoreResponse answers OpOperatorRestore with the progress of the
// restore.
type RestoreResponse struct {
	Collected int       `json:"collected"`
	Remaining int       `json:"remaining"`
	Restored  bool      `json:"restored"`
	Err       ErrorCode `json:"err,omitempty"`
}

// Op returns OpOperatorRecover.
func (RecoverRequest) Op() Op { return OpOperatorRecover }

// Validate accepts every recover request.
func (RecoverRequest) Validate() error { return nil }

// Op returns OpOperatorRestore.
func (RestoreRequest) Op() Op { return OpOperatorRestore }

// Validate checks the shard's ID and that the shard is present and not
// zero.
func (r RestoreRequest) Validate() error {
	if err := ValidateShardID(r.ID); err != nil {
		return err
	}
	return ValidateShard(r.Shard)
}
