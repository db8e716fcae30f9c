package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/transport"
)

// The cipher service encrypts and decrypts under Nexus's root key
// (AES-256-GCM, SPIKE v0.8's format), so a workload can protect data
// without holding a key. The caller needs execute on
// spike/system/cipher/exec.

// Encrypt encrypts plaintext (at most 65,520 bytes) and returns the
// envelope: version, nonce and ciphertext with its tag. Its Append method
// gives the bytes EncryptStream would have returned.
func (c *Client) Encrypt(ctx context.Context, plaintext []byte) (api.CipherEnvelope, error) {
	var resp api.CipherEncryptResponse
	if err := c.call(ctx, "", api.CipherEncryptRequest{Plaintext: plaintext}, &resp); err != nil {
		return api.CipherEnvelope{}, err
	}
	return api.CipherEnvelope{Version: resp.Version, Nonce: resp.Nonce, Ciphertext: resp.Ciphertext}, nil
}

// Decrypt decrypts an envelope made by Encrypt or EncryptStream (split
// one with api.ParseCipherEnvelope). A ciphertext that does not
// authenticate fails with status 500 (SPIKE v0.8's answer in this mode).
func (c *Client) Decrypt(ctx context.Context, env api.CipherEnvelope) ([]byte, error) {
	var resp api.CipherDecryptResponse
	req := api.CipherDecryptRequest{Version: env.Version, Nonce: env.Nonce, Ciphertext: env.Ciphertext}
	if err := c.call(ctx, "", req, &resp); err != nil {
		return nil, err
	}
	if resp.Plaintext == nil {
		resp.Plaintext = []byte{}
	}
	return resp.Plaintext, nil
}

// EncryptStream encrypts what r holds (at most 65,520 bytes) in stream
// mode and returns the envelope's bytes: version ‖ nonce ‖ ciphertext.
func (c *Client) EncryptStream(ctx context.Context, r io.Reader) ([]byte, error) {
	op := api.OpCipherEncrypt
	body, err := readAtMost(r, api.CipherStreamEncryptLimit)
	defer clear(body)
	if err != nil {
		return nil, invalidError(op, "", fmt.Errorf("plaintext: %w", err))
	}
	return c.postStream(ctx, op, body)
}

// DecryptStream decrypts an envelope's bytes (version ‖ nonce ‖
// ciphertext) read from r in stream mode. A ciphertext that does not
// authenticate fails with ErrBadRequest and code
// api.CodeDecryptionFailed.
func (c *Client) DecryptStream(ctx context.Context, r io.Reader) ([]byte, error) {
	op := api.OpCipherDecrypt
	body, err := readAtMost(r, api.CipherStreamDecryptLimit)
	if err != nil {
		return nil, invalidError(op, "", fmt.Errorf("envelope: %w", err))
	}
	if _, err := api.ParseCipherEnvelope(body); err != nil {
		return nil, invalidError(op, "", err)
	}
	return c.postStream(ctx, op, body)
}

// readAtMost reads all of r, failing past limit bytes.
func readAtMost(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return b, err
	}
	if int64(len(b)) > limit {
		return b, fmt.Errorf("%w: more than %d bytes", api.ErrTooLarge, limit)
	}
	return b, nil
}

// postStream sends a stream-mode cipher request, retrying as every call
// does, and returns the raw answer.
func (c *Client) postStream(ctx context.Context, op api.Op, body []byte) ([]byte, error) {
	u, err := url.JoinPath(c.nexus, op.Path())
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	var out []byte
	attempt := func(ctx context.Context) (err error) {
		out, err = c.streamOnce(ctx, u, body)
		return err
	}
	if err := c.retry(ctx, op, attempt); err != nil {
		return nil, callError(op, "", err)
	}
	return out, nil
}

// maxStreamAnswer bounds a stream-mode answer: an envelope, a plaintext
// or an error, all smaller than this.
const maxStreamAnswer = api.CipherStreamDecryptLimit + 1024

func (c *Client) streamOnce(ctx context.Context, u string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, api.Method, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("sdk: %w", err)
	}
	req.Header.Set("Content-Type", api.ContentTypeStream)
	resp, err := c.stream.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sdk: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxStreamAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("sdk: read answer: %w", err)
	}
	if len(data) > maxStreamAnswer {
		return nil, fmt.Errorf("sdk: %w: more than %d bytes", ErrBadAnswer, maxStreamAnswer)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &transport.StatusError{Status: resp.StatusCode, Code: streamErrorCode(resp.Header.Get("Content-Type"), data)}
	}
	return data, nil
}

// streamErrorCode reads the code of a failed stream-mode call: plain text
// for the cipher's own errors, JSON for the rest.
func streamErrorCode(contentType string, body []byte) api.ErrorCode {
	if strings.HasPrefix(contentType, "text/plain") {
		code := strings.TrimSpace(string(body))
		if len(code) > 64 || strings.ContainsFunc(code, func(r rune) bool { return r < ' ' || r > '~' }) {
			return "" // not one of the cipher's codes: keep it out of messages
		}
		return api.ErrorCode(code)
	}
	var e api.ErrorResponse
	if json.Unmarshal(body, &e) == nil {
		return e.Err
	}
	return ""
}
