package api

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// padTo returns body padded with trailing spaces to exactly n bytes.
func padTo(body string, n int) string {
	return body + strings.Repeat(" ", n-len(body))
}

func TestDecodeLimit(t *testing.T) {
	t.Parallel()
	const body = `{"path":"a","values":{"k":"v"}}`
	cases := []struct {
		name    string
		in      string
		limit   int64
		wantErr error
	}{
		{"well under", body, 1024, nil},
		{"exactly the limit", body, int64(len(body)), nil},
		{"one byte over", body, int64(len(body)) - 1, ErrTooLarge},
		{"padded to the limit", padTo(body, 100), 100, nil},
		{"padded one over", padTo(body, 101), 100, ErrTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeRequest[SecretPutRequest](strings.NewReader(tc.in), tc.limit)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil && errors.Is(err, ErrMalformed) {
				t.Errorf("too large must not also be malformed: %v", err)
			}
		})
	}
}

// TestDecodeDefaultLimit checks a non-positive limit means the op's own.
func TestDecodeDefaultLimit(t *testing.T) {
	t.Parallel()
	limit := OpPolicyGet.BodyLimit()
	at := padTo(`{"id":"p"}`, int(limit))
	if _, err := DecodeRequest[PolicyGetRequest](strings.NewReader(at), 0); err != nil {
		t.Errorf("at the op's limit: %v", err)
	}
	if _, err := DecodeRequest[PolicyGetRequest](strings.NewReader(at+" "), -1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the op's limit: %v", err)
	}
	big := `{"path":"a","values":{"k":"` + strings.Repeat("x", 2<<20) + `"}}`
	if _, err := DecodeRequest[SecretPutRequest](strings.NewReader(big), 0); err != nil {
		t.Errorf("a 2 MiB secret is within the secret limit: %v", err)
	}
	if _, err := Decode[struct{}](strings.NewReader(padTo("{}", DefaultBodyLimit+1)), 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Decode's default limit: %v", err)
	}
}

