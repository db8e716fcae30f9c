package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/spiffe/spike-sdk-go/api/entity/v1/reqres"
)

// testCommitment returns n fake commitment points (right size, any bytes)
// and their JSON.
func testCommitment(n int) ([][]byte, string) {
	pts := make([][]byte, n)
	enc := make([]string, n)
	for i := range pts {
		pts[i] = bytes.Repeat([]byte{byte(2 + i)}, CommitmentPointSize)
		b, _ := json.Marshal(pts[i])
		enc[i] = string(b)
	}
	return pts, "[" + strings.Join(enc, ",") + "]"
}

func TestBootstrapStatusRoute(t *testing.T) {
	t.Parallel()
	op, ok := Route("/v1/bootstrap/status", "")
	if !ok || op != OpBootstrapStatus {
		t.Fatalf("Route = %v, %v", op, ok)
	}
	if !op.Extension() || op.Service() != ServiceNexus || op.String() != "bootstrap.status" ||
		op.URL() != "/v1/bootstrap/status" || op.BodyLimit() != DefaultBodyLimit {
		t.Errorf("OpBootstrapStatus = %s %s ext=%v service=%v limit=%d", op, op.URL(), op.Extension(), op.Service(), op.BodyLimit())
	}
	for _, action := range []string{"get", "list", "delete"} {
		if _, ok := Route(PathBootstrapStatus, action); ok {
			t.Errorf("%s?action=%s is routed", PathBootstrapStatus, action)
		}
	}
}

