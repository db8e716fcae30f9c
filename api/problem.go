package api

// Reason (extension) names why a request was refused, more finely than
// its [ErrorCode]: a 409 may be a check-and-set mismatch, a 400 a value
// too large or a path that requires check-and-set. Clients that know a
// reason can tell the user what to do; v0.8 clients never read error
// bodies, so the field costs them nothing.
type Reason string

// The reasons Nexus gives.
const (
	// ReasonInvalid: a field breaks a validation rule; Message names the
	// field and the rule (400).
	ReasonInvalid Reason = "invalid"
	// ReasonTooLarge: the secret's data is larger than the server's
	// limit; Message gives the limit (400).
	ReasonTooLarge Reason = "too_large"
	// ReasonCASRequired: the path's settings require check-and-set and
	// the write carried none; CurrentVersion is the version to expect
	// (400, as SPIKE's clients understand it).
	ReasonCASRequired Reason = "cas_required"
	// ReasonCASMismatch: the write expected another version;
	// CurrentVersion is the path's current one (409).
	ReasonCASMismatch Reason = "cas_mismatch"
	// ReasonNoSuchPath: no secret at the path, or no policy by the name
	// (404).
	ReasonNoSuchPath Reason = "no_such_path"
	// ReasonNoSuchVersion: the path exists but not the version asked for
	// (404).
	ReasonNoSuchVersion Reason = "no_such_version"
	// ReasonDeleted: the version asked for is soft-deleted (404);
	// undelete brings it back.
	ReasonDeleted Reason = "deleted"
	// ReasonNotDeleted: an undelete named versions none of which is
	// deleted (404, as SPIKE answers an undelete that undid nothing).
	ReasonNotDeleted Reason = "not_deleted"
	// ReasonDestroyed: the version's data is destroyed for good (404 on
	// a read or undelete; 409 on a restore that would need it).
	ReasonDestroyed Reason = "destroyed"
	// ReasonFuture: a point in time or sequence number after the log's
	// end (400).
	ReasonFuture Reason = "future"
	// ReasonBeforeStart: a point in time before the log's first event
	// (404): there is no state to restore to.
	ReasonBeforeStart Reason = "before_start"
	// ReasonTooManyFollowers: the caller already follows the log (audit
	// tail) as many times at once as Nexus allows (429); Message gives
	// the limit.
	ReasonTooManyFollowers Reason = "too_many_followers"
	// ReasonNoSuchPoint: a restore named a restore point that is not one
	// of the log's signed checkpoints (404).
	ReasonNoSuchPoint Reason = "no_such_point"
	// ReasonPlanStale: a restore's plan was made at a base sequence
	// number after which a path it covers changed (409); plan again, or
	// apply with force.
	ReasonPlanStale Reason = "plan_stale"
	// ReasonBusy: the server is doing as much of this work as it allows
	// at once (429); Message says what runs. Try again later.
	ReasonBusy Reason = "busy"
	// ReasonNoSpace: Nexus's data directory is out of space. With 503
	// (state_not_ready) nothing of the request was done, as with every
	// 503, so a client may retry it; Nexus serves again by itself once
	// space is freed. With 500 (api_internal_error) a change is recorded
	// in the event log but could not be applied yet: it takes effect by
	// itself once space is freed, and repeating it would make it twice.
	ReasonNoSpace Reason = "no_space"
	// ReasonNotLeader: the Nexus replica that took the request is not,
	// or is no longer, its cluster's leader (503, state_not_ready).
	// Nothing of the request was done; retry it.
	ReasonNotLeader Reason = "not_leader"
	// ReasonNoLeader: the replica called is a follower and could not
	// hand the request to the cluster's leader, none being known or
	// reachable (503). Nothing was done; retry, through any replica.
	ReasonNoLeader Reason = "no_leader"
)

// Problem (extension) is the body of a refusal that has more to say than
// its code. It is sent in place of the operation's usual error body
// ([ErrorResponseFor]) only when Nexus has a reason to give; "err" is
// the same code either way, so a client that reads only "err" (or, like
// v0.8's, only the status) sees no difference.
type Problem struct {
	Err    ErrorCode `json:"err"`
	Reason Reason    `json:"reason,omitempty"`
	// Message says what was wrong in words a person acts on. It may name
	// a field, a rule, a limit, a policy or a path; never a secret value.
	Message string `json:"message,omitempty"`
	// CurrentVersion is the path's current version where the reason
	// concerns it (check-and-set); 0 is "no readable version".
	CurrentVersion *int `json:"currentVersion,omitempty"`
}
