//go:build linux

// The Kubernetes manifests render with kustomize, decode strictly into the
// Kubernetes API types, and hold together: replica counts and the shard
// threshold, probes and Services on ports the containers open, hardened
// containers with resources, env names the programs read, SPIFFE IDs the
// programs accept, and NetworkPolicies admitting exactly the intended
// flows. Each check also runs on mutated manifests, which it must refuse.

package deploy

import (
	"bytes"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// programEnv reads the env names each program lists in --help.
func programEnv(t *testing.T) map[string]map[string]bool {
	t.Helper()
	bin := buildPrograms(t)
	envName := regexp.MustCompile(`\$([A-Z][A-Z0-9_]*)`)
	known := map[string]map[string]bool{}
	for _, prog := range []string{"spike-nexus", "spike-keeper", "spike-bootstrap"} {
		help, _ := exec.Command(filepath.Join(bin, prog), "--help").CombinedOutput()
		known[prog] = map[string]bool{}
		for _, m := range envName.FindAllStringSubmatch(string(help), -1) {
			known[prog][m[1]] = true
		}
		if len(known[prog]) == 0 {
			t.Fatalf("%s --help lists no env names:\n%s", prog, help)
		}
	}
	return known
}

// k8sOverlays are the overlays and the Nexus replicas each runs.
var k8sOverlays = []struct {
	dir   string
	nexus int
}{{"overlays/single", 1}, {"overlays/ha", 3}}

// TestK8sManifests renders each overlay and runs every check on it.
func TestK8sManifests(t *testing.T) {
	t.Parallel()
	known := programEnv(t)
	for _, o := range k8sOverlays {
		t.Run(o.dir, func(t *testing.T) {
			t.Parallel()
			m, err := decodeK8s(renderK8s(t, o.dir))
			if err != nil {
				t.Fatal(err)
			}
			if len(m.statefulSets) != 2 || len(m.jobs) != 1 || len(m.spiffeIDs) != 3+len(pilotRoles) {
				t.Fatalf("rendered %d StatefulSets, %d Jobs, %d ClusterSPIFFEIDs; want Nexus and keepers, bootstrap, and an ID per component and pilot role",
					len(m.statefulSets), len(m.jobs), len(m.spiffeIDs))
			}
			f := &k8sFacts{known: known, nexusReplica: o.nexus}
			for name, c := range k8sChecks {
				for _, problem := range c(m, f) {
					t.Errorf("%s: %s", name, problem)
				}
			}
		})
	}
}

// TestK8sRestricted renders the example of deploy/k8s/README.md that
// drops IPC_LOCK to enforce the restricted Pod Security profile.
func TestK8sRestricted(t *testing.T) {
	t.Parallel()
	known := programEnv(t)
	const dir = "../../test/e2e/deploy/testdata/k8s-restricted"
	m, err := decodeK8s(renderK8s(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if m.namespaces[0].Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Fatal("the namespace does not enforce restricted")
	}
	f := &k8sFacts{known: known, nexusReplica: 1, noIPCLock: true}
	for name, c := range k8sChecks {
		for _, problem := range c(m, f) {
			t.Errorf("%s: %s", name, problem)
		}
	}
}

// TestK8sChecksFail mutates rendered manifests and requires the check
// named to report the mutation, so that no check passes vacuously.
func TestK8sChecksFail(t *testing.T) {
	t.Parallel()
	known := programEnv(t)
	rendered := map[string][]byte{}
	for _, o := range k8sOverlays {
		rendered[o.dir] = renderK8s(t, o.dir)
	}
	nexusC := func(m *manifests) *corev1.Container {
		return &m.statefulSet("spike-nexus").Spec.Template.Spec.Containers[0]
	}
	keeperC := func(m *manifests) *corev1.Container {
		return &m.statefulSet("spike-keeper").Spec.Template.Spec.Containers[0]
	}
	bootC := func(m *manifests) *corev1.Container { return &m.jobs[0].Spec.Template.Spec.Containers[0] }
	setEnv := func(c *corev1.Container, name, value string) {
		for i := range c.Env {
			if c.Env[i].Name == name {
				c.Env[i] = corev1.EnvVar{Name: name, Value: value}
				return
			}
		}
		c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
	}
	netpol := func(m *manifests, name string) *networkingv1.NetworkPolicy {
		for _, np := range m.netpols {
			if np.Name == name {
				return np
			}
		}
		t.Fatalf("no NetworkPolicy %s", name)
		return nil
	}
	spiffe := func(m *manifests, name string) *clusterSPIFFEID {
		for _, c := range m.spiffeIDs {
			if c.Metadata.Name == name {
				return c
			}
		}
		t.Fatalf("no ClusterSPIFFEID %s", name)
		return nil
	}
	cases := []struct {
		name, overlay, check string
		mutate               func(m *manifests)
	}{
		{"service in default", "overlays/single", "namespaces", func(m *manifests) { m.services[0].Namespace = "default" }},
		{"namespaced ClusterSPIFFEID", "overlays/single", "namespaces", func(m *manifests) { m.spiffeIDs[0].Metadata.Namespace = "spike" }},
		{"four keepers", "overlays/single", "replicas", func(m *manifests) { *m.statefulSet("spike-keeper").Spec.Replicas = 4 }},
		{"threshold 2", "overlays/single", "replicas", func(m *manifests) { m.configMap("spike-settings").Data["SPIKE_SHAMIR_THRESHOLD"] = "2" }},
		{"shares 3", "overlays/single", "replicas", func(m *manifests) { m.configMap("spike-settings").Data["SPIKE_SHAMIR_SHARES"] = "3" }},
		{"PDB below threshold", "overlays/single", "replicas", func(m *manifests) { m.pdbs[0].Spec.MinAvailable = ptr(intstr.FromInt32(2)) }},
		{"keepers reordered", "overlays/single", "replicas", func(m *manifests) {
			u := m.keeperURLs()
			u[0], u[1] = u[1], u[0]
			m.configMap("spike-settings").Data["SPIKE_KEEPERS"] = strings.Join(u, ",")
		}},
		{"keeper volume", "overlays/single", "replicas", func(m *manifests) {
			s := m.statefulSet("spike-keeper")
			s.Spec.VolumeClaimTemplates = m.statefulSet("spike-nexus").Spec.VolumeClaimTemplates
		}},
		{"data dir off the claim", "overlays/single", "replicas", func(m *manifests) { setEnv(nexusC(m), "SPIKE_NEXUS_DATA_DIR", "/tmp/spike") }},
		{"bootstrap through the Service", "overlays/ha", "replicas", func(m *manifests) {
			setEnv(bootC(m), "SPIKE_NEXUS_URL", "https://spike-nexus.spike.svc:8553")
		}},
		{"ordered start", "overlays/single", "replicas", func(m *manifests) {
			m.statefulSet("spike-keeper").Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
		}},
		{"single with peers", "overlays/single", "replicas", func(m *manifests) { setEnv(nexusC(m), "SPIKE_NEXUS_CLUSTER_PEERS", "a=b:1") }},
		{"two replicas", "overlays/ha", "replicas", func(m *manifests) { *m.statefulSet("spike-nexus").Spec.Replicas = 2 }},
		{"peer missing", "overlays/ha", "replicas", func(m *manifests) {
			setEnv(nexusC(m), "SPIKE_NEXUS_CLUSTER_PEERS", "spike-nexus-0=spike-nexus-0.spike-nexus-peers.spike.svc:8555,spike-nexus-1=spike-nexus-1.spike-nexus-peers.spike.svc:8555")
		}},
		{"fixed cluster id", "overlays/ha", "replicas", func(m *manifests) { setEnv(nexusC(m), "SPIKE_NEXUS_CLUSTER_ID", "spike-nexus-0") }},
		{"raft elsewhere", "overlays/ha", "replicas", func(m *manifests) { setEnv(nexusC(m), "SPIKE_NEXUS_CLUSTER_ADDR", ":8600") }},
		{"nexus PDB lets a majority go", "overlays/ha", "replicas", func(m *manifests) {
			for _, b := range m.pdbs {
				if b.Name == "spike-nexus" {
					b.Spec.MaxUnavailable = ptr(intstr.FromInt32(2))
				}
			}
		}},
		{"ops on loopback", "overlays/single", "ports", func(m *manifests) { setEnv(nexusC(m), "SPIKE_NEXUS_OPS_ADDR", "127.0.0.1:9553") }},
		{"ops port moved", "overlays/single", "ports", func(m *manifests) { setEnv(keeperC(m), "SPIKE_KEEPER_OPS_ADDR", ":9600") }},
		{"readiness on /healthz", "overlays/single", "ports", func(m *manifests) { nexusC(m).ReadinessProbe.HTTPGet.Path = "/healthz" }},
		{"liveness on api", "overlays/single", "ports", func(m *manifests) { keeperC(m).LivenessProbe.HTTPGet.Port = intstr.FromString("api") }},
		{"startup on /readyz", "overlays/ha", "ports", func(m *manifests) { nexusC(m).StartupProbe.HTTPGet.Path = "/readyz" }},
		{"no liveness", "overlays/single", "ports", func(m *manifests) { nexusC(m).LivenessProbe = nil }},
		{"service to closed port", "overlays/single", "ports", func(m *manifests) {
			m.service("spike-nexus").Spec.Ports[0].TargetPort = intstr.FromInt32(8443)
		}},
		{"service selects nothing", "overlays/single", "ports", func(m *manifests) {
			m.service("spike-keeper").Spec.Selector = map[string]string{"app": "nope"}
		}},
		{"metrics annotation", "overlays/single", "ports", func(m *manifests) {
			m.statefulSet("spike-nexus").Spec.Template.Annotations["prometheus.io/port"] = "8553"
		}},
		{"restricted namespace", "overlays/single", "hardening", func(m *manifests) {
			m.namespaces[0].Labels["pod-security.kubernetes.io/enforce"] = "restricted"
		}},
		{"no Pod Security level", "overlays/ha", "hardening", func(m *manifests) {
			delete(m.namespaces[0].Labels, "pod-security.kubernetes.io/enforce")
		}},
		{"writable root", "overlays/single", "hardening", func(m *manifests) { nexusC(m).SecurityContext.ReadOnlyRootFilesystem = ptr(false) }},
		{"escalation", "overlays/single", "hardening", func(m *manifests) { bootC(m).SecurityContext.AllowPrivilegeEscalation = nil }},
		{"root", "overlays/single", "hardening", func(m *manifests) {
			keeperC(m).SecurityContext.RunAsNonRoot = ptr(false)
		}},
		{"IPC_LOCK on bootstrap", "overlays/single", "hardening", func(m *manifests) {
			bootC(m).SecurityContext.Capabilities.Add = []corev1.Capability{"IPC_LOCK"}
		}},
		{"SYS_ADMIN", "overlays/ha", "hardening", func(m *manifests) {
			nexusC(m).SecurityContext.Capabilities.Add = append(nexusC(m).SecurityContext.Capabilities.Add, "SYS_ADMIN")
		}},
		{"no drop", "overlays/single", "hardening", func(m *manifests) { keeperC(m).SecurityContext.Capabilities.Drop = nil }},
		{"unconfined", "overlays/single", "hardening", func(m *manifests) {
			keeperC(m).SecurityContext.SeccompProfile.Type = corev1.SeccompProfileTypeUnconfined
		}},
		{"no limits", "overlays/single", "hardening", func(m *manifests) { bootC(m).Resources.Limits = nil }},
		{"token", "overlays/single", "hardening", func(m *manifests) {
			m.statefulSet("spike-keeper").Spec.Template.Spec.AutomountServiceAccountToken = nil
		}},
		{"other image", "overlays/single", "hardening", func(m *manifests) { keeperC(m).Image = "busybox" }},
		{"unknown env", "overlays/single", "env", func(m *manifests) { setEnv(keeperC(m), "SPIKE_KEEPER_DATA_DIR", "/x") }},
		{"nexus env on keeper", "overlays/single", "env", func(m *manifests) {
			keeperC(m).EnvFrom = nexusC(m).EnvFrom
		}},
		{"evil nexus ID", "overlays/single", "spiffe", func(m *manifests) {
			spiffe(m, "spike-nexus").Spec.SPIFFEIDTemplate = "spiffe://{{ .TrustDomain }}/spike/nexus-evil"
		}},
		{"keepers by name", "overlays/single", "spiffe", func(m *manifests) {
			spiffe(m, "spike-keeper").Spec.SPIFFEIDTemplate = "spiffe://{{ .TrustDomain }}/spike/keeper/{{ .PodMeta.Name }}x"
		}},
		{"keepers from 0", "overlays/single", "spiffe", func(m *manifests) { m.statefulSet("spike-keeper").Spec.Ordinals = nil }},
		{"other trust domain", "overlays/single", "spiffe", func(m *manifests) {
			spiffe(m, "spike-bootstrap").Spec.SPIFFEIDTemplate = "spiffe://other.org/spike/bootstrap"
		}},
		{"pilot any namespace", "overlays/single", "spiffe", func(m *manifests) {
			spiffe(m, "spike-pilot-superuser").Spec.NamespaceSelector = nil
		}},
		{"pilot role typo", "overlays/ha", "spiffe", func(m *manifests) {
			spiffe(m, "spike-pilot-auditor").Spec.SPIFFEIDTemplate = "spiffe://{{ .TrustDomain }}/spike/pilot/role/audit"
		}},
		{"two IDs", "overlays/single", "spiffe", func(m *manifests) {
			spiffe(m, "spike-bootstrap").Spec.PodSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/part-of": "spike"}}
		}},
		{"no default deny", "overlays/single", "netpol", func(m *manifests) {
			m.netpols = slices.DeleteFunc(m.netpols, func(np *networkingv1.NetworkPolicy) bool {
				return np.Name == "default-deny" || np.Name == "spike-pilot"
			})
		}},
		{"workloads reach keepers", "overlays/single", "netpol", func(m *manifests) {
			np := netpol(m, "spike-keeper")
			np.Spec.Ingress[0].From = append(np.Spec.Ingress[0].From, networkingv1.NetworkPolicyPeer{
				NamespaceSelector: &metav1.LabelSelector{}, PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"spike-client": "true"}}})
		}},
		{"pilot egress anywhere", "overlays/single", "netpol", func(m *manifests) {
			np := netpol(m, "spike-pilot")
			np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{}}}})
		}},
		{"keepers open to all namespaces", "overlays/single", "netpol", func(m *manifests) {
			netpol(m, "spike-keeper").Spec.Ingress[0].From[0].NamespaceSelector = &metav1.LabelSelector{}
			netpol(m, "spike-keeper").Spec.Ingress[0].From[0].PodSelector = nil
		}},
		{"no DNS", "overlays/single", "netpol", func(m *manifests) {
			netpol(m, "dns").Spec.Egress[0].Ports[0].Port = ptr(intstr.FromInt32(54))
		}},
		{"no raft", "overlays/ha", "netpol", func(m *manifests) {
			m.netpols = slices.DeleteFunc(m.netpols, func(np *networkingv1.NetworkPolicy) bool { return np.Name == "spike-nexus-raft" })
		}},
		{"raft in single", "overlays/single", "netpol", func(m *manifests) {
			ha, err := decodeK8s(rendered["overlays/ha"])
			if err != nil {
				t.Fatal(err)
			}
			m.netpols = append(m.netpols, netpol(ha, "spike-nexus-raft"))
		}},
		{"socket elsewhere", "overlays/single", "socket", func(m *manifests) {
			setEnv(nexusC(m), "SPIFFE_ENDPOINT_SOCKET", "unix:///tmp/spire-agent/public/api.sock")
		}},
		{"socket writable", "overlays/single", "socket", func(m *manifests) { keeperC(m).VolumeMounts[0].ReadOnly = false }},
		{"socket from hostPath", "overlays/single", "socket", func(m *manifests) {
			v := &m.jobs[0].Spec.Template.Spec.Volumes[0]
			v.CSI, v.HostPath = nil, &corev1.HostPathVolumeSource{Path: "/run/spire/sockets"}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m, err := decodeK8s(rendered[c.overlay])
			if err != nil {
				t.Fatal(err)
			}
			f := &k8sFacts{known: known, nexusReplica: 1}
			if c.overlay == "overlays/ha" {
				f.nexusReplica = 3
			}
			if p := k8sChecks[c.check](m, f); len(p) != 0 {
				t.Fatalf("%s failed before the mutation: %v", c.check, p)
			}
			c.mutate(m)
			if p := k8sChecks[c.check](m, f); len(p) == 0 {
				t.Errorf("%s did not notice %q", c.check, c.name)
			} else {
				t.Logf("%s: %s", c.check, p[0])
			}
		})
	}
}

