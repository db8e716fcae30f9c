package events

import (
	"errors"
	"fmt"
	"time"
)

// all lists a constructor for every payload type; the catalogue is built
// from it.
var all = []func() Payload{
	func() Payload { return new(SecretVersionWritten) },
	func() Payload { return new(SecretVersionsDeleted) },
	func() Payload { return new(SecretVersionsUndeleted) },
	func() Payload { return new(SecretVersionsDestroyed) },
	func() Payload { return new(SecretMetadataUpdated) },
	func() Payload { return new(SecretRead) },
	func() Payload { return new(AccessDenied) },
	func() Payload { return new(PolicyPut) },
	func() Payload { return new(PolicyDeleted) },
	func() Payload { return new(CipherUsed) },
	func() Payload { return new(Bootstrapped) },
	func() Payload { return new(RootKeyRecovered) },
	func() Payload { return new(RootKeyRestored) },
	func() Payload { return new(ShardsDistributed) },
	func() Payload { return new(KeeperUnreachable) },
	func() Payload { return new(DataKeyRotated) },
	func() Payload { return new(RootKeyRotated) },
	func() Payload { return new(RestorePointApplied) },
	func() Payload { return new(Imported) },
	func() Payload { return new(RecoveryShardsExported) },
	func() Payload { return new(ShardsRotated) },
	func() Payload { return new(SecretMetadataDeleted) },
	func() Payload { return new(RequestRefused) },
	func() Payload { return new(Exported) },
	func() Payload { return new(ClusterMemberAdded) },
	func() Payload { return new(ClusterMemberRemoved) },
	func() Payload { return new(BackedUp) },
}

// Outcomes recorded by events that can fail: done; refused because what
// was asked for does not exist; refused because of the state it found
// (a check-and-set conflict, destroyed data); refused by authorisation;
// failed inside Nexus.
const (
	OutcomeOK       = "ok"
	OutcomeNotFound = "not_found"
	OutcomeConflict = "conflict"
	OutcomeDenied   = "denied"
	OutcomeError    = "error"
)

var errNoPath = errors.New("path is empty")

func needPath(p string) error {
	if p == "" {
		return errNoPath
	}
	return nil
}

func needVersions(vs []int) error {
	for _, v := range vs {
		if v <= 0 {
			return fmt.Errorf("version %d is not positive", v)
		}
	}
	return nil
}

// SecretVersionWritten: a new version of the secret at Path.
type SecretVersionWritten struct {
	Meta
	Path    string `json:"path"`
	Version int    `json:"version"`
	// ValueKey is the id (ULID text) of the per-value key Sealed is sealed
	// under, with ValueAAD(Path, Version) as associated data. Destroying
	// that key destroys this version's data for good.
	ValueKey string `json:"value_key"`
	Sealed   []byte `json:"sealed"`
	// MaxVersions is set when this write creates the path: the retention it
	// starts with.
	MaxVersions int `json:"max_versions,omitempty"`
	// CAS is the check-and-set version the caller required, if any.
	CAS *int `json:"cas,omitempty"`
	// Pruned lists older versions removed because the path now holds more
	// than its maximum; their value keys are destroyed with this event.
	Pruned []int `json:"pruned,omitempty"`
	// Created is when an imported version was originally written; the
	// version's creation time is the event's otherwise.
	Created *time.Time `json:"created,omitempty"`
	// Via names the operation that wrote the version when it was not a
	// put: "patch", "rollback" or "restore".
	Via string `json:"via,omitempty"`
	// From is the version whose data a rollback copied.
	From int `json:"from,omitempty"`
}

func (*SecretVersionWritten) Type() string   { return "secret.version.written" }
func (*SecretVersionWritten) Schema() uint32 { return 1 }
func (e *SecretVersionWritten) validate() error {
	if err := needPath(e.Path); err != nil {
		return err
	}
	if e.Version <= 0 {
		return fmt.Errorf("version %d is not positive", e.Version)
	}
	if e.ValueKey == "" || len(e.Sealed) == 0 {
		return errors.New("value key or sealed data missing")
	}
	return needVersions(e.Pruned)
}

