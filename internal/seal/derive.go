package seal

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"strings"
)

// Label names the purpose of a derived key. Labels are compared as exact
// byte strings by HKDF, so two purposes never share a key by accident;
// they must be non-empty and are conventionally "spike/<package>/<use>/vN".
type Label string

// Derive returns a KeySize-byte key derived with HKDF-SHA256 from secret,
// bound to salt (for example a log's identity) and label.
func Derive(secret, salt []byte, label Label) ([]byte, error) {
	return DeriveN(secret, salt, label, KeySize)
}

// DeriveN is Derive for an output of n bytes.
func DeriveN(secret, salt []byte, label Label, n int) ([]byte, error) {
	if len(secret) == 0 {
		return nil, fmt.Errorf("seal: derive %q: empty secret", label)
	}
	if strings.TrimSpace(string(label)) == "" {
		return nil, fmt.Errorf("seal: derive: empty label")
	}
	k, err := hkdf.Key(sha256.New, secret, salt, string(label), n)
	if err != nil {
		return nil, fmt.Errorf("seal: derive %q: %w", label, err)
	}
	return k, nil
}