// TestK8sStrictDecoding: a field the API types do not know fails.
func TestK8sStrictDecoding(t *testing.T) {
	t.Parallel()
	good := renderK8s(t, "overlays/single")
	if _, err := decodeK8s(good); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, old, new string }{
		{"StatefulSet", "  serviceName: spike-keeper\n", "  serviceName: spike-keeper\n  replica: 5\n"},
		{"container", "        name: keeper\n", "        name: keeper\n        securitycontext: {}\n"},
		{"ClusterSPIFFEID", "  spiffeIDTemplate: spiffe://{{ .TrustDomain }}/spike/bootstrap\n",
			"  spiffeIDTemplate: spiffe://{{ .TrustDomain }}/spike/bootstrap\n  spiffeIdTemplate: x\n"},
		{"unknown kind", "kind: Job\n", "kind: CronJob\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if !bytes.Contains(good, []byte(c.old)) {
				t.Fatalf("rendered manifests lack %q", c.old)
			}
			if _, err := decodeK8s(bytes.Replace(good, []byte(c.old), []byte(c.new), 1)); err == nil {
				t.Errorf("decoded with %q", c.new)
			} else {
				t.Log(err)
			}
		})
	}
}

// TestK8sServiceMonitors: the optional ServiceMonitors scrape the
// operations port of Services the overlays define.
func TestK8sServiceMonitors(t *testing.T) {
	t.Parallel()
	mon, err := decodeK8s(renderK8s(t, "monitoring"))
	if err != nil {
		t.Fatal(err)
	}
	if p := checkNamespaces(&manifests{namespaces: []*corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: k8sNamespace}}},
		serviceMonitors: mon.serviceMonitors}, nil); len(p) != 0 {
		t.Error(p)
	}
	m, err := decodeK8s(renderK8s(t, "overlays/ha"))
	if err != nil {
		t.Fatal(err)
	}
	jobs := []string{}
	for _, sm := range mon.serviceMonitors {
		var matched []*corev1.Service
		for _, svc := range m.services {
			if selects(&sm.Spec.Selector, labels.Set(svc.Labels)) {
				matched = append(matched, svc)
			}
		}
		if len(matched) != 1 {
			t.Errorf("ServiceMonitor %s selects %d Services, want 1", sm.Metadata.Name, len(matched))
			continue
		}
		svc := matched[0]
		jobs = append(jobs, svc.Labels[sm.Spec.JobLabel])
		for _, ep := range sm.Spec.Endpoints {
			if ep.Port != "ops" || ep.Path != "/metrics" || servicePort(svc, ep.Port) == 0 {
				t.Errorf("ServiceMonitor %s scrapes %s%s, want the ops port's /metrics", sm.Metadata.Name, ep.Port, ep.Path)
			}
		}
		if !svc.Spec.PublishNotReadyAddresses {
			t.Errorf("ServiceMonitor %s scrapes %s, which hides sealed pods", sm.Metadata.Name, svc.Name)
		}
	}
	// The job names the alerts (deploy/prometheus/spike-alerts.yml) use.
	slices.Sort(jobs)
	if !slices.Equal(jobs, []string{"spike-keeper", "spike-nexus"}) {
		t.Errorf("jobs %v, want spike-keeper and spike-nexus", jobs)
	}
}

