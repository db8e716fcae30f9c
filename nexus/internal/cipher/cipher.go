// Package cipher is Nexus's cipher service (encryption as a service),
// wire-compatible with SPIKE v0.8's /v1/cipher/encrypt and
// /v1/cipher/decrypt.
//
// # Format
//
// The format is SPIKE's "v1" envelope, kept bit for bit so that a
// ciphertext made by a SPIKE deployment decrypts here under the same root
// key, and the reverse:
//
//	version (1 byte, 0x01) ‖ nonce (12 random bytes) ‖ AES-256-GCM ciphertext ‖ tag (16 bytes)
//
// AES-256-GCM is keyed directly with the 32-byte root key, and there is no
// associated data. Both are SPIKE's choices, not ours (reference §14.4 #6:
// a ciphertext is bound to nothing but the key); they are kept only for
// compatibility. Random 96-bit nonces bound the number of encryptions
// under one key to about 2^32 before nonce collisions become a concern,
// as for any AES-GCM deployment with random nonces.
//
// # Limits
//
// A ciphertext (with its tag) may be at most MaxCiphertextSize
// bytes: SPIKE_NEXUS_CRYPTO_MAX_CIPHERTEXT_SIZE, 65536 by default. A
// plaintext may be at most MaxPlaintextSize bytes, the ciphertext
// limit less the 16-byte tag, so every plaintext accepted for encryption
// gives a ciphertext that is accepted for decryption. SPIKE v0.8 checks
// plaintexts against the ciphertext limit (reference §14.4 #10), so it
// accepts a plaintext of 65521 to 65536 bytes and returns a ciphertext it
// then refuses to decrypt; here such a plaintext is refused with 400
// api_bad_request, the answer SPIKE gives to any oversized plaintext (and
// the limit SPIKE's SDK defines, env.CryptoMaxPlaintextSizeVal). This is
// the one place a v0.8 client can see a difference.
//
// # Answers
//
// JSON and Stream answer as SPIKE v0.8's handlers do once the
// caller is authorised and the cipher exists (401 is the caller's job, as
// is 503 before the root key is back):
//
//	op       mode    outcome                              status  body
//	encrypt  JSON    ok                                   200     {"version":1,"nonce":b64,"ciphertext":b64}
//	encrypt  JSON    empty/malformed body, big plaintext  400     {"version":0,"nonce":null,"ciphertext":null,"err":"api_bad_request"}
//	encrypt  JSON    no usable key, nonce failure         500     {"version":0,"nonce":null,"ciphertext":null,"err":"api_internal_error"}
//	encrypt  stream  ok                                   200     octet-stream: the envelope
//	encrypt  stream  big plaintext                        400     JSON as above (SPIKE's guard answers in JSON)
//	encrypt  stream  no usable key                        500     text: crypto_cipher_not_available
//	encrypt  stream  nonce failure                        500     text: crypto_nonce_generation_failed
//	decrypt  JSON    ok                                   200     {"plaintext":b64}
//	decrypt  JSON    empty/malformed body, version ≠ 1,   400     {"plaintext":null,"err":"api_bad_request"}
//	                 nonce ≠ 12 bytes, big ciphertext
//	decrypt  JSON    no usable key                        500     {"plaintext":null,"err":"api_internal_error"}
//	decrypt  JSON    authentication fails                 500     {"plaintext":null,"err":"api_internal_error"} (sic, as SPIKE)
//	decrypt  stream  ok                                   200     octet-stream: the plaintext
//	decrypt  stream  no usable key                        500     text: crypto_cipher_not_available
//	decrypt  stream  empty body                           400     text: crypto_failed_to_read_version
//	decrypt  stream  version ≠ 1                          400     text: crypto_unsupported_version
//	decrypt  stream  shorter than version and nonce       400     text: crypto_failed_to_read_nonce
//	decrypt  stream  big ciphertext                       400     JSON {"plaintext":null,"err":"api_bad_request"} (SPIKE's guard)
//	decrypt  stream  authentication fails                 400     text: decryption failed
//
// Text bodies are written as net/http's http.Error writes them: the code
// and a newline, with Content-Type api.ContentTypeText. The checks run in
// SPIKE's order, so an input with several faults gets SPIKE's answer.
//
// Nothing here logs, and no answer quotes a plaintext (or any other part
// of a request).
package cipher

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"

	"github.com/spikeledger/spike/api"
)

