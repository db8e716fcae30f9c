package api

import (
	"slices"
	"strings"
	"time"
)

// AuditEvent is one entry of the event log as the history and audit
// extensions show it: who did what to which path, when, with which
// outcome. Values never appear.
type AuditEvent struct {
	Seq  uint64    `json:"seq"`  // position in the log, from 1
	Time time.Time `json:"time"` // when the log recorded it
	Type string    `json:"type"` // event type, e.g. "secret.read"
	// Actor is the SPIFFE ID of the caller.
	Actor    string `json:"actor,omitempty"`
	Path     string `json:"path,omitempty"`
	Versions []int  `json:"versions,omitempty"`
	Action   string `json:"action,omitempty"`  // what a refused request attempted
	Outcome  string `json:"outcome,omitempty"` // ok, not_found, denied, error
	// Detail says more where the type needs it: the versions a delete
	// named, what a refused caller attempted and why, the keepers of a
	// recovery.
	Detail    string `json:"detail,omitempty"`
	RequestID string `json:"requestId,omitempty"`
}

// AuditListRequest searches the event log (OpAuditList, extension),
// oldest first. Empty filters match everything.
type AuditListRequest struct {
	Actor string `json:"actor,omitempty"` // exact SPIFFE ID
	Path  string `json:"path,omitempty"`  // exact path
	// PathPrefix keeps events whose path starts with it (with Path,
	// both must hold).
	PathPrefix string   `json:"pathPrefix,omitempty"`
	Types      []string `json:"types,omitempty"` // event types, any of; an unknown type is refused
	// Outcomes keeps events with any of these outcomes (see
	// [AuditOutcomes]).
	Outcomes []string `json:"outcomes,omitempty"`
	Page
}

// AuditOutcomes are the outcomes an event can record: done, refused by
// the state of the store (not found, check-and-set conflict), refused by
// authorisation, or failed inside Nexus.
func AuditOutcomes() []string { return []string{"ok", "not_found", "conflict", "denied", "error"} }

// AuditListResponse answers OpAuditList.
type AuditListResponse struct {
	Events []AuditEvent `json:"events"`
	// Next, if not 0, is the "after" that asks for the next page.
	Next uint64    `json:"next,omitempty"`
	Err  ErrorCode `json:"err,omitempty"`
}

// AuditCheckpointRequest asks for the log's latest signed checkpoint
// (OpAuditCheckpoint, extension). Its body is {}.
type AuditCheckpointRequest struct{}

// AuditCheckpointResponse answers OpAuditCheckpoint. Checkpoint is the
// signed note (golang.org/x/mod/sumdb/note) over the log's origin, size
// and root hash; Size and RootHash repeat what it says.
type AuditCheckpointResponse struct {
	Checkpoint string `json:"checkpoint"`
	Size       uint64 `json:"size"`
	RootHash   []byte `json:"rootHash"`
	// VerifierKey is the note verifier key, for convenience: auditors
	// should pin it out of band rather than trust it from here.
	VerifierKey string    `json:"verifierKey,omitempty"`
	Err         ErrorCode `json:"err,omitempty"`
}

// AuditProofRequest asks for proof that the event Seq is in the log of
// TreeSize events (OpAuditProof, extension); TreeSize 0 means the latest
// checkpoint's size.
type AuditProofRequest struct {
	Seq      uint64 `json:"seq"`
	TreeSize uint64 `json:"treeSize,omitempty"`
}

// AuditProofResponse answers OpAuditProof: the event's RFC 6962 leaf hash
// and the inclusion proof, with the checkpoint for TreeSize.
type AuditProofResponse struct {
	Seq        uint64    `json:"seq"`
	TreeSize   uint64    `json:"treeSize"`
	LeafHash   []byte    `json:"leafHash"`
	Proof      [][]byte  `json:"proof"`
	Checkpoint string    `json:"checkpoint"`
	Err        ErrorCode `json:"err,omitempty"`
}

// AuditConsistencyRequest asks for proof that the log of OldSize events
// is a prefix of the log of NewSize events (OpAuditConsistency,
// extension); NewSize 0 means the latest checkpoint's size.
type AuditConsistencyRequest struct {
	OldSize uint64 `json:"oldSize"`
	NewSize uint64 `json:"newSize,omitempty"`
}

// AuditConsistencyResponse answers OpAuditConsistency with the RFC 6962
// consistency proof and the checkpoint for NewSize.
type AuditConsistencyResponse struct {
	OldSize    uint64    `json:"oldSize"`
	NewSize    uint64    `json:"newSize"`
	Proof      [][]byte  `json:"proof"`
	Checkpoint string    `json:"checkpoint"`
	Err        ErrorCode `json:"err,omitempty"`
}

// MaxAuditTypes bounds the event types an audit search may name.
const MaxAuditTypes = 64

// Op returns OpAuditList.
func (AuditListRequest) Op() Op { return OpAuditList }

