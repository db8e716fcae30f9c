package bootstrap

import (
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const (
	k1 = "https://keeper1:8554"
	k2 = "https://keeper2:8554"
	k3 = "https://keeper3:8554"
	k4 = "https://keeper4:8554"
	k5 = "https://keeper5:8554"
)

func TestParseValid(t *testing.T) {
	t.Parallel()
	three := strings.Join([]string{k1, k2, k3}, ",")
	for _, tc := range []struct {
		name      string
		args      []string
		env       func(string) (string, bool)
		keepers   []string
		shares    int
		threshold int
		check     func(Options) bool
	}{
		{"overview names", nil, env("SPIKE_KEEPERS", three), []string{k1, k2, k3}, 3, 2, nil},
		{"SPIKE names", nil, env("SPIKE_NEXUS_KEEPER_PEERS", three, "SPIKE_NEXUS_SHAMIR_SHARES", "3", "SPIKE_NEXUS_SHAMIR_THRESHOLD", "3"),
			[]string{k1, k2, k3}, 3, 3, nil},
		{"both names agree", nil, env("SPIKE_KEEPERS", three, "SPIKE_NEXUS_KEEPER_PEERS", three), []string{k1, k2, k3}, 3, 2, nil},
		{"majority of 5", nil, env("SPIKE_KEEPERS", strings.Join([]string{k1, k2, k3, k4, k5}, ",")), []string{k1, k2, k3, k4, k5}, 5, 3, nil},
		{"majority of 4", []string{"--keepers", strings.Join([]string{k1, k2, k3, k4}, ",")}, env(), []string{k1, k2, k3, k4}, 4, 3, nil},
		{"one keeper", []string{"--keepers=" + k1}, env(), []string{k1}, 1, 1, nil},
		{"spaces and trailing slashes", nil, env("SPIKE_KEEPERS", " "+k1+"/ , "+k2+" "), []string{k1, k2}, 2, 2, nil},
		{"flag over env", []string{"--threshold=1"}, env("SPIKE_KEEPERS", three, "SPIKE_SHAMIR_THRESHOLD", "2"), []string{k1, k2, k3}, 3, 1, nil},
		{"SPIKE -init", []string{"-init"}, env("SPIKE_KEEPERS", three), []string{k1, k2, k3}, 3, 2, nil},
		{"SPIKE -init=false", []string{"-init=false"}, env("SPIKE_KEEPERS", three), []string{k1, k2, k3}, 3, 2, nil},
		{"--init", []string{"--init"}, env("SPIKE_KEEPERS", three), []string{k1, k2, k3}, 3, 2, nil},
		{"force from SPIKE's variable", nil, env("SPIKE_KEEPERS", three, "SPIKE_BOOTSTRAP_FORCE", "true"), []string{k1, k2, k3}, 3, 2,
			func(o Options) bool { return o.Config.Force }},
		{"nexus URL from SPIKE's variable", nil, env("SPIKE_KEEPERS", three, "SPIKE_NEXUS_API_URL", "https://nexus:8553/"), []string{k1, k2, k3}, 3, 2,
			func(o Options) bool { return o.Config.NexusURL == "https://nexus:8553" }},
		{"defaults", nil, env("SPIKE_KEEPERS", three), []string{k1, k2, k3}, 3, 2, func(o Options) bool {
			c := o.Config
			return c.NexusURL == DefaultNexusURL && !c.Force && c.NexusWait == 10*time.Minute && c.KeeperMaxRetries == 5 &&
				c.KeeperTimeout == 30*time.Second && c.KeeperRetryInitial == 2*time.Second && c.KeeperRetryMax == 30*time.Second &&
				c.VerifyTimeout == 5*time.Minute && c.Timeout == 0 && o.SourceTimeout == 30*time.Second && o.LogLevel == slog.LevelInfo
		}},
		{"SPIKE retry variables", nil, env("SPIKE_KEEPERS", three, "SPIKE_BOOTSTRAP_KEEPER_MAX_RETRIES", "7",
			"SPIKE_BOOTSTRAP_KEEPER_TIMEOUT", "1m", "SPIKE_BOOTSTRAP_INIT_VERIFICATION_TIMEOUT", "30m", "SPIKE_BOOTSTRAP_TIMEOUT", "1h",
			"SPIKE_SYSTEM_LOG_LEVEL", "WARN", "SPIKE_SVID_DIR", "/run/svid"), []string{k1, k2, k3}, 3, 2, func(o Options) bool {
			c := o.Config
			return c.KeeperMaxRetries == 7 && c.KeeperTimeout == time.Minute && c.VerifyTimeout == 30*time.Minute &&
				c.Timeout == time.Hour && o.LogLevel == slog.LevelWarn && o.SVIDDir == "/run/svid"
		}},
		{"log and metrics settings", []string{"--log-format=TEXT", "--metrics-addr=9999", "--metrics-file=/tmp/bootstrap.prom"},
			env("SPIKE_KEEPERS", three, "SPIKE_SYSTEM_LOG_LEVEL", "debug"), []string{k1, k2, k3}, 3, 2, func(o Options) bool {
				return o.LogFormat == "text" && o.LogLevel == slog.LevelDebug && o.MetricsAddr == ":9999" &&
					o.MetricsFile == "/tmp/bootstrap.prom"
			}},
		{"logs default to JSON, metrics off", nil, env("SPIKE_KEEPERS", three), []string{k1, k2, k3}, 3, 2, func(o Options) bool {
			return o.LogFormat == "json" && o.MetricsAddr == "" && o.MetricsFile == ""
		}},
		{"memory store needs no keepers", nil, env("SPIKE_NEXUS_BACKEND_STORE", "memory"), nil, 0, 0,
			func(o Options) bool { return !o.Config.UsesKeepers() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o, err := Parse(tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			c := o.Config
			if !reflect.DeepEqual(c.Keepers, tc.keepers) && len(c.Keepers)+len(tc.keepers) > 0 {
				t.Errorf("keepers %q, want %q", c.Keepers, tc.keepers)
			}
			if c.Shares != tc.shares || c.Threshold != tc.threshold {
				t.Errorf("sharing %d/%d, want %d/%d", c.Threshold, c.Shares, tc.threshold, tc.shares)
			}
			if tc.check != nil && !tc.check(o) {
				t.Errorf("options %+v", o)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	three := strings.Join([]string{k1, k2, k3}, ",")
	for _, tc := range []struct {
		name string
		args []string
		env  func(string) (string, bool)
		want string // in the error
	}{
		{"no keepers", nil, env(), "none given"},
		{"http keeper", nil, env("SPIKE_KEEPERS", "http://keeper1:8554"), "want https"},
		{"no scheme", nil, env("SPIKE_KEEPERS", "keeper1:8554"), "want https"},
		{"no host", nil, env("SPIKE_KEEPERS", k1+",https://"), "entry 2"},
		{"port only", nil, env("SPIKE_KEEPERS", "https://:8554"), "no host"},
		{"bad port", nil, env("SPIKE_KEEPERS", "https://keeper1:port"), "not a URL"},
		{"credentials", nil, env("SPIKE_KEEPERS", "https://u:p@keeper1:8554"), "without credentials"},
		{"query", nil, env("SPIKE_KEEPERS", k1+"?x=1"), "without credentials, query"},
		{"empty entry", nil, env("SPIKE_KEEPERS", k1+",,"+k2), "entry 2: empty"},
		{"duplicate", nil, env("SPIKE_KEEPERS", k1+","+k2+","+k1), "entries 1 and 3"},
		{"duplicate modulo slash and case", nil, env("SPIKE_KEEPERS", k1+",HTTPS://KEEPER1:8554/"), "entries 1 and 2"},
		{"shares != keepers", nil, env("SPIKE_KEEPERS", three, "SPIKE_SHAMIR_SHARES", "5"), "shares (SPIKE_SHAMIR_SHARES) 5 but 3 keepers"},
		{"SPIKE shares != keepers", nil, env("SPIKE_NEXUS_KEEPER_PEERS", three, "SPIKE_NEXUS_SHAMIR_SHARES", "2"), "2 but 3 keepers"},
		{"threshold > shares", nil, env("SPIKE_KEEPERS", three, "SPIKE_SHAMIR_THRESHOLD", "4"), "threshold (SPIKE_SHAMIR_THRESHOLD) 4 is more than the 3 shares"},
		{"negative threshold", []string{"--threshold=-1"}, env("SPIKE_KEEPERS", three), "must be positive"},
		{"negative shares", []string{"--shares=-3"}, env("SPIKE_KEEPERS", three), "must be positive"},
		{"not a number", nil, env("SPIKE_KEEPERS", three, "SPIKE_NEXUS_SHAMIR_THRESHOLD", "two"), "SPIKE_NEXUS_SHAMIR_THRESHOLD"},
		{"keepers aliases differ", nil, env("SPIKE_KEEPERS", three, "SPIKE_NEXUS_KEEPER_PEERS", k1), "SPIKE_NEXUS_KEEPER_PEERS"},
		{"threshold aliases differ", nil, env("SPIKE_KEEPERS", three, "SPIKE_SHAMIR_THRESHOLD", "2", "SPIKE_NEXUS_SHAMIR_THRESHOLD", "3"), "--threshold"},
		{"shares aliases differ", nil, env("SPIKE_KEEPERS", three, "SPIKE_SHAMIR_SHARES", "3", "SPIKE_NEXUS_SHAMIR_SHARES", "5"), "--shares"},
		{"nexus aliases differ", nil, env("SPIKE_KEEPERS", three, "SPIKE_NEXUS_URL", "https://a:8553", "SPIKE_NEXUS_API_URL", "https://b:8553"), "SPIKE_NEXUS_API_URL"},
		{"http nexus", nil, env("SPIKE_KEEPERS", three, "SPIKE_NEXUS_URL", "http://nexus:8553"), "nexus URL (SPIKE_NEXUS_URL)"},
		{"bad duration", nil, env("SPIKE_KEEPERS", three, "SPIKE_BOOTSTRAP_KEEPER_TIMEOUT", "30 seconds"), "SPIKE_BOOTSTRAP_KEEPER_TIMEOUT"},
		{"negative duration", []string{"--nexus-wait=-1s"}, env("SPIKE_KEEPERS", three), "must not be negative"},
		{"negative retries", []string{"--keeper-max-retries=-1"}, env("SPIKE_KEEPERS", three), "must be positive"},
		{"bad log level", nil, env("SPIKE_KEEPERS", three, "SPIKE_SYSTEM_LOG_LEVEL", "loud"), "SPIKE_SYSTEM_LOG_LEVEL"},
		{"bad log format", nil, env("SPIKE_KEEPERS", three, "SPIKE_SYSTEM_LOG_FORMAT", "xml"), "SPIKE_SYSTEM_LOG_FORMAT"},
		{"bad log format flag", []string{"--log-format=yaml"}, env("SPIKE_KEEPERS", three), "want json or text"},
		{"metrics file in no directory", []string{"--metrics-file=/nonexistent/dir/bootstrap.prom"}, env("SPIKE_KEEPERS", three), "SPIKE_BOOTSTRAP_METRICS_FILE"},
		{"metrics file is a directory", nil, env("SPIKE_KEEPERS", three, "SPIKE_BOOTSTRAP_METRICS_FILE", "/"), "is a directory"},
		{"metrics address without a port", nil, env("SPIKE_KEEPERS", three, "SPIKE_BOOTSTRAP_METRICS_ADDR", "localhost"), "SPIKE_BOOTSTRAP_METRICS_ADDR"},
		{"bad backend store", nil, env("SPIKE_KEEPERS", three, "SPIKE_BACKEND_STORE_TYPE", "postgres"), "SPIKE_BACKEND_STORE_TYPE"},
		{"unknown flag", []string{"-force"}, env("SPIKE_KEEPERS", three), "spike-bootstrap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tc.args, tc.env)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, Name+": ") {
				t.Errorf("error %q: want one line starting %q and mentioning %q", msg, Name+": ", tc.want)
			}
		})
	}
}

func TestGoStyleInit(t *testing.T) {
	t.Parallel()
	got := goStyleInit([]string{"-init", "-init=true", "--init", "-initx", "--", "-init"})
	want := []string{"--init", "--init=true", "--init", "-initx", "--", "-init"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