// EnvMaxCiphertextSize names the environment variable that sets the
// largest ciphertext the cipher service accepts, as in SPIKE. A value that
// is not a positive integer means the default, api.MaxCipherPayload;
// values above MaxCiphertextSizeCap are lowered to it. It is read
// once, on first use.
//
// The transport bounds the route bodies too: the routes need room for a
// stream-mode decrypt body of 1+api.NonceSize+MaxCiphertextSize()
// bytes and an encrypt body of MaxPlaintextSize() bytes, which
// api.CipherStreamDecryptLimit and api.CipherStreamEncryptLimit give for
// the default.
const EnvMaxCiphertextSize = "SPIKE_NEXUS_CRYPTO_MAX_CIPHERTEXT_SIZE"

// MaxCiphertextSizeCap bounds EnvMaxCiphertextSize (1 GiB).
const MaxCiphertextSizeCap = 1 << 30

// cipherKeySize is the root key's size: the v1 envelope is AES-256.
const cipherKeySize = 32

// Errors of Encrypt and Decrypt. A bad version, nonce or size
// is reported as an *api.FieldError (wrapping api.ErrInvalid), as api's
// validators report them.
var (
	// ErrCipherKey: the key is not a 32-byte AES-256 key. It wraps
	// api.CodeCipherNotAvailable.
	ErrCipherKey = fmt.Errorf("nexus: cipher: the key is not a %d-byte AES-256 key: %w", cipherKeySize, api.CodeCipherNotAvailable)
	// ErrCipherAuth: the ciphertext does not open under the key (wrong
	// key, or the version, nonce, ciphertext or tag was altered). It
	// wraps api.CodeDecryptionFailed.
	ErrCipherAuth = fmt.Errorf("nexus: cipher: message authentication failed: %w", api.CodeDecryptionFailed)
	// ErrCipherNonce: no random nonce could be read. It wraps
	// api.CodeNonceGenerationFailed.
	ErrCipherNonce = fmt.Errorf("nexus: cipher: %w", api.CodeNonceGenerationFailed)
)

// MaxCiphertextSize returns the largest ciphertext (with its tag),
// in bytes, the cipher service decrypts: EnvMaxCiphertextSize, or
// api.MaxCipherPayload (65536).
func MaxCiphertextSize() int { return cipherMaxCiphertextFromEnv() }

// MaxPlaintextSize returns the largest plaintext, in bytes, the
// cipher service encrypts: MaxCiphertextSize less the tag (65520 by
// default), never negative.
func MaxPlaintextSize() int { return cipherDefault().maxPlaintext() }

var cipherMaxCiphertextFromEnv = sync.OnceValue(func() int {
	return parseCipherMaxCiphertextSize(os.Getenv(EnvMaxCiphertextSize))
})

// parseCipherMaxCiphertextSize reads EnvMaxCiphertextSize's value as
// SPIKE does (a positive decimal integer, else the default), capped.
func parseCipherMaxCiphertextSize(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return api.MaxCipherPayload
	}
	return min(n, MaxCiphertextSizeCap)
}

// Encrypt seals plaintext in SPIKE's v1 format: AES-256-GCM under
// key (the 32-byte root key) with a fresh random 12-byte nonce and no
// associated data (SPIKE's format, kept for compatibility). It returns
// version 1, the nonce and the ciphertext with its tag; nonce and
// ciphertext share one backing array.
//
// A plaintext longer than MaxPlaintextSize is refused with an
// *api.FieldError; a key of the wrong size with ErrCipherKey.
func Encrypt(key []byte, plaintext []byte) (version byte, nonce, ciphertext []byte, err error) {
	return cipherDefault().encrypt(key, plaintext)
}