// TestBootstrapMarshalGolden pins the status bodies and shows that the
// verify extension leaves SPIKE v0.8's body unchanged when absent.
func TestBootstrapMarshalGolden(t *testing.T) {
	t.Parallel()
	nonce := []byte("0123456789ab")
	com, comJSON := testCommitment(2)
	cases := []struct {
		name string
		v    any
		want string
	}{
		{"BootstrapStatusRequest", BootstrapStatusRequest{}, `{}`},
		{"BootstrapStatusResponse/fresh", BootstrapStatusResponse{Sealed: true, Shares: 3, Threshold: 2},
			`{"bootstrapped":false,"sealed":true,"shares":3,"threshold":2}`},
		{"BootstrapStatusResponse/done", BootstrapStatusResponse{Bootstrapped: true, Shares: 5, Threshold: 3},
			`{"bootstrapped":true,"sealed":false,"shares":5,"threshold":3}`},
		{"BootstrapStatusResponse/401", ErrorResponseFor(OpBootstrapStatus, CodeUnauthorized),
			`{"bootstrapped":false,"sealed":false,"shares":0,"threshold":0,"err":"access_unauthorized"}`},
		{"BootstrapVerifyRequest/v0.8", BootstrapVerifyRequest{Nonce: nonce, Ciphertext: []byte{1, 2, 3}},
			`{"nonce":"MDEyMzQ1Njc4OWFi","ciphertext":"AQID"}`},
		{"BootstrapVerifyRequest/empty commitment", BootstrapVerifyRequest{Nonce: nonce, Ciphertext: []byte{1}, Commitment: [][]byte{}},
			`{"nonce":"MDEyMzQ1Njc4OWFi","ciphertext":"AQ=="}`},
		{"BootstrapVerifyRequest/sharing", BootstrapVerifyRequest{Nonce: nonce, Ciphertext: []byte{1, 2, 3}, Commitment: com, Shares: 3, Threshold: 2},
			`{"nonce":"MDEyMzQ1Njc4OWFi","ciphertext":"AQID","commitment":` + comJSON + `,"shares":3,"threshold":2}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got  %s\nwant %s", b, tc.want)
			}
		})
	}
}

func TestBootstrapDecode(t *testing.T) {
	t.Parallel()
	com, comJSON := testCommitment(2)
	nonce := []byte("0123456789ab")
	if v, err := DecodeRequest[BootstrapStatusRequest](strings.NewReader(`{}`), 0); err != nil || v != (BootstrapStatusRequest{}) {
		t.Errorf("status request: %+v, %v", v, err)
	}
	if _, err := DecodeRequest[BootstrapStatusRequest](strings.NewReader(``), 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty status body: %v", err)
	}
	var st BootstrapStatusResponse
	if err := json.Unmarshal([]byte(`{"bootstrapped":true,"sealed":true,"shares":5,"threshold":3}`), &st); err != nil ||
		st != (BootstrapStatusResponse{Bootstrapped: true, Sealed: true, Shares: 5, Threshold: 3}) {
		t.Errorf("status response: %+v, %v", st, err)
	}
	body := `{"nonce":"MDEyMzQ1Njc4OWFi","ciphertext":"AQID","commitment":` + comJSON + `,"shares":3,"threshold":2}`
	v, err := DecodeRequest[BootstrapVerifyRequest](strings.NewReader(body), 0)
	want := BootstrapVerifyRequest{Nonce: nonce, Ciphertext: []byte{1, 2, 3}, Commitment: com, Shares: 3, Threshold: 2}
	if err != nil || !reflect.DeepEqual(v, want) {
		t.Errorf("verify with sharing: %+v, %v", v, err)
	}
}

// TestBootstrapVerifySDK: SPIKE v0.8's Bootstrap body still decodes and
// validates, and a v0.8 Nexus (the SDK's type) reads our extended body,
// ignoring the extension.
func TestBootstrapVerifySDK(t *testing.T) {
	t.Parallel()
	nonce := []byte("0123456789ab")
	sdkReq := reqres.BootstrapVerifyRequest{Nonce: nonce, Ciphertext: []byte{9, 8, 7}}
	got, err := DecodeRequest[BootstrapVerifyRequest](sdkEncode(t, sdkReq), 0)
	if err != nil || !bytes.Equal(got.Nonce, nonce) || !bytes.Equal(got.Ciphertext, []byte{9, 8, 7}) || got.Commitment != nil {
		t.Fatalf("SDK body: %+v, %v", got, err)
	}
	com, _ := testCommitment(3)
	ours := BootstrapVerifyRequest{Nonce: nonce, Ciphertext: []byte{1}, Commitment: com, Shares: 5, Threshold: 3}
	if r := sdkDecode[reqres.BootstrapVerifyRequest](t, ours); !bytes.Equal(r.Nonce, nonce) || !bytes.Equal(r.Ciphertext, []byte{1}) {
		t.Errorf("SDK read our body as %+v", r)
	}
}

func TestBootstrapVerifyValidateSharing(t *testing.T) {
	t.Parallel()
	nonce := []byte("0123456789ab")
	com2, _ := testCommitment(2)
	com3, _ := testCommitment(3)
	short := [][]byte{com2[0], com2[1][:32]}
	cases := []struct {
		name              string
		com               [][]byte
		shares, threshold int
		field             string // "" when valid
	}{
		{"absent", nil, 0, 0, ""},
		{"empty", [][]byte{}, 0, 0, ""},
		{"3 of 2", com2, 3, 2, ""},
		{"5 of 3", com3, 5, 3, ""},
		{"1 of 1", com2[:1], 1, 1, ""},
		{"no threshold", com2, 3, 0, "threshold"},
		{"commitment only", com2, 0, 0, "threshold"},
		{"shares only", nil, 3, 0, "threshold"},
		{"threshold above shares", com3, 2, 3, "shares"},
		{"too many shares", com2, MaxShardID + 1, 2, "shares"},
		{"commitment too short", com2, 5, 3, "commitment"},
		{"commitment too long", com3, 3, 2, "commitment"},
		{"no commitment", nil, 3, 2, "commitment"},
		{"bad point size", short, 3, 2, "commitment"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := BootstrapVerifyRequest{Nonce: nonce, Ciphertext: []byte{1}, Commitment: tc.com, Shares: tc.shares, Threshold: tc.threshold}
			err := r.Validate()
			var fe *FieldError
			switch {
			case tc.field == "" && err != nil:
				t.Errorf("valid sharing refused: %v", err)
			case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
				t.Errorf("err = %v, want a FieldError on %q", err, tc.field)
			}
		})
	}
}

func FuzzDecodeBootstrapStatus(f *testing.F) { fuzzRequest[BootstrapStatusRequest](f, `{"x":1}`) }

func FuzzDecodeBootstrapVerifySharing(f *testing.F) {
	_, comJSON := testCommitment(2)
	fuzzRequest[BootstrapVerifyRequest](f,
		`{"nonce":`+fuzzNonce+`,"ciphertext":"AQID","commitment":`+comJSON+`,"shares":3,"threshold":2}`,
		`{"nonce":`+fuzzNonce+`,"ciphertext":"AQID","commitment":[],"shares":0}`)
}