func ptr[T any](v T) *T { return &v }

// TestK8sSettingsParse runs each pod's program with the environment the
// kubelet would give it, except for the data directory and how long to
// wait for an SVID. Every setting must parse and pass the program's
// checks, so that it gets as far as asking the (absent) SPIRE agent for
// its identity; a setting it refuses ends it earlier, with status 2.
func TestK8sSettingsParse(t *testing.T) {
	bin := buildPrograms(t)
	const noSVID = "no SVID from the SPIRE agent"
	run := func(t *testing.T, prog string, env map[string]string) (string, int) {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, prog))
		cmd.Env = []string{"HOME=" + t.TempDir()}
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	for _, o := range k8sOverlays {
		m, err := decodeK8s(renderK8s(t, o.dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, pod := range m.pods() {
			if pod.owner == "spike-keeper" && pod.ordinal != 1 {
				continue // the keepers' settings are all alike
			}
			c := &pod.spec.Containers[0]
			env, problems := m.podEnv(pod, c)
			if len(problems) != 0 {
				t.Fatal(problems)
			}
			t.Run(o.dir+"/"+pod.name, func(t *testing.T) {
				if u, err := url.Parse(env["SPIFFE_ENDPOINT_SOCKET"]); err != nil || fileExists(u.Path) {
					t.Skipf("SPIFFE_ENDPOINT_SOCKET %s exists here; the run would talk to it", env["SPIFFE_ENDPOINT_SOCKET"])
				}
				env["SPIKE_SPIFFE_SOURCE_TIMEOUT"] = "1s"
				if _, ok := env["SPIKE_NEXUS_DATA_DIR"]; ok {
					env["SPIKE_NEXUS_DATA_DIR"] = t.TempDir()
				}
				out, code := run(t, program(c), env)
				if code != 1 || !strings.Contains(out, noSVID) {
					t.Errorf("%s with %s's settings: status %d, want 1 (%s):\n%s", program(c), pod.name, code, noSVID, out)
				}
				// A refused setting ends it before it asks for an SVID.
				bad := maps.Clone(env)
				if program(c) == "spike-keeper" {
					bad["SPIKE_KEEPER_TLS_PORT"] = ":85540"
				} else {
					bad["SPIKE_SHAMIR_THRESHOLD"] = "6"
				}
				if out, code := run(t, program(c), bad); code != 2 || strings.Contains(out, noSVID) {
					t.Errorf("%s with a bad setting: status %d, want 2:\n%s", program(c), code, out)
				}
			})
		}
	}
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}