func TestDecodeShape(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		in      string
		wantErr error
		want    SecretGetRequest
	}{
		{"plain", `{"path":"a","version":2}`, nil, SecretGetRequest{Path: "a", Version: 2}},
		{"white space around", " \n\t{\"path\":\"a\"}\r\n ", nil, SecretGetRequest{Path: "a"}},
		{"unknown fields accepted", `{"path":"a","future":{"x":[1,2]},"err":""}`, nil, SecretGetRequest{Path: "a"}},
		{"keys case-insensitive", `{"PATH":"a","Version":1}`, nil, SecretGetRequest{Path: "a", Version: 1}},
		{"duplicate key, last wins", `{"path":"b","path":"a"}`, nil, SecretGetRequest{Path: "a"}},
		{"empty", ``, ErrMalformed, SecretGetRequest{}},
		{"only space", "  \n", ErrMalformed, SecretGetRequest{}},
		{"trailing object", `{"path":"a"}{}`, ErrMalformed, SecretGetRequest{}},
		{"trailing garbage", `{"path":"a"}x`, ErrMalformed, SecretGetRequest{}},
		{"trailing brace", `{"path":"a"}}`, ErrMalformed, SecretGetRequest{}},
		{"trailing NUL", "{\"path\":\"a\"}\x00", ErrMalformed, SecretGetRequest{}},
		{"truncated", `{"path":"a"`, ErrMalformed, SecretGetRequest{}},
		{"syntax", `{"path":a}`, ErrMalformed, SecretGetRequest{}},
		{"array", `[]`, ErrMalformed, SecretGetRequest{}},
		{"string", `"a"`, ErrMalformed, SecretGetRequest{}},
		{"version as string", `{"path":"a","version":"1"}`, ErrMalformed, SecretGetRequest{}},
		{"version as float", `{"path":"a","version":1.5}`, ErrMalformed, SecretGetRequest{}},
		{"null body is the zero request", `null`, ErrInvalid, SecretGetRequest{}},
		{"invalid path", `{"path":"a b"}`, ErrInvalid, SecretGetRequest{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeRequest[SecretGetRequest](strings.NewReader(tc.in), 1024)
			if (tc.wantErr == nil) != (err == nil) || !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil && CodeOf(err) != CodeBadRequest {
				t.Errorf("CodeOf(%v) = %q", err, CodeOf(err))
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestDecodeEmptyRequests checks the bodies SPIKE's clients send for
// requests without fields.
func TestDecodeEmptyRequests(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`{}`, `null`, `{"x":1}`} {
		if _, err := DecodeRequest[SecretListRequest](strings.NewReader(in), 0); err != nil {
			t.Errorf("list %s: %v", in, err)
		}
		if _, err := DecodeRequest[RecoverRequest](strings.NewReader(in), 0); err != nil {
			t.Errorf("recover %s: %v", in, err)
		}
		if _, err := DecodeRequest[ShardGetRequest](strings.NewReader(in), 0); err != nil {
			t.Errorf("shard %s: %v", in, err)
		}
	}
	if _, err := DecodeRequest[SecretListRequest](strings.NewReader(``), 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("an empty body must be refused, got %v", err)
	}
}

func TestDecodeShard(t *testing.T) {
	t.Parallel()
	_, good := testShard(0)
	cases := []struct {
		name string
		in   string
		ok   bool
	}{
		{"32 ints", `{"id":1,"shard":` + good + `}`, true},
		{"31 ints", `{"id":1,"shard":[` + strings.Repeat("1,", 30) + `1]}`, false},
		{"33 ints", `{"id":1,"shard":[` + strings.Repeat("1,", 32) + `1]}`, false},
		{"256", `{"id":1,"shard":[` + strings.Repeat("1,", 31) + `256]}`, false},
		{"negative", `{"id":1,"shard":[` + strings.Repeat("1,", 31) + `-1]}`, false},
		{"float", `{"id":1,"shard":[` + strings.Repeat("1,", 31) + `1.5]}`, false},
		{"base64", `{"id":1,"shard":"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="}`, false},
		{"object", `{"id":1,"shard":{}}`, false},
		{"null", `{"id":1,"shard":null}`, false}, // decodes; refused by validation
		{"zeros", `{"id":1,"shard":[` + strings.Repeat("0,", 31) + `0]}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := DecodeRequest[RestoreRequest](strings.NewReader(tc.in), 0)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && (r.Shard == nil || r.Shard[0] != 1 || r.Shard[31] != 32) {
				t.Errorf("shard = %v", r.Shard)
			}
			if err != nil && CodeOf(err) != CodeBadRequest {
				t.Errorf("CodeOf = %q", CodeOf(err))
			}
		})
	}
}

// TestDecodeNeverEchoes plants a marker in malformed bodies and checks the
// error messages do not repeat it.
func TestDecodeNeverEchoes(t *testing.T) {
	t.Parallel()
	const m = "S3CRET"
	bodies := []string{
		`{"path":"a","values":"` + m + `"}`,
		`{"path":"a","values":{"k":["` + m + `"]}}`,
		`{"path":"a","values":{"k":` + m + `}}`,
		`{"path":"a","values":{"k":"v"}} ` + m,
		`{"path":"a","since":"` + m + `"}`,
		`{"path":"a","version":1` + m + `}`,
		`{"nonce":"` + m + `!"}`,
		`{"id":1,"shard":"` + m + `"}`,
		`{"path":"` + m + ` x","values":{"k":"v"}}`,
		`{"path":"a","values":{"` + m + `.":"v"}}`,
	}
	for _, b := range bodies {
		var err error
		switch {
		case strings.Contains(b, "since"):
			_, err = DecodeRequest[SecretHistoryRequest](strings.NewReader(b), 0)
		case strings.Contains(b, "nonce"):
			_, err = DecodeRequest[CipherDecryptRequest](strings.NewReader(b), 0)
		case strings.Contains(b, "shard"):
			_, err = DecodeRequest[RestoreRequest](strings.NewReader(b), 0)
		default:
			_, err = DecodeRequest[SecretPutRequest](strings.NewReader(b), 0)
		}
		if err == nil {
			t.Errorf("%s: accepted", b)
			continue
		}
		if strings.Contains(err.Error(), m) {
			t.Errorf("%s: message %q echoes the body", b, err)
		}
	}
}

func TestDecodeReadFailure(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader(`{"path":`), iotest.ErrReader(boom))
	_, err := DecodeRequest[SecretGetRequest](r, 0)
	if !errors.Is(err, boom) || !errors.Is(err, CodeDataReadFailure) {
		t.Fatalf("err = %v", err)
	}
	if CodeOf(err) != CodeDataReadFailure || CodeOf(err).Status() != 400 {
		t.Errorf("CodeOf = %q", CodeOf(err))
	}
}

// TestDecodeKeepsMalformedCause checks the encoding/json error stays
// reachable for logs even though the message hides it.
func TestDecodeKeepsMalformedCause(t *testing.T) {
	t.Parallel()
	_, err := Decode[SecretGetRequest](bytes.NewReader([]byte(`{"version":"x"}`)), 0)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
	if errors.Unwrap(err) != nil {
		t.Error("malformed errors have two causes; Unwrap() error should be nil")
	}
	if !strings.Contains(err.Error(), "version") {
		t.Errorf("message %q should name the field", err)
	}
}
