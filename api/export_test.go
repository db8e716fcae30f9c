package api

import (
	"strings"
	"testing"
	"time"
)

func TestExportRequestsValidate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 7, 25, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		req  Request
		want string // "" if valid
	}{
		{"spike-db now", ExportStartRequest{Format: ExportSpikeDB}, ""},
		{"projection at seq", ExportStartRequest{Format: ExportProjection, AsOfSeq: 3}, ""},
		{"json with values at time", ExportStartRequest{Format: ExportJSON, AsOfTime: &now, WithValues: true}, ""},
		{"no format", ExportStartRequest{}, "format"},
		{"bad format", ExportStartRequest{Format: "csv"}, "unknown"},
		{"values in spike-db", ExportStartRequest{Format: ExportSpikeDB, WithValues: true}, "always holds the values"},
		{"both points", ExportStartRequest{Format: ExportJSON, AsOfSeq: 1, AsOfTime: &now}, "at most one"},
		{"get", ExportGetRequest{ID: "01J", Offset: 5}, ""},
		{"get no id", ExportGetRequest{}, "id"},
		{"get long id", ExportGetRequest{ID: strings.Repeat("x", 65)}, "too long"},
		{"get negative", ExportGetRequest{ID: "a", Offset: -1}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.req.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func FuzzDecodeExportStart(f *testing.F) {
	fuzzRequest[ExportStartRequest](f, `{"format":"spike-db"}`, `{"format":"json","asOfTime":"2026-07-25T10:11:12Z","withValues":true}`)
}

func FuzzDecodeExportGet(f *testing.F) {
	fuzzRequest[ExportGetRequest](f, `{"id":"01J","offset":4194304}`, `{"id":"","offset":-1}`)
}
