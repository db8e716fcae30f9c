package api

// ShardContributeRequest gives a Keeper its shard (OpShardContribute);
// it replaces any shard the Keeper held. Callers: Nexus and Bootstrap.
type ShardContributeRequest struct {
	Shard *Shard `json:"shard"`
	// Epoch (extension) numbers the sharing the shard belongs to: 0 is
	// SPIKE's deterministic sharing, later epochs are refreshed ones.
	// SPIKE v0.8 neither sends nor reads it.
	Epoch uint64 `json:"epoch,omitempty"`
}

// ShardContributeResponse answers OpShardContribute: {} on success.
type ShardContributeResponse struct {
	Err ErrorCode `json:"err,omitempty"`
}

// ShardGetRequest asks a Keeper for its shard (OpShardGet). Its body is
// {}. Caller: Nexus.
type ShardGetRequest struct{}

// ShardGetResponse answers OpShardGet with the Keeper's shard. A Keeper
// that holds none answers 400: {"shard":null,"err":"api_bad_request"}.
//
// SPIKE v0.8's Keeper writes the error key as "Err", always present
// ({"shard":[…],"Err":""}), because its struct field has no JSON tag.
// spike writes the usual "err", omitted on success: SPIKE's Nexus decodes
// either (encoding/json matches keys case-insensitively), and so does this
// type.
type ShardGetResponse struct {
	Shard *Shard `json:"shard"`
	// Epoch (extension) is the epoch the held shard was contributed with.
	Epoch uint64    `json:"epoch,omitempty"`
	Err   ErrorCode `json:"err,omitempty"`
}

// Op returns OpShardContribute.
func (ShardContributeRequest) Op() Op { return OpShardContribute }

// Validate checks that the shard is present and not zero.
func (r ShardContributeRequest) Validate() error { return ValidateShard(r.Shard) }

// Op returns OpShardGet.
func (ShardGetRequest) Op() Op { return OpShardGet }

// Validate accepts every shard request.
func (ShardGetRequest) Validate() error { return nil }
