package sdk

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
)

// Stream-mode answers: raw bytes on success, a text code or a JSON body
// on failure.
func TestStreamAnswers(t *testing.T) {
	t.Parallel()
	envelope := append([]byte{api.CipherVersion}, make([]byte, api.NonceSize+api.TagSize+3)...)
	tests := []struct {
		name     string
		resp     transport.Response
		want     []byte
		wantErr  error
		wantCode api.ErrorCode
	}{
		{name: "ok", resp: transport.Response{Body: []byte("plain"), ContentType: api.ContentTypeStream}, want: []byte("plain")},
		{name: "text code", resp: transport.Response{Status: 400, Body: []byte("decryption failed\n"), ContentType: api.ContentTypeText},
			wantErr: ErrBadRequest, wantCode: api.CodeDecryptionFailed},
		{name: "JSON code", resp: transport.Response{Status: 401, Body: api.NewErrorResponse(api.CodeUnauthorized)},
			wantErr: ErrUnauthorized, wantCode: api.CodeUnauthorized},
		{name: "text that is no code", resp: transport.Response{Status: 500, Body: []byte(strings.Repeat("x", 100)), ContentType: api.ContentTypeText},
			wantCode: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			types := make(chan string, 1)
			f := startFake(t, identity.PathNexus, func(_ context.Context, r *transport.Request) transport.Response {
				types <- r.ContentType
				return tt.resp
			})
			got, err := f.client(t, 0).DecryptStream(t.Context(), bytes.NewReader(envelope))
			if gotType := <-types; gotType != api.ContentTypeStream {
				t.Errorf("Content-Type %q, want stream mode", gotType)
			}
			if tt.resp.Status == 0 {
				if err != nil || !bytes.Equal(got, tt.want) {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != tt.resp.Status || e.Code != tt.wantCode || e.Op != api.OpCipherDecrypt {
				t.Fatalf("got %#v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("got %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestStreamErrorCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ct   string
		body string
		want api.ErrorCode
	}{
		{api.ContentTypeText, "crypto_unsupported_version\n", api.CodeUnsupportedVersion},
		{"text/plain", "data_read_failure", api.CodeDataReadFailure},
		{api.ContentTypeJSON, `{"plaintext":null,"err":"api_bad_request"}`, api.CodeBadRequest},
		{api.ContentTypeJSON, `not json`, ""},
		{api.ContentTypeText, "line one\nline two", ""},
	}
	for _, tt := range tests {
		if got := streamErrorCode(tt.ct, []byte(tt.body)); got != tt.want {
			t.Errorf("streamErrorCode(%q, %q) = %q, want %q", tt.ct, tt.body, got, tt.want)
		}
	}
}

// The JSON-mode encrypt answer becomes an envelope whose Append gives the
// stream form.
func TestEncryptEnvelope(t *testing.T) {
	t.Parallel()
	nonce := bytes.Repeat([]byte{7}, api.NonceSize)
	f := startFake(t, identity.PathNexus, answer(http.StatusOK, api.CipherEncryptResponse{Version: 1, Nonce: nonce, Ciphertext: []byte("ct")}))
	env, err := f.client(t, time.Minute).Encrypt(t.Context(), []byte("pt"))
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{1}, nonce...), "ct"...)
	if got := env.Append(nil); !bytes.Equal(got, want) {
		t.Errorf("envelope %x, want %x", got, want)
	}
}