// Validate checks each filter present and the page. It checks the shape
// of type names only: which types exist is the event catalogue's to say,
// and Nexus refuses a name it does not know.
func (r AuditListRequest) Validate() error {
	if r.Actor != "" {
		if err := validateSPIFFEID("actor", r.Actor); err != nil {
			return err
		}
	}
	if r.Path != "" {
		if err := ValidateStoredSecretPath(r.Path); err != nil {
			return err
		}
	}
	if r.PathPrefix != "" {
		if err := validatePathPrefix("pathPrefix", r.PathPrefix); err != nil {
			return err
		}
	}
	if len(r.Outcomes) > len(AuditOutcomes()) {
		return invalid("outcomes", "too many")
	}
	for _, o := range r.Outcomes {
		if !slices.Contains(AuditOutcomes(), o) {
			return invalid("outcomes", "each must be one of "+strings.Join(AuditOutcomes(), ", "))
		}
	}
	if len(r.Types) > MaxAuditTypes {
		return invalid("types", "too many")
	}
	for _, t := range r.Types {
		if !eventTypeRE.MatchString(t) {
			return invalid("types", "not an event type name")
		}
	}
	return r.Page.Validate()
}

// StoredPaths returns the exact path filter, if any: a search reaches a
// legacy path's events.
func (r AuditListRequest) StoredPaths() (string, []string) {
	if r.Path == "" {
		return "path", nil
	}
	return "path", []string{r.Path}
}

// Op returns OpAuditCheckpoint.
func (AuditCheckpointRequest) Op() Op { return OpAuditCheckpoint }

// Validate accepts every checkpoint request.
func (AuditCheckpointRequest) Validate() error { return nil }

// Op returns OpAuditProof.
func (AuditProofRequest) Op() Op { return OpAuditProof }

// Validate checks that Seq is 1 or more and within TreeSize.
func (r AuditProofRequest) Validate() error {
	if r.Seq == 0 {
		return invalid("seq", "must be 1 or more")
	}
	if r.TreeSize != 0 && r.TreeSize < r.Seq {
		return invalid("treeSize", "smaller than seq")
	}
	return nil
}

// Op returns OpAuditConsistency.
func (AuditConsistencyRequest) Op() Op { return OpAuditConsistency }

// Validate checks that OldSize is 1 or more and at most NewSize.
func (r AuditConsistencyRequest) Validate() error {
	if r.OldSize == 0 {
		return invalid("oldSize", "must be 1 or more")
	}
	if r.NewSize != 0 && r.NewSize < r.OldSize {
		return invalid("newSize", "smaller than oldSize")
	}
	return nil
}

// AuditTailRequest follows the event log as it grows (OpAuditTail,
// extension): the events that match the filters, as those of
// [AuditListRequest] choose them, from a starting point on, then each new
// one as it commits, until the caller hangs up. From and Since choose the
// start; with neither, the stream starts with the next event committed.
type AuditTailRequest struct {
	Actor      string   `json:"actor,omitempty"`
	Path       string   `json:"path,omitempty"`
	PathPrefix string   `json:"pathPrefix,omitempty"`
	Types      []string `json:"types,omitempty"`
	Outcomes   []string `json:"outcomes,omitempty"`
	// From is the sequence number of the first event to consider (a
	// previous stream's Next resumes it exactly). At most one past the
	// log's end.
	From uint64 `json:"from,omitempty"`
	// Since starts at the first event recorded at or after it.
	Since *time.Time `json:"since,omitempty"`
}

// AuditTailLine is one line of OpAuditTail's answer, a stream of JSON
// lines ([ContentTypeNDJSON]). A line is one of three kinds:
//
//   - an event: Event is set;
//   - a heartbeat: neither Event nor Err is set. The stream starts with
//     one and sends one every [AuditTailHeartbeat] while no event
//     matches, so a client can tell a quiet log from a dead connection;
//   - the last line, when Nexus ends the stream for a reason of its own
//     (shutting down, sealed, an error): Err is set and says why (503
//     state_not_ready: follow again from Next).
//
// Every line carries Next: every matching event before it has been sent,
// so a stream opened again with From = Next continues with no gap and no
// duplicate. An event's rows (one per path, for an event about several)
// share its Next.
type AuditTailLine struct {
	Event   *AuditEvent `json:"event,omitempty"`
	Next    uint64      `json:"next"`
	Err     ErrorCode   `json:"err,omitempty"`
	Message string      `json:"message,omitempty"`
}

// AuditTailHeartbeat is how often a quiet audit tail sends a heartbeat;
// a client that hears nothing for several of them may take the
// connection for dead.
const AuditTailHeartbeat = 5 * time.Second

// MaxAuditTailLine bounds one line of an audit tail, newline included:
// an event names at most a path, an actor, a request id and a detail.
const MaxAuditTailLine = 64 << 10

// Op returns OpAuditTail.
func (AuditTailRequest) Op() Op { return OpAuditTail }

// Validate checks the filters as [AuditListRequest.Validate] does, and
// that at most one of From and Since is given.
func (r AuditTailRequest) Validate() error {
	if r.From != 0 && r.Since != nil {
		return invalid("since", "give from or since, not both")
	}
	return r.list().Validate()
}

// StoredPaths returns the exact path filter, if any, as an audit list's.
func (r AuditTailRequest) StoredPaths() (string, []string) { return r.list().StoredPaths() }

// list is the audit search with the same filters.
func (r AuditTailRequest) list() AuditListRequest {
	return AuditListRequest{Actor: r.Actor, Path: r.Path, PathPrefix: r.PathPrefix, Types: r.Types, Outcomes: r.Outcomes}
}