// SecretVersionsDeleted: versions soft-deleted; they can be undeleted.
type SecretVersionsDeleted struct {
	Meta
	Path     string `json:"path"`
	Versions []int  `json:"versions"`
	// Deleted is when imported versions were originally deleted; the
	// event's time otherwise.
	Deleted *time.Time `json:"deleted,omitempty"`
}

func (*SecretVersionsDeleted) Type() string   { return "secret.versions.deleted" }
func (*SecretVersionsDeleted) Schema() uint32 { return 1 }
func (e *SecretVersionsDeleted) validate() error {
	if err := needPath(e.Path); err != nil {
		return err
	}
	return needVersions(e.Versions)
}

// SecretVersionsUndeleted: soft-deleted versions made readable again.
type SecretVersionsUndeleted struct {
	Meta
	Path     string `json:"path"`
	Versions []int  `json:"versions"`
}

func (*SecretVersionsUndeleted) Type() string   { return "secret.versions.undeleted" }
func (*SecretVersionsUndeleted) Schema() uint32 { return 1 }
func (e *SecretVersionsUndeleted) validate() error {
	if err := needPath(e.Path); err != nil {
		return err
	}
	return needVersions(e.Versions)
}

// SecretVersionsDestroyed: versions whose value keys were destroyed with
// this event. Their data is gone for good; the versions' metadata stays.
type SecretVersionsDestroyed struct {
	Meta
	Path     string `json:"path"`
	Versions []int  `json:"versions"`
}

func (*SecretVersionsDestroyed) Type() string   { return "secret.versions.destroyed" }
func (*SecretVersionsDestroyed) Schema() uint32 { return 1 }
func (e *SecretVersionsDestroyed) validate() error {
	if err := needPath(e.Path); err != nil {
		return err
	}
	return needVersions(e.Versions)
}

// SecretMetadataUpdated: settings of a path changed. A nil field is left
// as it was.
type SecretMetadataUpdated struct {
	Meta
	Path           string             `json:"path"`
	MaxVersions    *int               `json:"max_versions,omitempty"`
	CASRequired    *bool              `json:"cas_required,omitempty"`
	CustomMetadata *map[string]string `json:"custom_metadata,omitempty"`
	// DeleteVersionAfter, if set, soft-deletes each version this long
	// after it was written; zero turns it off.
	DeleteVersionAfter *time.Duration `json:"delete_version_after,omitempty"`
	// Pruned lists versions removed because MaxVersions was lowered.
	Pruned []int `json:"pruned,omitempty"`
}

func (*SecretMetadataUpdated) Type() string   { return "secret.metadata.updated" }
func (*SecretMetadataUpdated) Schema() uint32 { return 1 }
func (e *SecretMetadataUpdated) validate() error {
	if err := needPath(e.Path); err != nil {
		return err
	}
	if e.MaxVersions != nil && *e.MaxVersions < 0 {
		return fmt.Errorf("max versions %d is negative", *e.MaxVersions)
	}
	return needVersions(e.Pruned)
}

// SecretRead: a secret was read (or a read found nothing). Version is the
// version served, 0 if none.
type SecretRead struct {
	Meta
	Path    string `json:"path"`
	Version int    `json:"version,omitempty"`
	Outcome string `json:"outcome"`
	// Reason says why a read found nothing (an api.Reason: no_such_path,
	// no_such_version, deleted, destroyed). Reads recorded before it
	// existed have none.
	Reason string `json:"reason,omitempty"`
}

func (*SecretRead) Type() string      { return "secret.read" }
func (*SecretRead) Schema() uint32    { return 1 }
func (e *SecretRead) validate() error { return needPath(e.Path) }

// AccessDenied: a request was refused by authorisation.
type AccessDenied struct {
	Meta
	// Path is the secret path or pseudo-path the request was for.
	Path string `json:"path"`
	// Action is what was attempted (read, write, list, delete, policy…).
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
}

func (*AccessDenied) Type() string   { return "access.denied" }
func (*AccessDenied) Schema() uint32 { return 1 }

