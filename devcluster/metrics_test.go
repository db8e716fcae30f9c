package devcluster_test

import (
	"bufio"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/devcluster"
	"github.com/spikeledger/spike/internal/transport"
)

// scrape reads Nexus's /metrics: every sample line by series (name and
// labels), and the families that have a HELP line.
func scrape(t *testing.T, c *devcluster.Cluster) (series map[string]float64, help map[string]bool) {
	t.Helper()
	resp, err := http.Get(c.OpsURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics answered %d", resp.StatusCode)
	}
	series, help = map[string]float64{}, map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "# HELP "); ok {
			help[strings.Fields(name)[0]] = true
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		var v float64
		fmt.Sscan(line[i+1:], &v)
		series[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return series, help
}

// traffic puts and gets n distinct paths through the superuser, and has
// callers workloads without a grant each be refused one read and one
// cipher call.
func traffic(t *testing.T, c *devcluster.Cluster, su *transport.Client, round, n, callers int) {
	t.Helper()
	ctx := t.Context()
	for i := range n {
		path := fmt.Sprintf("round%d/app%d/db", round, i)
		if err := put(ctx, c, su, path, map[string]string{"k": "v"}); err != nil {
			t.Fatal(err)
		}
		if _, err := get(ctx, c, su, path); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := get(ctx, c, su, fmt.Sprintf("round%d/missing", round)); status(err) != http.StatusNotFound {
		t.Fatalf("get of a missing path: %v", err)
	}
	for i := range callers {
		dir := filepath.Join(t.TempDir(), fmt.Sprint(i))
		if err := c.IssueSVIDDir(ctx, fmt.Sprintf("/workload/r%d/caller%d", round, i), dir); err != nil {
			t.Fatal(err)
		}
		cl := client(t, c, dir)
		if _, err := get(ctx, c, cl, fmt.Sprintf("round%d/app0/db", round)); status(err) != http.StatusUnauthorized {
			t.Fatalf("ungranted get: %v", err)
		}
		err := cl.Do(ctx, transport.Call{BaseURL: c.NexusURL(), Path: api.PathCipherEncrypt,
			Request: api.CipherEncryptRequest{Plaintext: []byte("x")}, Response: &api.CipherEncryptResponse{}})
		if status(err) != http.StatusUnauthorized {
			t.Fatalf("ungranted cipher: %v", err)
		}
	}
	err := su.Do(ctx, transport.Call{BaseURL: c.NexusURL(), Path: api.PathCipherEncrypt,
		Request: api.CipherEncryptRequest{Plaintext: []byte("x")}, Response: &api.CipherEncryptResponse{}})
	if err != nil {
		t.Fatalf("superuser cipher: %v", err)
	}
}

// background reports whether series belongs to custody's periodic work.
func background(series string) bool {
	return strings.HasPrefix(series, "spike_job_") || strings.Contains(series, `type="shards.`) || strings.Contains(series, `type="keeper.`) ||
		strings.HasPrefix(series, "spike_nexus_shard_distribution")
}

// TestMetricsSeriesBounded drives traffic over ever more paths and
// callers: the counters move, the number of series does not, and no
// label holds a path or a SPIFFE ID.
func TestMetricsSeriesBounded(t *testing.T) {
	t.Parallel()
	c := start(t, devcluster.Options{OpsAddr: "127.0.0.1:0"})
	su := client(t, c, c.SVIDDir(devcluster.SVIDSuperuser))
	traffic(t, c, su, 1, 5, 1)
	before, _ := scrape(t, c)
	traffic(t, c, su, 2, 60, 6)
	after, help := scrape(t, c)

	count := func(m map[string]float64) (n int) {
		for s := range m {
			// The runtime and process collectors' own series may vary.
			if strings.HasPrefix(s, "spike_") {
				n++
			}
		}
		return n
	}
	// Custody's background work (a shard distribution, a keeper probe)
	// may run for the first time between the scrapes and add its own
	// series; nothing else may appear.
	var added []string
	for s := range after {
		if _, ok := before[s]; !ok && strings.HasPrefix(s, "spike_") && !background(s) {
			added = append(added, s)
		}
	}
	if len(added) > 0 {
		t.Errorf("series grew from %d to %d with more paths and callers; new: %v", count(before), count(after), added)
	}
	for s := range after {
		if strings.Contains(s, "round") || strings.Contains(s, "spiffe://") || strings.Contains(s, "caller") {
			t.Errorf("a label holds a path or an identity: %s", s)
		}
	}
	for _, tc := range []struct {
		series string
		min    float64
	}{
		{`spike_requests_total{class="2xx",code="200",route="secret.get"}`, 65},
		{`spike_requests_total{class="4xx",code="401",route="secret.get"}`, 7},
		{`spike_nexus_authz_decisions_total{kind="policy",result="denied"}`, 14},
		{`spike_nexus_authz_decisions_total{kind="role",result="allowed"}`, 130},
		{`spike_nexus_cipher_operations_total{direction="encrypt",mode="json",result="ok"}`, 2},
		{`spike_eventlog_events_appended_total{type="secret.read"}`, 65},
		{`spike_eventlog_events_appended_total{type="access.denied"}`, 14},
		{`spike_nexus_root_key_state{state="ready"}`, 1},
		{`spike_nexus_keepers_configured`, 3},
		{`spike_nexus_keepers_threshold`, 2},
		{`spike_eventlog_events`, 150},
		{`spike_eventlog_size_bytes`, 1},
		{`spike_nexus_unseal_timestamp_seconds`, 1},
		{`spike_nexus_policies`, 0},
		{`spike_nexus_command_duration_seconds_count`, 150},
		{`spike_eventlog_fsync_duration_seconds_count`, 1},
		{`spike_projection_rebuild_duration_seconds_count`, 1},
		{`spike_projection_query_duration_seconds_count{query="secret"}`, 65},
		{`spike_open_connections`, 1},
	} {
		if v, ok := after[tc.series]; !ok || v < tc.min {
			t.Errorf("%s = %v (present %v), want at least %v", tc.series, v, ok, tc.min)
		}
	}
	if after[`spike_nexus_root_key_state{state="sealed"}`] != 0 || after[`spike_nexus_root_key_state{state="recovering"}`] != 0 {
		t.Error("root key state: more than one state at 1")
	}
	for s := range after {
		name, _, _ := strings.Cut(s, "{")
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && help[base] {
				name = base
			}
		}
		if !help[name] {
			t.Errorf("family %s has no HELP", name)
		}
	}
}
