package api

// Method is the only HTTP method any route accepts. A request with another
// method is answered like an unknown route: 400 with [CodeBadRequest].
// The transport enforces this rule; [Route] does not look at methods.
const Method = "POST"

// QueryAction is the query parameter that selects the action on a path:
// "/v1/store/secrets?action=get".
const QueryAction = "action"

// Action is the value of the "action" query parameter. No parameter (or an
// empty one) is [ActionDefault].
type Action string

// The actions SPIKE v0.8 routes. SPIKE's SDK also defines "check" and
// "read", but no route uses them; spike's extensions use these same five.
const (
	ActionDefault  Action = ""
	ActionGet      Action = "get"
	ActionDelete   Action = "delete"
	ActionUndelete Action = "undelete"
	ActionList     Action = "list"
)

// URL paths served by Nexus and Keeper. Paths match exactly: no trailing
// slash, no case folding, no cleaning.
const (
	// SPIKE v0.8 Nexus.
	PathSecrets          = "/v1/store/secrets"
	PathSecretsMetadata  = "/v1/store/secrets/metadata"
	PathPolicy           = "/v1/acl/policy"
	PathCipherEncrypt    = "/v1/cipher/encrypt"
	PathCipherDecrypt    = "/v1/cipher/decrypt"
	PathBootstrapVerify  = "/v1/bootstrap/verify"
	PathOperatorRecover  = "/v1/operator/recover"
	PathOperatorRestore  = "/v1/operator/restore"
	PathKeeperContribute = "/v1/store/contribute" // SPIKE v0.8 Keeper.
	PathKeeperShard      = "/v1/store/shard"      // SPIKE v0.8 Keeper.

	// Extensions (Nexus).
	PathSecretsDestroy   = "/v1/store/secrets/destroy"
	PathSecretsSettings  = "/v1/store/secrets/settings"
	PathSecretsHistory   = "/v1/store/secrets/history"
	PathAuditEvents      = "/v1/audit/events"
	PathAuditCheckpoint  = "/v1/audit/checkpoint"
	PathAuditProof       = "/v1/audit/proof"
	PathAuditConsistency = "/v1/audit/consistency"
	PathRestorePoints    = "/v1/operator/restore-points"
	PathBootstrapStatus  = "/v1/bootstrap/status"
	PathSecretsPatch     = "/v1/store/secrets/patch"
	PathSecretsRollback  = "/v1/store/secrets/rollback"
	PathSystemStatus     = "/v1/system/status"
	PathSystemExport     = "/v1/system/export"
	PathAuditTail        = "/v1/audit/tail"
	PathRestorePlan      = "/v1/operator/restore-points/plan"
	PathOperatorBackup   = "/v1/operator/backup"
)

// Service is the server a route belongs to.
type Service uint8

// The services.
const (
	ServiceNexus Service = iota + 1
	ServiceKeeper
)

func (s Service) String() string {
	switch s {
	case ServiceNexus:
		return "nexus"
	case ServiceKeeper:
		return "keeper"
	}
	return "unknown"
}

// Op is one operation of the API: a (path, action) pair.
type Op uint8

// The operations. The first seventeen are SPIKE v0.8's fifteen Nexus
// routes and two Keeper routes; the rest are extensions.
const (
	OpUnknown Op = iota

	OpSecretPut         // POST /v1/store/secrets
	OpSecretGet         // POST /v1/store/secrets?action=get
	OpSecretDelete      // POST /v1/store/secrets?action=delete
	OpSecretUndelete    // POST /v1/store/secrets?action=undelete
	OpSecretList        // POST /v1/store/secrets?action=list
	OpSecretMetadataGet // POST /v1/store/secrets/metadata?action=get
	OpPolicyPut         // POST /v1/acl/policy
	OpPolicyGet         // POST /v1/acl/policy?action=get
	OpPolicyDelete      // POST /v1/acl/policy?action=delete
	OpPolicyList        // POST /v1/acl/policy?action=list
	OpCipherEncrypt     // POST /v1/cipher/encrypt
	OpCipherDecrypt     // POST /v1/cipher/decrypt
	OpBootstrapVerify   // POST /v1/bootstrap/verify
	OpOperatorRecover   // POST /v1/operator/recover
	OpOperatorRestore   // POST /v1/operator/restore
	OpShardContribute   // POST /v1/store/contribute (Keeper)
	OpShardGet          // POST /v1/store/shard (Keeper)

	OpSecretDestroy        // Extension: POST /v1/store/secrets/destroy
	OpSecretSettingsPut    // Extension: POST /v1/store/secrets/settings
	OpSecretSettingsGet    // Extension: POST /v1/store/secrets/settings?action=get
	OpSecretHistory        // Extension: POST /v1/store/secrets/history?action=list
	OpAuditList            // Extension: POST /v1/audit/events?action=list
	OpAuditCheckpoint      // Extension: POST /v1/audit/checkpoint?action=get
	OpAuditProof           // Extension: POST /v1/audit/proof?action=get
	OpAuditConsistency     // Extension: POST /v1/audit/consistency?action=get
	OpRestorePointApply    // Extension: POST /v1/operator/restore-points
	OpRestorePointList     // Extension: POST /v1/operator/restore-points?action=list
	OpBootstrapStatus      // Extension: POST /v1/bootstrap/status
	OpSecretPatch          // Extension: POST /v1/store/secrets/patch
	OpSecretRollback       // Extension: POST /v1/store/secrets/rollback
	OpSecretMetadataDelete // Extension: POST /v1/store/secrets/metadata?action=delete
	OpSystemStatus         // Extension: POST /v1/system/status?action=get
	OpExportStart          // Extension: POST /v1/system/export
	OpExportGet            // Extension: POST /v1/system/export?action=get
	OpAuditTail            // Extension: POST /v1/audit/tail?action=list (a stream)
	OpRestorePlan          // Extension: POST /v1/operator/restore-points/plan?action=get
	OpClusterList          // Extension: POST /v1/operator/cluster?action=list
	OpClusterAdd           // Extension: POST /v1/operator/cluster
	OpClusterRemove        // Extension: POST /v1/operator/cluster?action=delete
	OpOperatorBackup       // Extension: POST /v1/operator/backup (a stream)

	opEnd // one past the last operation
)