// PolicyPut: a policy was created or replaced. Schema 2 carries the
// permissions as a list; schema 1 carried them comma-joined (upcast by
// package migrations).
type PolicyPut struct {
	Meta
	Name            string   `json:"name"`
	SpiffeIDPattern string   `json:"spiffe_id_pattern"`
	PathPattern     string   `json:"path_pattern"`
	Permissions     []string `json:"permissions"`
}

func (*PolicyPut) Type() string   { return "policy.put" }
func (*PolicyPut) Schema() uint32 { return 2 }
func (e *PolicyPut) validate() error {
	if e.Name == "" {
		return errors.New("policy name is empty")
	}
	return nil
}

// PolicyDeleted: a policy was removed.
type PolicyDeleted struct {
	Meta
	Name string `json:"name"`
}

func (*PolicyDeleted) Type() string   { return "policy.deleted" }
func (*PolicyDeleted) Schema() uint32 { return 1 }
func (e *PolicyDeleted) validate() error {
	if e.Name == "" {
		return errors.New("policy name is empty")
	}
	return nil
}

// CipherUsed: the cipher service encrypted or decrypted for a caller.
// Only the operation, its outcome and the input size are recorded.
type CipherUsed struct {
	Meta
	Operation string `json:"operation"` // encrypt | decrypt
	Outcome   string `json:"outcome"`
	Bytes     int    `json:"bytes,omitempty"`
}

func (*CipherUsed) Type() string   { return "cipher.used" }
func (*CipherUsed) Schema() uint32 { return 1 }

// Bootstrapped: the root key was created and split among Keepers.
type Bootstrapped struct {
	Meta
	Shares    int      `json:"shares"`
	Threshold int      `json:"threshold"`
	Keepers   []string `json:"keepers"`
	// Commitments are the Feldman commitments to the sharing polynomial,
	// against which a shard can be checked without the key.
	Commitments [][]byte `json:"commitments,omitempty"`
	Forced      bool     `json:"forced,omitempty"`
}

func (*Bootstrapped) Type() string   { return "system.bootstrapped" }
func (*Bootstrapped) Schema() uint32 { return 1 }

// RootKeyRecovered: Nexus rebuilt the root key from Keepers' shards.
type RootKeyRecovered struct {
	Meta
	Keepers  []string `json:"keepers"`
	Rejected []string `json:"rejected,omitempty"`
}

func (*RootKeyRecovered) Type() string   { return "rootkey.recovered" }
func (*RootKeyRecovered) Schema() uint32 { return 1 }

// RootKeyRestored: an operator restored the root key from recovery shards.
type RootKeyRestored struct {
	Meta
	Shards int `json:"shards"`
}

func (*RootKeyRestored) Type() string   { return "rootkey.restored" }
func (*RootKeyRestored) Schema() uint32 { return 1 }

