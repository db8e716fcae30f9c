// Package seal holds the symmetric cryptography every other package uses:
// AES-256-GCM with random nonces and associated data, HKDF-SHA256 key
// derivation under explicit labels, and helpers that zero key material.
//
// It wraps the standard library rather than reimplementing anything: the
// value it adds is a small, hard-to-misuse surface (fixed key size, labels
// that cannot be confused, ciphertexts that carry their own nonce).
package seal