// Decrypt opens a v1 ciphertext made by Encrypt or by SPIKE
// under the same key. It refuses a version other than 1, a nonce that is
// not 12 bytes and a ciphertext longer than MaxCiphertextSize
// (each with an *api.FieldError), a key of the wrong size (ErrCipherKey),
// and a ciphertext that does not authenticate (ErrCipherAuth).
func Decrypt(key []byte, version byte, nonce, ciphertext []byte) ([]byte, error) {
	return cipherDefault().decrypt(key, version, nonce, ciphertext)
}

// JSON answers a JSON-mode cipher request (op api.OpCipherEncrypt or
// api.OpCipherDecrypt; any other op gets 400 api_bad_request). body is the
// request body; resp is an api.CipherEncryptResponse or
// api.CipherDecryptResponse to send as JSON with the status. The caller
// has authorised the request; key is the root key.
func JSON(key []byte, op api.Op, body []byte) (status int, resp any) {
	return cipherDefault().json(key, op, body)
}

// Stream answers a stream-mode cipher request (Content-Type exactly
// api.ContentTypeStream). body is the raw request body: the plaintext to
// encrypt, or the envelope to decrypt. out is the response body to send
// as is with contentType and status: the envelope or the plaintext
// (api.ContentTypeStream) on success, otherwise a plain-text error code
// (api.ContentTypeText) or a JSON error body (api.ContentTypeJSON) exactly
// where SPIKE sends each. The caller has authorised the request; key is
// the root key.
func Stream(key []byte, op api.Op, body []byte) (status int, contentType string, out []byte) {
	return cipherDefault().stream(key, op, body)
}

// cipherService holds what the handlers depend on besides the key, so
// tests can set the limit and the source of nonces.
type cipherService struct {
	maxCiphertext int
	rand          io.Reader
}

func cipherDefault() cipherService {
	return cipherService{maxCiphertext: cipherMaxCiphertextFromEnv(), rand: rand.Reader}
}

func (s cipherService) maxPlaintext() int { return max(s.maxCiphertext-api.TagSize, 0) }

// jsonLimit bounds a JSON-mode body: enough for the largest ciphertext in
// base64 with the other fields, and never below api.CipherBodyLimit.
func (s cipherService) jsonLimit() int64 {
	return max(int64(api.CipherBodyLimit), int64(s.maxCiphertext)/3*4+4096)
}

func cipherAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != cipherKeySize {
		return nil, ErrCipherKey
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, ErrCipherKey
	}
	gcm, err := cipher.NewGCM(block) // 12-byte nonce, 16-byte tag
	if err != nil {
		return nil, ErrCipherKey
	}
	return gcm, nil
}

func (s cipherService) checkPlaintext(p []byte) error {
	if len(p) > s.maxPlaintext() {
		return &api.FieldError{Field: "plaintext", Reason: fmt.Sprintf("%d bytes, more than %d", len(p), s.maxPlaintext())}
	}
	return nil
}

func (s cipherService) checkCiphertext(c []byte) error {
	if len(c) > s.maxCiphertext {
		return &api.FieldError{Field: "ciphertext", Reason: fmt.Sprintf("%d bytes, more than %d", len(c), s.maxCiphertext)}
	}
	return nil
}

// checkDecrypt runs SPIKE's decrypt guard: version, nonce size,
// ciphertext size, in that order.
func (s cipherService) checkDecrypt(version byte, nonce, ciphertext []byte) error {
	if err := api.ValidateCipherVersion(version); err != nil {
		return err
	}
	if err := api.ValidateNonce(nonce); err != nil {
		return err
	}
	return s.checkCiphertext(ciphertext)
}