// KeeperOutcome is one Keeper's result in a distribution run.
type KeeperOutcome struct {
	Keeper string `json:"keeper"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
}

// ShardsDistributed: a run of the shard distribution job.
type ShardsDistributed struct {
	Meta
	Results []KeeperOutcome `json:"results"`
}

func (*ShardsDistributed) Type() string   { return "shards.distributed" }
func (*ShardsDistributed) Schema() uint32 { return 1 }

// KeeperUnreachable: the health job could not reach a Keeper.
type KeeperUnreachable struct {
	Meta
	Keeper string `json:"keeper"`
	Error  string `json:"error,omitempty"`
}

func (*KeeperUnreachable) Type() string   { return "keeper.unreachable" }
func (*KeeperUnreachable) Schema() uint32 { return 1 }

// DataKeyRotated: the log started a new data-key epoch.
type DataKeyRotated struct {
	Meta
	KeyID uint32 `json:"key_id"`
}

func (*DataKeyRotated) Type() string   { return "datakey.rotated" }
func (*DataKeyRotated) Schema() uint32 { return 1 }

// RootKeyRotated: every stored key was rewrapped under a new root key.
type RootKeyRotated struct {
	Meta
	Shares    int `json:"shares,omitempty"`
	Threshold int `json:"threshold,omitempty"`
}

func (*RootKeyRotated) Type() string   { return "rootkey.rotated" }
func (*RootKeyRotated) Schema() uint32 { return 1 }

// RestorePointApplied: paths were restored to their state as of an
// earlier point; the events that do it follow in the same append.
type RestorePointApplied struct {
	Meta
	// Paths restored; empty means every path (under Prefix, if set).
	Paths []string `json:"paths,omitempty"`
	// Prefix, if set, is the scope of a restore of every path that
	// starts with it (added within schema 1: older records lack it).
	Prefix   string    `json:"prefix,omitempty"`
	AsOfSeq  uint64    `json:"as_of_seq"`
	AsOfTime time.Time `json:"as_of_time"`
	// Changes lists each path the restore changed, ascending by path.
	// Restores recorded before it existed have none (their changes are
	// only in the events that follow them).
	Changes []RestoreChange `json:"changes,omitempty"`
}

// RestoreChange is what a restore did to one path: wrote a version with
// the data of the point, or soft-deleted the versions readable now
// because the path had nothing readable then.
type RestoreChange struct {
	Path    string `json:"path"`
	Written int    `json:"written,omitempty"`
	Deleted []int  `json:"deleted,omitempty"`
}

func (*RestorePointApplied) Type() string   { return "restore.applied" }
func (*RestorePointApplied) Schema() uint32 { return 1 }
func (e *RestorePointApplied) validate() error {
	seen := make(map[string]bool, len(e.Changes))
	for _, c := range e.Changes {
		if err := needPath(c.Path); err != nil {
			return err
		}
		if seen[c.Path] {
			return fmt.Errorf("path %q changed twice", c.Path)
		}
		seen[c.Path] = true
		if c.Written < 0 {
			return fmt.Errorf("version %d is not positive", c.Written)
		}
		if err := needVersions(c.Deleted); err != nil {
			return err
		}
	}
	return nil
}

// Imported: content was imported from elsewhere; the events that carry it
// follow.
type Imported struct {
	Meta
	Source   string `json:"source"`
	Secrets  int    `json:"secrets"`
	Versions int    `json:"versions"`
	Policies int    `json:"policies"`
}

func (*Imported) Type() string   { return "system.imported" }
func (*Imported) Schema() uint32 { return 1 }

// Exported: the state at a point of the log left Nexus as a file (spike
// export). It is recorded before the file is built, so no export leaves
// without a record; With values marks a JSON export holding values in
// clear (the file formats always hold them, sealed).
type Exported struct {
	Meta
	Format     string `json:"format"`
	AsOfSeq    uint64 `json:"as_of_seq"`
	WithValues bool   `json:"with_values,omitempty"`
}

func (*Exported) Type() string   { return "system.exported" }
func (*Exported) Schema() uint32 { return 1 }
func (e *Exported) validate() error {
	if e.Format == "" {
		return errors.New("export format is empty")
	}
	return nil
}

// BackedUp: a copy of the whole log was asked for (spike operator
// backup). It is recorded before the copy's transaction begins, so the
// copy holds it, and a log restored from a backup shows where it came
// from. Recorded after the copy began, it would be a write that waits
// for the copy: on a cluster a commit that grows the file past bbolt's
// mapping waits for every open read transaction to end. Events is the
// log's size when it was recorded: the copy holds all of those, this
// record, and what was acknowledged before the copy began.
type BackedUp struct {
	Meta
	Events uint64 `json:"events"`
}

func (*BackedUp) Type() string      { return "system.backed_up" }
func (*BackedUp) Schema() uint32    { return 1 }
func (e *BackedUp) validate() error { return nil }

// RecoveryShardsExported: an operator took every shard of the root key
// (spike operator recover), for break-glass recovery files.
type RecoveryShardsExported struct {
	Meta
	Shards int `json:"shards"`
}

func (*RecoveryShardsExported) Type() string   { return "rootkey.shards.exported" }
func (*RecoveryShardsExported) Schema() uint32 { return 1 }

// ShardsRotated: a new sharing epoch of the same root key, recorded with
// its commitment before any Keeper receives a shard of it. Keepers that
// took it are listed; if fewer than the threshold did, the previous epoch
// stays in force.
type ShardsRotated struct {
	Meta
	Epoch       uint64   `json:"epoch"`
	Shares      int      `json:"shares"`
	Threshold   int      `json:"threshold"`
	Commitments [][]byte `json:"commitments,omitempty"`
}

func (*ShardsRotated) Type() string   { return "shards.rotated" }
func (*ShardsRotated) Schema() uint32 { return 1 }

// SecretMetadataDeleted: a path was removed. The value keys of every
// version whose data still existed are destroyed with this event, and
// the path no longer lists; its history stays. A later write to the path
// continues after LastVersion, so no version number is used twice.
type SecretMetadataDeleted struct {
	Meta
	Path string `json:"path"`
	// Versions are the versions whose data this event destroyed.
	Versions []int `json:"versions,omitempty"`
	// LastVersion is the highest version the path ever had.
	LastVersion int `json:"last_version"`
}

func (*SecretMetadataDeleted) Type() string   { return "secret.metadata.deleted" }
func (*SecretMetadataDeleted) Schema() uint32 { return 1 }
func (e *SecretMetadataDeleted) validate() error {
	if err := needPath(e.Path); err != nil {
		return err
	}
	if e.LastVersion < 0 {
		return fmt.Errorf("last version %d is negative", e.LastVersion)
	}
	return needVersions(e.Versions)
}

// RequestRefused: a request that writes (or restores) was authorised and
// refused because of the state it found: what it named does not exist,
// a check-and-set expected another version, the data it needs is
// destroyed. Nothing changed. (Refusals by authorisation are
// AccessDenied.)
type RequestRefused struct {
	Meta
	// Path is the secret path, or the policy name, the request named.
	Path string `json:"path"`
	// Action is the operation's name (api.Op's String: secret.put, …).
	Action string `json:"action"`
	// Outcome is OutcomeNotFound or OutcomeConflict.
	Outcome string `json:"outcome"`
	// Reason is the api.Reason the caller was given (cas_mismatch, …).
	Reason string `json:"reason"`
	// Versions are the versions the request named, if any.
	Versions []int `json:"versions,omitempty"`
}

func (*RequestRefused) Type() string   { return "request.refused" }
func (*RequestRefused) Schema() uint32 { return 1 }
func (e *RequestRefused) validate() error {
	if e.Action == "" || e.Outcome == "" {
		return errors.New("action or outcome is empty")
	}
	return nil
}

// ClusterMemberAdded: the superuser added a Nexus replica to the
// cluster's Raft configuration (spike operator cluster add). It is
// recorded once the change is committed by the cluster.
type ClusterMemberAdded struct {
	Meta
	ID          string `json:"id"`
	RaftAddress string `json:"raft_address"`
	APIAddress  string `json:"api_address,omitempty"`
}

func (*ClusterMemberAdded) Type() string   { return "cluster.member_added" }
func (*ClusterMemberAdded) Schema() uint32 { return 1 }
func (e *ClusterMemberAdded) validate() error {
	if e.ID == "" || e.RaftAddress == "" {
		return errors.New("member id or raft address is empty")
	}
	return nil
}

// ClusterMemberRemoved: the superuser removed a replica from the
// cluster's Raft configuration (spike operator cluster remove), once the
// change is committed. The addresses are the member's as it was
// configured, when the cluster knew them.
type ClusterMemberRemoved struct {
	Meta
	ID          string `json:"id"`
	RaftAddress string `json:"raft_address,omitempty"`
	APIAddress  string `json:"api_address,omitempty"`
}

func (*ClusterMemberRemoved) Type() string   { return "cluster.member_removed" }
func (*ClusterMemberRemoved) Schema() uint32 { return 1 }
func (e *ClusterMemberRemoved) validate() error {
	if e.ID == "" {
		return errors.New("member id is empty")
	}
	return nil
}

// ValueAAD is the associated data a secret version's value is sealed
// with, binding the ciphertext to its path and version.
func ValueAAD(path string, version int) []byte {
	return fmt.Appendf(nil, "spike/secret/v1\x00%s\x00%d", path, version)
}
