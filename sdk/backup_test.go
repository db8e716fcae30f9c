package sdk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
)

// testBackupFile is a backup file of copy.
func testBackupFile(t *testing.T, copy []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	h := api.BackupHeader{Events: 2, Checkpoint: "spike-log/01\n2\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— spike-log/01 AAAA\n", Bytes: int64(len(copy)),
		VerifierKey: "spike-log/01+01020304+AQID", Created: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC), NexusVersion: "v0.0.1"}
	if err := api.WriteBackupHeader(&b, h); err != nil {
		t.Fatal(err)
	}
	b.Write(copy)
	if err := api.WriteBackupFooter(&b, sha256.Sum256(copy)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestBackup(t *testing.T) {
	t.Parallel()
	copy := bytes.Repeat([]byte("bbolt page "), 50000)
	good := testBackupFile(t, copy)
	damaged := bytes.Clone(good)
	damaged[len(damaged)/2] ^= 1
	for _, tc := range []struct {
		name   string
		status int
		file   []byte
		want   error
	}{
		{"whole", 0, good, nil},
		{"truncated", 0, good[:len(good)-10], ErrBadAnswer},
		{"damaged", 0, damaged, ErrBadAnswer},
		{"trailing", 0, append(bytes.Clone(good), 'x'), ErrBadAnswer},
		{"refused", http.StatusUnauthorized, nil, ErrUnauthorized},
		{"busy", http.StatusTooManyRequests, nil, api.CodeBusy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := startFake(t, identity.PathNexus, func(ctx context.Context, r *transport.Request) transport.Response {
				if r.Path != api.PathOperatorBackup {
					return transport.Response{Status: http.StatusBadRequest, Body: api.NewErrorResponse(api.CodeBadRequest)}
				}
				if tc.status != 0 {
					return transport.Response{Status: tc.status, Body: api.ErrorResponseFor(api.OpOperatorBackup, map[int]api.ErrorCode{http.StatusUnauthorized: api.CodeUnauthorized, http.StatusTooManyRequests: api.CodeBusy}[tc.status])}
				}
				return transport.Response{ContentType: api.ContentTypeBackup, Stream: func(ctx context.Context, w io.Writer) error {
					_, err := w.Write(tc.file)
					return err
				}}
			})
			var out bytes.Buffer
			res, err := f.client(t, time.Millisecond).Backup(context.Background(), &out)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), good) || res.FileBytes != int64(len(good)) || res.CopyBytes != int64(len(copy)) ||
				res.SHA256 != sha256.Sum256(copy) || res.Events != 2 || res.NexusVersion != "v0.0.1" {
				t.Fatalf("wrote %d bytes; result %+v", out.Len(), res)
			}
		})
	}
}