// seal appends the envelope of plaintext (version ‖ nonce ‖ ciphertext ‖
// tag) to dst.
func (s cipherService) seal(aead cipher.AEAD, dst, plaintext []byte) ([]byte, error) {
	head := len(dst)
	dst = append(dst, api.CipherVersion)
	dst = append(dst, make([]byte, api.NonceSize)...)
	nonce := dst[head+1 : head+1+api.NonceSize]
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return nil, ErrCipherNonce
	}
	return aead.Seal(dst, nonce, plaintext, nil), nil
}

// envelopeBuffer returns an empty buffer with room for the envelope of
// an n-byte plaintext.
func envelopeBuffer(n int) []byte { return make([]byte, 0, 1+api.NonceSize+n+api.TagSize) }

func (s cipherService) encrypt(key, plaintext []byte) (byte, []byte, []byte, error) {
	if err := s.checkPlaintext(plaintext); err != nil {
		return 0, nil, nil, err
	}
	aead, err := cipherAEAD(key)
	if err != nil {
		return 0, nil, nil, err
	}
	env, err := s.seal(aead, envelopeBuffer(len(plaintext)), plaintext)
	if err != nil {
		return 0, nil, nil, err
	}
	return env[0], env[1 : 1+api.NonceSize : 1+api.NonceSize], env[1+api.NonceSize:], nil
}

func (s cipherService) decrypt(key []byte, version byte, nonce, ciphertext []byte) ([]byte, error) {
	if err := s.checkDecrypt(version, nonce, ciphertext); err != nil {
		return nil, err
	}
	aead, err := cipherAEAD(key)
	if err != nil {
		return nil, err
	}
	return cipherOpen(aead, nonce, ciphertext)
}

func cipherOpen(aead cipher.AEAD, nonce, ciphertext []byte) ([]byte, error) {
	plain, err := aead.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, ErrCipherAuth
	}
	return plain, nil
}

func (s cipherService) json(key []byte, op api.Op, body []byte) (int, any) {
	switch op {
	case api.OpCipherEncrypt:
		return s.jsonEncrypt(key, body)
	case api.OpCipherDecrypt:
		return s.jsonDecrypt(key, body)
	}
	return http.StatusBadRequest, api.NewErrorResponse(api.CodeBadRequest)
}

func (s cipherService) jsonEncrypt(key, body []byte) (int, any) {
	bad := func(status int, code api.ErrorCode) (int, any) {
		return status, api.CipherEncryptResponse{Err: code}
	}
	req, err := api.Decode[api.CipherEncryptRequest](bytes.NewReader(body), s.jsonLimit())
	if err != nil {
		return bad(http.StatusBadRequest, api.CodeBadRequest)
	}
	defer clear(req.Plaintext) // a decoded copy; the body is the caller's
	if err := s.checkPlaintext(req.Plaintext); err != nil {
		return bad(http.StatusBadRequest, api.CodeBadRequest)
	}
	aead, err := cipherAEAD(key)
	if err != nil {
		return bad(http.StatusInternalServerError, api.CodeInternal)
	}
	env, err := s.seal(aead, envelopeBuffer(len(req.Plaintext)), req.Plaintext)
	if err != nil {
		return bad(http.StatusInternalServerError, api.CodeInternal)
	}
	return http.StatusOK, api.CipherEncryptResponse{
		Version:    env[0],
		Nonce:      env[1 : 1+api.NonceSize : 1+api.NonceSize],
		Ciphertext: env[1+api.NonceSize:],
	}
}