// Request-body limits, in bytes. SPIKE v0.8 reads bodies without a limit;
// these are spike's, chosen well above what SPIKE's clients send.
const (
	// DefaultBodyLimit bounds bodies that carry only names, patterns,
	// version numbers or a shard.
	DefaultBodyLimit = 64 << 10
	// SecretBodyLimit bounds a secret write: 1 MiB of values, with room
	// for JSON escaping.
	SecretBodyLimit = 4 << 20
	// CipherBodyLimit bounds a JSON-mode cipher request: MaxCipherPayload
	// bytes in base64, with room for the other fields.
	CipherBodyLimit = 256 << 10
	// CipherStreamEncryptLimit and CipherStreamDecryptLimit bound the raw
	// bodies of stream-mode cipher requests (see [CipherEnvelope]).
	CipherStreamEncryptLimit = MaxCipherPayload
	CipherStreamDecryptLimit = 1 + NonceSize + MaxCipherPayload
)

// route describes one operation.
type route struct {
	name    string
	path    string
	action  Action
	service Service
	ext     bool
	limit   int64
}

// describe is the route table. It is a function, not a variable, so the
// table cannot be changed at run time.
func (op Op) describe() route {
	const (
		nexus  = ServiceNexus
		keeper = ServiceKeeper
		std    = DefaultBodyLimit
	)
	switch op {
	case OpSecretPut:
		return route{"secret.put", PathSecrets, ActionDefault, nexus, false, SecretBodyLimit}
	case OpSecretGet:
		return route{"secret.get", PathSecrets, ActionGet, nexus, false, std}
	case OpSecretDelete:
		return route{"secret.delete", PathSecrets, ActionDelete, nexus, false, std}
	case OpSecretUndelete:
		return route{"secret.undelete", PathSecrets, ActionUndelete, nexus, false, std}
	case OpSecretList:
		return route{"secret.list", PathSecrets, ActionList, nexus, false, std}
	case OpSecretMetadataGet:
		return route{"secret.metadata.get", PathSecretsMetadata, ActionGet, nexus, false, std}
	case OpPolicyPut:
		return route{"policy.put", PathPolicy, ActionDefault, nexus, false, std}
	case OpPolicyGet:
		return route{"policy.get", PathPolicy, ActionGet, nexus, false, std}
	case OpPolicyDelete:
		return route{"policy.delete", PathPolicy, ActionDelete, nexus, false, std}
	case OpPolicyList:
		return route{"policy.list", PathPolicy, ActionList, nexus, false, std}
	case OpCipherEncrypt:
		return route{"cipher.encrypt", PathCipherEncrypt, ActionDefault, nexus, false, CipherBodyLimit}
	case OpCipherDecrypt:
		return route{"cipher.decrypt", PathCipherDecrypt, ActionDefault, nexus, false, CipherBodyLimit}
	case OpBootstrapVerify:
		return route{"bootstrap.verify", PathBootstrapVerify, ActionDefault, nexus, false, CipherBodyLimit}
	case OpOperatorRecover:
		return route{"operator.recover", PathOperatorRecover, ActionDefault, nexus, false, std}
	case OpOperatorRestore:
		return route{"operator.restore", PathOperatorRestore, ActionDefault, nexus, false, std}
	case OpShardContribute:
		return route{"keeper.contribute", PathKeeperContribute, ActionDefault, keeper, false, std}
	case OpShardGet:
		return route{"keeper.shard", PathKeeperShard, ActionDefault, keeper, false, std}

	case OpSecretDestroy:
		return route{"secret.destroy", PathSecretsDestroy, ActionDefault, nexus, true, std}
	case OpSecretSettingsPut:
		return route{"secret.settings.put", PathSecretsSettings, ActionDefault, nexus, true, std}
	case OpSecretSettingsGet:
		return route{"secret.settings.get", PathSecretsSettings, ActionGet, nexus, true, std}
	case OpSecretHistory:
		return route{"secret.history", PathSecretsHistory, ActionList, nexus, true, std}
	case OpAuditList:
		return route{"audit.list", PathAuditEvents, ActionList, nexus, true, std}
	case OpAuditCheckpoint:
		return route{"audit.checkpoint", PathAuditCheckpoint, ActionGet, nexus, true, std}
	case OpAuditProof:
		return route{"audit.proof", PathAuditProof, ActionGet, nexus, true, std}
	case OpAuditConsistency:
		return route{"audit.consistency", PathAuditConsistency, ActionGet, nexus, true, std}
	case OpRestorePointApply:
		return route{"restore-point.apply", PathRestorePoints, ActionDefault, nexus, true, std}
	case OpRestorePointList:
		return route{"restore-point.list", PathRestorePoints, ActionList, nexus, true, std}
	case OpBootstrapStatus:
		return route{"bootstrap.status", PathBootstrapStatus, ActionDefault, nexus, true, std}
	case OpSecretPatch:
		return route{"secret.patch", PathSecretsPatch, ActionDefault, nexus, true, SecretBodyLimit}
	case OpSecretRollback:
		return route{"secret.rollback", PathSecretsRollback, ActionDefault, nexus, true, std}
	case OpSecretMetadataDelete:
		return route{"secret.metadata.delete", PathSecretsMetadata, ActionDelete, nexus, true, std}
	case OpSystemStatus:
		return route{"system.status", PathSystemStatus, ActionGet, nexus, true, std}
	case OpExportStart:
		return route{"export.start", PathSystemExport, ActionDefault, nexus, true, std}
	case OpExportGet:
		return route{"export.get", PathSystemExport, ActionGet, nexus, true, std}
	case OpAuditTail:
		return route{"audit.tail", PathAuditTail, ActionList, nexus, true, std}
	case OpRestorePlan:
		return route{"restore-point.plan", PathRestorePlan, ActionGet, nexus, true, std}
	case OpClusterList:
		return route{"cluster.list", PathOperatorCluster, ActionList, nexus, true, std}
	case OpClusterAdd:
		return route{"cluster.add", PathOperatorCluster, ActionDefault, nexus, true, std}
	case OpClusterRemove:
		return route{"cluster.remove", PathOperatorCluster, ActionDelete, nexus, true, std}
	case OpOperatorBackup:
		return route{"operator.backup", PathOperatorBackup, ActionDefault, nexus, true, std}
	}
	return route{name: "unknown"}
}

