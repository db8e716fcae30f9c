package sdk

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/internal/identity"
)

func TestResolve(t *testing.T) {
	t.Parallel()
	src := identity.NewStaticSource(nil)
	tests := []struct {
		name    string
		env     map[string]string
		opts    []Option
		wantErr string // substring; "" for success
		check   func(t *testing.T, s settings)
	}{
		{name: "defaults", check: func(t *testing.T, s settings) {
			if s.nexusURL != DefaultNexusURL || s.svidDir != "" || s.retryWait != DefaultRetryWait || s.sourceTimeout != DefaultSourceTimeout {
				t.Errorf("got %+v", s)
			}
		}},
		{name: "env", env: map[string]string{EnvNexusURL: "https://nexus:1", EnvSVIDDir: "/svid", EnvSourceTimeout: "5s"},
			check: func(t *testing.T, s settings) {
				if s.nexusURL != "https://nexus:1" || s.svidDir != "/svid" || s.sourceTimeout != 5*time.Second {
					t.Errorf("got %+v", s)
				}
			}},
		{name: "v0.8 URL name", env: map[string]string{EnvNexusAPIURL: "https://old:2"}, check: func(t *testing.T, s settings) {
			if s.nexusURL != "https://old:2" {
				t.Errorf("URL %q", s.nexusURL)
			}
		}},
		{name: "both URL names agree", env: map[string]string{EnvNexusURL: "https://n:1", EnvNexusAPIURL: "https://n:1"}},
		{name: "both URL names differ", env: map[string]string{EnvNexusURL: "https://a:1", EnvNexusAPIURL: "https://b:1"}, wantErr: "set only one"},
		{name: "options beat env", env: map[string]string{EnvNexusURL: "https://env:1", EnvSVIDDir: "/env"},
			opts: []Option{WithNexusURL("https://opt:1"), WithWorkloadAPI("unix:///agent.sock"), WithRetry(0)},
			check: func(t *testing.T, s settings) {
				if s.nexusURL != "https://opt:1" || s.svidDir != "" || s.socket != "unix:///agent.sock" || s.retryWait != 0 {
					t.Errorf("got %+v", s)
				}
			}},
		{name: "source ignores SVID dir env", env: map[string]string{EnvSVIDDir: "/env"}, opts: []Option{WithSource(src, src)},
			check: func(t *testing.T, s settings) {
				if s.svidDir != "" || s.svid == nil {
					t.Errorf("got %+v", s)
				}
			}},
		{name: "http URL", opts: []Option{WithNexusURL("http://nexus:8553")}, wantErr: "want https://host:port"},
		{name: "no host", opts: []Option{WithNexusURL("https://")}, wantErr: "want https://host:port"},
		{name: "bad timeout env", env: map[string]string{EnvSourceTimeout: "soon"}, wantErr: EnvSourceTimeout},
		{name: "negative retry", opts: []Option{WithRetry(-time.Second)}, wantErr: "negative"},
		{name: "negative refused wait", opts: []Option{WithRefusedWait(-time.Second)}, wantErr: "WithRefusedWait: negative"},
		{name: "refused wait defaults to the retry wait", opts: []Option{WithRetry(time.Hour)}, check: func(t *testing.T, s settings) {
			if s.refusedWait != time.Hour {
				t.Errorf("refused wait %s, want the retry wait", s.refusedWait)
			}
		}},
		{name: "refused wait", opts: []Option{WithRefusedWait(time.Second)}, check: func(t *testing.T, s settings) {
			if s.refusedWait != time.Second || s.retryWait != DefaultRetryWait {
				t.Errorf("refused wait %s, retry wait %s", s.refusedWait, s.retryWait)
			}
		}},
		{name: "half a source", opts: []Option{WithSource(src, nil)}, wantErr: "both"},
		{name: "two sources", opts: []Option{WithSVIDDir("/d"), WithWorkloadAPI("")}, wantErr: "only one"},
		{name: "source and dir", opts: []Option{WithSource(src, src), WithSVIDDir("/d")}, wantErr: "only one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := resolve(append([]Option{withEnv(tt.env)}, tt.opts...))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("resolve: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("resolve: %v, want an error containing %q", err, tt.wantErr)
			case err == nil && tt.check != nil:
				tt.check(t, s)
			}
		})
	}
}

