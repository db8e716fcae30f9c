package api

import "fmt"

// The cipher service's envelope: AES-256-GCM under the root key itself (as
// SPIKE v0.8 does), a random 12-byte nonce, a 16-byte tag, no associated data.
const (
	CipherVersion byte = 1
	NonceSize          = 12
	TagSize            = 16
)

// CipherEncryptRequest asks Nexus to encrypt Plaintext (OpCipherEncrypt,
// JSON mode). Algorithm is accepted and ignored, as in SPIKE.
//
// In stream mode (Content-Type exactly ContentTypeStream) the body is the
// raw plaintext and the 200 response is the envelope's bytes; see
// [CipherEnvelope].
type CipherEncryptRequest struct {
	Plaintext []byte `json:"plaintext"`
	Algorithm string `json:"algorithm,omitempty"`
}

// CipherEncryptResponse answers OpCipherEncrypt in JSON mode.
type CipherEncryptResponse struct {
	Version    byte      `json:"version"`
	Nonce      []byte    `json:"nonce"`
	Ciphertext []byte    `json:"ciphertext"`
	Err        ErrorCode `json:"err,omitempty"`
}

// CipherDecryptRequest asks Nexus to decrypt (OpCipherDecrypt, JSON
// mode). In stream mode the body is the envelope's bytes and the 200
// response is the raw plaintext.
type CipherDecryptRequest struct {
	Version    byte   `json:"version"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
	Algorithm  string `json:"algorithm,omitempty"`
}

// CipherDecryptResponse answers OpCipherDecrypt in JSON mode. A
// ciphertext that fails authentication is answered 500 with
// CodeInternal, as in SPIKE.
type CipherDecryptResponse struct {
	Plaintext []byte    `json:"plaintext"`
	Err       ErrorCode `json:"err,omitempty"`
}

// Op returns OpCipherEncrypt.
func (CipherEncryptRequest) Op() Op { return OpCipherEncrypt }

// Validate checks the plaintext's size.
func (r CipherEncryptRequest) Validate() error { return ValidatePlaintext(r.Plaintext) }

// Op returns OpCipherDecrypt.
func (CipherDecryptRequest) Op() Op { return OpCipherDecrypt }

// Validate checks the version, the nonce's size and the ciphertext's
// size.
func (r CipherDecryptRequest) Validate() error {
	if err := ValidateCipherVersion(r.Version); err != nil {
		return err
	}
	if err := ValidateNonce(r.Nonce); err != nil {
		return err
	}
	return ValidateCiphertext(r.Ciphertext)
}

// CipherEnvelope is the stream-mode form of a ciphertext:
// version (1 byte) ‖ nonce (12 bytes) ‖ ciphertext with tag.
type CipherEnvelope struct {
	Version    byte
	Nonce      []byte
	Ciphertext []byte
}

// ParseCipherEnvelope splits a stream-mode decrypt body. Nonce and
// Ciphertext alias b. The errors wrap the code SPIKE answers with (as
// text, status 400): CodeFailedToReadVersion for an empty body,
// CodeUnsupportedVersion for a version other than 1,
// CodeFailedToReadNonce for a body shorter than version and nonce, and
// ErrInvalid for a ciphertext larger than MaxCipherPayload.
func ParseCipherEnvelope(b []byte) (CipherEnvelope, error) {
	if len(b) < 1 {
		return CipherEnvelope{}, fmt.Errorf("api: cipher envelope: %w", CodeFailedToReadVersion)
	}
	if b[0] != CipherVersion {
		return CipherEnvelope{}, fmt.Errorf("api: cipher envelope: %w", CodeUnsupportedVersion)
	}
	if len(b) < 1+NonceSize {
		return CipherEnvelope{}, fmt.Errorf("api: cipher envelope: %w", CodeFailedToReadNonce)
	}
	e := CipherEnvelope{Version: b[0], Nonce: b[1 : 1+NonceSize], Ciphertext: b[1+NonceSize:]}
	if err := ValidateCiphertext(e.Ciphertext); err != nil {
		return CipherEnvelope{}, err
	}
	return e, nil
}

// Append appends the envelope's stream-mode bytes to dst.
func (e CipherEnvelope) Append(dst []byte) []byte {
	dst = append(dst, e.Version)
	dst = append(dst, e.Nonce...)
	return append(dst, e.Ciphertext...)
}