// Ops returns every operation, in declaration order.
func Ops() []Op {
	ops := make([]Op, 0, int(opEnd)-1)
	for op := OpUnknown + 1; op < opEnd; op++ {
		ops = append(ops, op)
	}
	return ops
}

// Route returns the operation served at path with the given value of the
// "action" query parameter, and whether there is one. It matches both
// Nexus and Keeper routes; a server answers only ops whose [Op.Service]
// is its own. Every route is POST-only ([Method]), which the caller
// checks.
func Route(path, action string) (Op, bool) {
	for op := OpUnknown + 1; op < opEnd; op++ {
		r := op.describe()
		if r.path == path && string(r.action) == action {
			return op, true
		}
	}
	return OpUnknown, false
}

// String returns a stable name for the operation, such as "secret.get",
// for logs and metrics.
func (op Op) String() string { return op.describe().name }

// Path returns the URL path the operation is served at.
func (op Op) Path() string { return op.describe().path }

// Action returns the value of the "action" query parameter that selects
// the operation.
func (op Op) Action() Action { return op.describe().action }

// URL returns the path with its query, as a client requests it:
// "/v1/store/secrets?action=get".
func (op Op) URL() string {
	r := op.describe()
	if r.action == ActionDefault {
		return r.path
	}
	return r.path + "?" + QueryAction + "=" + string(r.action)
}

// Service returns the server the operation belongs to.
func (op Op) Service() Service { return op.describe().service }

// Extension reports whether the operation is a spike extension, one
// SPIKE v0.8 does not serve.
func (op Op) Extension() bool { return op.describe().ext }

// BodyLimit returns the largest request body, in bytes, the operation
// accepts in JSON mode.
func (op Op) BodyLimit() int64 { return op.describe().limit }
