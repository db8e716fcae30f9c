package api

// BootstrapStatusRequest asks Nexus whether the system is bootstrapped
// (OpBootstrapStatus, extension). Its body is {}.
//
// Nexus answers it even while sealed (it is exempt from the 503
// state_not_ready gate, like operator recover and restore), so that
// Bootstrap can ask before acting and do nothing on a system that already
// has a root key. Callers: Bootstrap and Pilot as superuser; anyone else
// gets 401.
type BootstrapStatusRequest struct{}

// BootstrapStatusResponse answers OpBootstrapStatus:
//
//	{"bootstrapped":true,"sealed":false,"shares":3,"threshold":2}
//
// Bootstrapped reports that the log records a completed bootstrap (a root
// key was made, shared out and verified). Sealed reports that Nexus does
// not hold the root key now. Shares and Threshold are the sharing Nexus
// works with: the one recorded at bootstrap, or before any bootstrap the
// one it is configured for; 0 when it has none.
type BootstrapStatusResponse struct {
	Bootstrapped bool      `json:"bootstrapped"`
	Sealed       bool      `json:"sealed"`
	Shares       int       `json:"shares"`
	Threshold    int       `json:"threshold"`
	Err          ErrorCode `json:"err,omitempty"`
}

// Op returns OpBootstrapStatus.
func (BootstrapStatusRequest) Op() Op { return OpBootstrapStatus }

// Validate accepts every status request.
func (BootstrapStatusRequest) Validate() error { return nil }
