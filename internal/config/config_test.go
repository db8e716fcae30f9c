package config

import (
	"strings"
	"testing"
	"time"
)

type testCLI struct {
	Keepers   []string      `name:"keepers" env:"SPIKE_KEEPERS,SPIKE_NEXUS_KEEPER_PEERS" help:"Keeper URLs, in shard order."`
	Threshold int           `name:"shamir-threshold" env:"SPIKE_SHAMIR_THRESHOLD,SPIKE_NEXUS_SHAMIR_THRESHOLD" default:"2"`
	Interval  time.Duration `name:"keeper-update-interval" env:"SPIKE_NEXUS_KEEPER_UPDATE_INTERVAL" default:"5m"`
}

func lookupFrom(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestCheckAliases(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // substring of the error, "" for none
	}{
		{"none", nil, ""},
		{"new name", map[string]string{"SPIKE_KEEPERS": "https://k1:8554"}, ""},
		{"old name", map[string]string{"SPIKE_NEXUS_KEEPER_PEERS": "https://k1:8554"}, ""},
		{"both agree", map[string]string{"SPIKE_KEEPERS": "https://k1:8554", "SPIKE_NEXUS_KEEPER_PEERS": " https://k1:8554"}, ""},
		{"both differ", map[string]string{"SPIKE_KEEPERS": "https://k1:8554", "SPIKE_NEXUS_KEEPER_PEERS": "https://k2:8554"}, "SPIKE_KEEPERS=\"https://k1:8554\" and SPIKE_NEXUS_KEEPER_PEERS=\"https://k2:8554\""},
		{"threshold differs", map[string]string{"SPIKE_SHAMIR_THRESHOLD": "3", "SPIKE_NEXUS_SHAMIR_THRESHOLD": "2"}, "--shamir-threshold"},
	} {
		_, err := Parse("test", "", &testCLI{}, nil, lookupFrom(tc.env))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}

// Values come from the environment through kong, which reads the process
// environment itself; these tests set it and so cannot run in parallel.
func TestParseReadsEitherName(t *testing.T) {
	t.Setenv("SPIKE_NEXUS_KEEPER_PEERS", "https://a:8554,https://b:8554")
	t.Setenv("SPIKE_NEXUS_SHAMIR_THRESHOLD", "2")
	var cli testCLI
	if _, err := Parse("test", "", &cli, nil, nil); err != nil {
		t.Fatal(err)
	}
	if len(cli.Keepers) != 2 || cli.Keepers[1] != "https://b:8554" || cli.Threshold != 2 || cli.Interval != 5*time.Minute {
		t.Fatalf("parsed %+v", cli)
	}
	// A flag overrides the environment.
	if _, err := Parse("test", "", &cli, []string{"--shamir-threshold=3"}, nil); err != nil || cli.Threshold != 3 {
		t.Fatalf("flag: %+v, %v", cli, err)
	}
}

func TestParseRejectsMalformed(t *testing.T) {
	t.Setenv("SPIKE_NEXUS_KEEPER_UPDATE_INTERVAL", "five minutes")
	_, err := Parse("test", "", &testCLI{}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "SPIKE_NEXUS_KEEPER_UPDATE_INTERVAL") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("malformed duration: %v (want one line naming the variable)", err)
	}
}
