//go:build linux

package loadkit

import "testing"

func TestIntEnv(t *testing.T) {
	const name = "SPIKE_E2E_LOADKIT_TEST_COUNT"
	tests := []struct {
		value   string
		least   int
		want    int
		wantErr bool
	}{
		{value: "", least: 1, want: 7},
		{value: "3", least: 1, want: 3},
		{value: "0", least: 0, want: 0},
		{value: "0", least: 1, wantErr: true},
		{value: "-2", least: 0, wantErr: true},
		{value: "many", least: 0, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Setenv(name, tt.value)
			got, err := IntEnv(name, 7, tt.least)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("IntEnv with %q, least %d = %d, %v; want %d, error %v", tt.value, tt.least, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
