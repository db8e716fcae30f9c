//go:build linux

package spire

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
	"time"
)

// interval is the server's entry-cache reload and the agent's sync period.
// SPIRE's default of 5 s each makes a new entry take up to ~10 s to reach
// workloads; 200 ms brings that to well under a second.
const interval = "200ms"

var serverConf = template.Must(template.New("server.conf").Parse(`server {
    bind_address = "127.0.0.1"
    bind_port = {{.Port}}
    socket_path = "{{.ServerSocket}}"
    trust_domain = "{{.TrustDomain}}"
    data_dir = "{{.Dir}}/data/server"
    log_level = "INFO"
    ca_ttl = "24h"
    default_x509_svid_ttl = "{{.SVIDTTL}}"
    experimental {
        cache_reload_interval = "{{.Interval}}"
    }
}

plugins {
    DataStore "sql" {
        plugin_data {
            database_type = "sqlite3"
            connection_string = "{{.Dir}}/data/server/datastore.sqlite3"
        }
    }
    NodeAttestor "join_token" {
        plugin_data {}
    }
    KeyManager "memory" {
        plugin_data {}
    }
}
`))

var agentConf = template.Must(template.New("agent.conf").Parse(`agent {
    data_dir = "{{.Dir}}/data/agent"
    log_level = "INFO"
    server_address = "127.0.0.1"
    server_port = {{.Port}}
    socket_path = "{{.AgentSocket}}"
    trust_bundle_path = "{{.Dir}}/conf/bundle.pem"
    trust_domain = "{{.TrustDomain}}"
    join_token = "{{.JoinToken}}"
    experimental {
        sync_interval = "{{.Interval}}"
    }
}

plugins {
    NodeAttestor "join_token" {
        plugin_data {}
    }
    KeyManager "memory" {
        plugin_data {}
    }
    WorkloadAttestor "unix" {
        plugin_data {
            discover_workload_path = true
            workload_size_limit = -1
        }
    }
}
`))

// confData fills both templates.
type confData struct {
	Dir, ServerSocket, AgentSocket string
	TrustDomain, JoinToken         string
	Port                           int
	SVIDTTL                        time.Duration
	Interval                       string
}

// writeConf renders tmpl into path.
func writeConf(path string, tmpl *template.Template, data confData) error {
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		return fmt.Errorf("render %s: %w", tmpl.Name(), err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", tmpl.Name(), err)
	}
	return nil
}

// jsonEntry and jsonSelector follow SPIRE's common.RegistrationEntry JSON,
// the format of "spire-server entry create -data".
type jsonEntry struct {
	SpiffeID    string         `json:"spiffe_id"`
	ParentID    string         `json:"parent_id"`
	Selectors   []jsonSelector `json:"selectors"`
	X509SVIDTTL int32          `json:"x509_svid_ttl,omitempty"`
}

type jsonSelector struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// entriesJSON encodes entries for "entry create -data", all with the given
// parent ID.
func entriesJSON(parentID string, entries []Entry) ([]byte, error) {
	out := make([]jsonEntry, 0, len(entries))
	for _, e := range entries {
		je, err := e.toJSON(parentID)
		if err != nil {
			return nil, err
		}
		out = append(out, je)
	}
	b, err := json.Marshal(struct {
		Entries []jsonEntry `json:"entries"`
	}{out})
	if err != nil {
		return nil, fmt.Errorf("encode entries: %w", err)
	}
	return b, nil
}

// toJSON converts one entry, checking its selectors and TTL.
func (e Entry) toJSON(parentID string) (jsonEntry, error) {
	if len(e.Selectors) == 0 {
		return jsonEntry{}, fmt.Errorf("entry %q: no selectors", e.SpiffeID)
	}
	ttl := e.X509SVIDTTL / time.Second
	if e.X509SVIDTTL < 0 || e.X509SVIDTTL%time.Second != 0 || ttl > 1<<31-1 {
		return jsonEntry{}, fmt.Errorf("entry %q: X509SVIDTTL %v is not a whole number of seconds in range", e.SpiffeID, e.X509SVIDTTL)
	}
	je := jsonEntry{SpiffeID: e.SpiffeID, ParentID: parentID, X509SVIDTTL: int32(ttl)}
	for _, s := range e.Selectors {
		typ, value, ok := strings.Cut(s, ":")
		if !ok || typ == "" || value == "" {
			return jsonEntry{}, fmt.Errorf("entry %q: selector %q is not type:value", e.SpiffeID, s)
		}
		je.Selectors = append(je.Selectors, jsonSelector{Type: typ, Value: value})
	}
	return je, nil
}
