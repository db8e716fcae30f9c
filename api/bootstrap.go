package api

// BootstrapVerifyRequest proves to Bootstrap that Nexus holds the root key
// it made (OpBootstrapVerify): Bootstrap encrypts a random text under the
// root key (AES-256-GCM, no associated data) and Nexus answers with the
// text's SHA-256.
type BootstrapVerifyRequest struct {
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// BootstrapVerifyResponse answers OpBootstrapVerify with the hex SHA-256
// of the decrypted text.
type BootstrapVerifyResponse struct {
	Hash string    `json:"hash"`
	Err  ErrorCode `json:"err,omitempty"`
}

// Op returns OpBootstrapVerify.
func (BootstrapVerifyRequest) Op() Op { return OpBootstrapVerify }

// Validate checks the nonce's size and the ciphertext's size.
func (r BootstrapVerifyRequest) Validate() error {
	if err := ValidateNonce(r.Nonce); err != nil {
		return err
	}
	return ValidateCiphertext(r.Ciphertext)
}
