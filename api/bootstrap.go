package api

import "fmt"

// BootstrapVerifyRequest proves to Bootstrap that Nexus holds the root key
// it made (OpBootstrapVerify): Bootstrap encrypts a random text under the
// root key (AES-256-GCM, no associated data) and Nexus answers with the
// text's SHA-256.
//
// Commitment, Shares and Threshold are an extension, sent by spike's
// Bootstrap and never by SPIKE v0.8's (and omitted when empty, so the
// v0.8 body is unchanged): the sharing of the root key Bootstrap gave the
// Keepers, for Nexus to record with the fact that the system is
// bootstrapped. Commitment is the Feldman commitment to the sharing
// polynomial, one compressed P-256 point ([CommitmentPointSize] bytes,
// base64 on the wire) per coefficient, so it has Threshold points; with
// it Nexus can tell a wrong shard from a good one during recovery. It
// reveals nothing usable about the key. A SPIKE v0.8 Nexus ignores the
// three fields.
type BootstrapVerifyRequest struct {
	Nonce      []byte   `json:"nonce"`
	Ciphertext []byte   `json:"ciphertext"`
	Commitment [][]byte `json:"commitment,omitempty"`
	Shares     int      `json:"shares,omitempty"`
	Threshold  int      `json:"threshold,omitempty"`
}

// CommitmentPointSize is the size of one point of a Feldman commitment: a
// compressed P-256 point.
const CommitmentPointSize = 33

// BootstrapVerifyResponse answers OpBootstrapVerify with the hex SHA-256
// of the decrypted text.
type BootstrapVerifyResponse struct {
	Hash string    `json:"hash"`
	Err  ErrorCode `json:"err,omitempty"`
}

// Op returns OpBootstrapVerify.
func (BootstrapVerifyRequest) Op() Op { return OpBootstrapVerify }

// Validate checks the nonce's size, the ciphertext's size and, when the
// extension is present, the sharing it describes.
func (r BootstrapVerifyRequest) Validate() error {
	if err := ValidateNonce(r.Nonce); err != nil {
		return err
	}
	if err := ValidateCiphertext(r.Ciphertext); err != nil {
		return err
	}
	return r.validateSharing()
}

// validateSharing checks the extension fields: all absent, or
// 1 <= threshold <= shares <= MaxShardID with one commitment point of the
// right size per coefficient.
func (r BootstrapVerifyRequest) validateSharing() error {
	if len(r.Commitment) == 0 && r.Shares == 0 && r.Threshold == 0 {
		return nil
	}
	switch {
	case r.Threshold < 1:
		return invalid("threshold", "must be at least 1 when a sharing is given")
	case r.Shares < r.Threshold:
		return invalid("shares", "must be at least the threshold")
	case r.Shares > MaxShardID:
		return invalid("shares", fmt.Sprintf("at most %d", MaxShardID))
	case len(r.Commitment) != r.Threshold:
		return invalid("commitment", "must have one point per coefficient (threshold points)")
	}
	for _, p := range r.Commitment {
		if len(p) != CommitmentPointSize {
			return invalid("commitment", fmt.Sprintf("points must be %d bytes", CommitmentPointSize))
		}
	}
	return nil
}