func (s cipherService) jsonDecrypt(key, body []byte) (int, any) {
	bad := func(status int, code api.ErrorCode) (int, any) {
		return status, api.CipherDecryptResponse{Err: code}
	}
	req, err := api.Decode[api.CipherDecryptRequest](bytes.NewReader(body), s.jsonLimit())
	if err != nil {
		return bad(http.StatusBadRequest, api.CodeBadRequest)
	}
	if err := s.checkDecrypt(req.Version, req.Nonce, req.Ciphertext); err != nil {
		return bad(http.StatusBadRequest, api.CodeBadRequest)
	}
	aead, err := cipherAEAD(key)
	if err != nil {
		return bad(http.StatusInternalServerError, api.CodeInternal)
	}
	plain, err := cipherOpen(aead, req.Nonce, req.Ciphertext)
	if err != nil {
		// SPIKE answers a failed authentication in JSON mode with 500
		// api_internal_error (and 400 in stream mode); kept for v0.8.
		return bad(http.StatusInternalServerError, api.CodeInternal)
	}
	return http.StatusOK, api.CipherDecryptResponse{Plaintext: plain}
}

func (s cipherService) stream(key []byte, op api.Op, body []byte) (int, string, []byte) {
	switch op {
	case api.OpCipherEncrypt:
		return s.streamEncrypt(key, body)
	case api.OpCipherDecrypt:
		return s.streamDecrypt(key, body)
	}
	return cipherJSONError(http.StatusBadRequest, api.NewErrorResponse(api.CodeBadRequest))
}

func (s cipherService) streamEncrypt(key, plaintext []byte) (int, string, []byte) {
	// SPIKE: guard (size; JSON answer), then the cipher, then the nonce.
	if err := s.checkPlaintext(plaintext); err != nil {
		return cipherJSONError(http.StatusBadRequest, api.CipherEncryptResponse{Err: api.CodeBadRequest})
	}
	aead, err := cipherAEAD(key)
	if err != nil {
		return cipherTextError(http.StatusInternalServerError, api.CodeCipherNotAvailable)
	}
	env, err := s.seal(aead, envelopeBuffer(len(plaintext)), plaintext)
	if err != nil {
		return cipherTextError(http.StatusInternalServerError, api.CodeNonceGenerationFailed)
	}
	return http.StatusOK, api.ContentTypeStream, env
}

func (s cipherService) streamDecrypt(key, body []byte) (int, string, []byte) {
	// SPIKE: the cipher, then reading the envelope (text answers), then
	// the guard (size; JSON answer), then opening (text answer).
	aead, err := cipherAEAD(key)
	if err != nil {
		return cipherTextError(http.StatusInternalServerError, api.CodeCipherNotAvailable)
	}
	// api.ParseCipherEnvelope reads the header; the size is checked
	// against this service's limit, which the environment may change.
	if _, err := api.ParseCipherEnvelope(body[:min(len(body), 1+api.NonceSize)]); err != nil {
		return cipherTextError(http.StatusBadRequest, api.CodeOf(err))
	}
	nonce, ciphertext := body[1:1+api.NonceSize], body[1+api.NonceSize:]
	if err := s.checkCiphertext(ciphertext); err != nil {
		return cipherJSONError(http.StatusBadRequest, api.CipherDecryptResponse{Err: api.CodeBadRequest})
	}
	plain, err := cipherOpen(aead, nonce, ciphertext)
	if err != nil {
		return cipherTextError(http.StatusBadRequest, api.CodeDecryptionFailed)
	}
	if plain == nil {
		plain = []byte{}
	}
	return http.StatusOK, api.ContentTypeStream, plain
}

// cipherTextError is a stream-mode error as SPIKE sends it with
// http.Error: the code and a newline, as plain text.
func cipherTextError(status int, code api.ErrorCode) (int, string, []byte) {
	return status, api.ContentTypeText, []byte(string(code) + "\n")
}

// cipherJSONError is a stream-mode error SPIKE answers in JSON.
func cipherJSONError(status int, body any) (int, string, []byte) {
	b, err := json.Marshal(body)
	if err != nil { // cannot happen for api's response types
		return cipherTextError(http.StatusInternalServerError, api.CodeInternal)
	}
	return status, api.ContentTypeJSON, b
}
