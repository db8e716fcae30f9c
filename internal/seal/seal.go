package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// KeySize is the size in bytes of every symmetric key: AES-256.
const KeySize = 32

// Overhead is how many bytes Seal adds to a plaintext: a 96-bit random
// nonce in front and a 128-bit authentication tag behind.
const Overhead = 12 + 16

// ErrOpen is returned when a ciphertext does not authenticate: the key is
// wrong, the associated data differs, or the bytes were altered. The three
// cases are indistinguishable by design.
var ErrOpen = errors.New("seal: message authentication failed")

// AEAD seals and opens messages under one AES-256-GCM key. Each Seal draws
// a fresh random nonce, so a key must not seal more than 2^32 messages;
// callers that may exceed that rotate keys (the event log does).
type AEAD struct {
	aead cipher.AEAD
}

// New returns an AEAD for a 32-byte key. The key is not retained by the
// returned value beyond the expanded AES schedule, so the caller may zero
// its copy afterwards.
func New(key []byte) (*AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &AEAD{aead: aead}, nil
}

// Seal encrypts and authenticates plaintext and authenticates aad, and
// appends nonce‖ciphertext‖tag to dst, returning the extended slice.
func (a *AEAD) Seal(dst, plaintext, aad []byte) []byte {
	return a.aead.Seal(dst, nil, plaintext, aad)
}

// Open authenticates and decrypts a message produced by Seal with the same
// aad, appending the plaintext to dst. It returns ErrOpen on any mismatch.
func (a *AEAD) Open(dst, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, ErrOpen
	}
	out, err := a.aead.Open(dst, nil, sealed, aad)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

// Seal is the one-shot form of AEAD.Seal for keys used once or rarely.
func Seal(key, plaintext, aad []byte) ([]byte, error) {
	a, err := New(key)
	if err != nil {
		return nil, err
	}
	return a.Seal(nil, plaintext, aad), nil
}

// Open is the one-shot form of AEAD.Open.
func Open(key, sealed, aad []byte) ([]byte, error) {
	a, err := New(key)
	if err != nil {
		return nil, err
	}
	return a.Open(nil, sealed, aad)
}

// NewKey returns a fresh random 32-byte key.
func NewKey() []byte {
	k := make([]byte, KeySize)
	// crypto/rand.Read never returns an error on supported platforms and
	// crashes the program irrecoverably if the kernel fails it.
	rand.Read(k)
	return k
}
