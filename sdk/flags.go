package sdk

import "time"

// Flags are the settings a command-line program built on the SDK takes
// to reach Nexus, tagged as spike's own commands spell them for kong
// (github.com/alecthomas/kong), each with the environment variables New
// reads. Embed Flags in a kong grammar and pass Options to New; spike
// and spike-demo do. The source timeout's default is the SDK's, 30 s,
// unless the grammar sets the kong variable spiffe_source_timeout (spike,
// an interactive program, waits 5 s).
type Flags struct {
	NexusURL      string        `name:"nexus-url" env:"SPIKE_NEXUS_URL,SPIKE_NEXUS_API_URL" default:"https://localhost:8553" help:"Nexus base URL."`
	Socket        string        `name:"spiffe-endpoint-socket" env:"SPIFFE_ENDPOINT_SOCKET" help:"SPIRE Workload API address."`
	SVIDDir       string        `name:"svid-dir" env:"SPIKE_SVID_DIR" type:"path" help:"Read the SVID from spiffe-helper files here instead of the Workload API."`
	SourceTimeout time.Duration `name:"spiffe-source-timeout" env:"SPIKE_SPIFFE_SOURCE_TIMEOUT" default:"${spiffe_source_timeout=30s}" help:"How long to wait for the first SVID."`
}

// Options returns the options for New that f says: the Nexus URL, the
// SVID from SVIDDir or else the Workload API, the source timeout. Values
// New could not use are an error matching ErrConfig, naming the flag.
func (f Flags) Options() ([]Option, error) {
	if checkNexusURL(f.NexusURL) != nil {
		return nil, configErrorf("--nexus-url %s: want https://host:port", quoteURL(f.NexusURL))
	}
	if f.SourceTimeout <= 0 {
		return nil, configErrorf("--spiffe-source-timeout must be positive, not %s", f.SourceTimeout)
	}
	opts := []Option{WithNexusURL(f.NexusURL), WithSourceTimeout(f.SourceTimeout)}
	if f.SVIDDir != "" {
		return append(opts, WithSVIDDir(f.SVIDDir)), nil
	}
	return append(opts, WithWorkloadAPI(f.Socket)), nil
}
