package pilot

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/transport"
)

func TestExplain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code api.ErrorCode
		want string
	}{
		{api.CodeUnauthorized, "spike/pilot/role/recover"},
		{api.CodeNotReady, "sealed"},
		{api.CodeConflict, "already unsealed"},
		{api.CodeBadRequest, "refused"},
	} {
		err := explain(&transport.StatusError{Status: tc.code.Status(), Code: tc.code})
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %q does not mention %q", tc.code, err, tc.want)
		}
	}
	plain := errors.New("dial tcp: refused")
	if explain(plain) != plain {
		t.Error("a transport error was rewritten")
	}
}

// Configuration errors stop the command before any connection: exit 2,
// one line. (The environment is process-wide, so no parallelism.)
func TestRunRejectsConflictingNames(t *testing.T) {
	t.Setenv("SPIKE_NEXUS_URL", "https://a:8553")
	t.Setenv("SPIKE_NEXUS_API_URL", "https://b:8553")
	var out, errOut bytes.Buffer
	code := Run(context.Background(), []string{"operator", "recover"}, nil, &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "SPIKE_NEXUS_API_URL") || strings.Count(strings.TrimSpace(errOut.String()), "\n") != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}