func TestRolesPinNexus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		opts    []Option
		nexus   string // an ID that must be Nexus
		other   string // an ID that must not
		wantErr bool
	}{
		{name: "default", nexus: "spiffe://spike.ist/spike/nexus", other: "spiffe://example.org/spike/nexus"},
		{name: "env", env: map[string]string{identity.EnvTrustRoot: "example.org"}, nexus: "spiffe://example.org/spike/nexus", other: "spiffe://spike.ist/spike/nexus"},
		{name: "option beats env", env: map[string]string{identity.EnvTrustRootNexus: "example.org"}, opts: []Option{WithTrustDomain("corp.example/tenant/a")},
			nexus: "spiffe://corp.example/tenant/a/spike/nexus", other: "spiffe://example.org/spike/nexus"},
		{name: "not a keeper", nexus: "spiffe://spike.ist/spike/nexus", other: "spiffe://spike.ist/spike/keeper/1"},
		{name: "bad option", opts: []Option{WithTrustDomain("not a domain")}, wantErr: true},
		{name: "bad env", env: map[string]string{identity.EnvTrustRoot: "Bad_Domain"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := resolve(append([]Option{withEnv(tt.env)}, tt.opts...))
			if err != nil {
				t.Fatal(err)
			}
			roles, err := s.roles()
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !roles.IsNexus(mustID(t, tt.nexus)) {
				t.Errorf("%s is not Nexus", tt.nexus)
			}
			if roles.IsNexus(mustID(t, tt.other)) {
				t.Errorf("%s is Nexus", tt.other)
			}
		})
	}
}

// Every configuration New cannot use matches ErrConfig, and a password
// in a URL never reaches the message.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	src := identity.NewStaticSource(nil)
	for _, tt := range []struct {
		name string
		env  map[string]string
		opts []Option
	}{
		{name: "http URL", opts: []Option{WithNexusURL("http://nexus:8553")}},
		{name: "URL with credentials", opts: []Option{WithNexusURL("https://admin:hunter2@nexus:8553")}},
		{name: "URL with query", opts: []Option{WithNexusURL("https://nexus:8553/?token=hunter2")}},
		{name: "URL that does not parse", opts: []Option{WithNexusURL("https://admin:hunter2%zz@nexus:8553")}},
		{name: "URL names differ", env: map[string]string{EnvNexusURL: "https://a:hunter2@a:1", EnvNexusAPIURL: "https://b:1"}},
		{name: "bad timeout env", env: map[string]string{EnvSourceTimeout: "soon"}},
		{name: "negative retry", opts: []Option{WithRetry(-time.Second)}},
		{name: "half a source", opts: []Option{WithSource(src, nil)}},
		{name: "two sources", opts: []Option{WithSVIDDir("/d"), WithWorkloadAPI("")}},
		{name: "bad trust domain", opts: []Option{WithTrustDomain("not a domain")}},
		{name: "bad trust root env", env: map[string]string{identity.EnvTrustRoot: "Bad_Domain"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(t.Context(), append([]Option{withEnv(tt.env)}, tt.opts...)...)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("got %v, want ErrConfig", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error quotes a password: %v", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
	// No SVID is not a configuration error.
	_, err := New(t.Context(), withEnv(nil), WithSVIDDir(t.TempDir()), WithSourceTimeout(time.Millisecond))
	if err == nil || errors.Is(err, ErrConfig) {
		t.Errorf("missing SVID: %v, want an error that is not ErrConfig", err)
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		flags   Flags
		wantErr string
		check   func(t *testing.T, s settings)
	}{
		{name: "SVID dir", flags: Flags{NexusURL: "https://n:1", SVIDDir: "/svid", Socket: "unix:///ignored", SourceTimeout: time.Second},
			check: func(t *testing.T, s settings) {
				if s.nexusURL != "https://n:1" || s.svidDir != "/svid" || s.useWorkload || s.sourceTimeout != time.Second {
					t.Errorf("got %+v", s)
				}
			}},
		{name: "workload API", flags: Flags{NexusURL: "https://n:1", Socket: "unix:///agent.sock", SourceTimeout: time.Second},
			check: func(t *testing.T, s settings) {
				if s.svidDir != "" || !s.useWorkload || s.socket != "unix:///agent.sock" {
					t.Errorf("got %+v", s)
				}
			}},
		{name: "bad URL", flags: Flags{NexusURL: "https://u:hunter2@n:1", SourceTimeout: time.Second}, wantErr: `--nexus-url "https://u:xxxxx@n:1": want https://host:port`},
		{name: "zero timeout", flags: Flags{NexusURL: "https://n:1"}, wantErr: "--spiffe-source-timeout must be positive, not 0s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts, err := tt.flags.Options()
			if tt.wantErr != "" {
				if !errors.Is(err, ErrConfig) || err.Error() != tt.wantErr {
					t.Fatalf("got %v, want %q matching ErrConfig", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s, err := resolve(append([]Option{withEnv(map[string]string{EnvSVIDDir: "/env"})}, opts...))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

// The flags read the environment variables New reads.
func TestFlagsEnv(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		"NexusURL":      EnvNexusURL + "," + EnvNexusAPIURL,
		"Socket":        EnvSocket,
		"SVIDDir":       EnvSVIDDir,
		"SourceTimeout": EnvSourceTimeout,
	}
	typ := reflect.TypeFor[Flags]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if got := f.Tag.Get("env"); got != want[f.Name] {
			t.Errorf("%s reads %q, want %q", f.Name, got, want[f.Name])
		}
	}
	if typ.NumField() != len(want) {
		t.Errorf("%d flags, want %d", typ.NumField(), len(want))
	}
}
