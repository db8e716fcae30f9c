//go:build linux

package deploy

// This file renders the manifests, decodes them strictly and holds the
// checks that k8s_test.go runs on them.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/spikeledger/spike/cluster"
	"github.com/spikeledger/spike/internal/identity"
)

const k8sDir = "../../../deploy/k8s"

// k8sNamespace is the namespace every namespaced object must be in.
const k8sNamespace = "spike"

// The programs' settings the checks read.
const (
	keeperReplicas  = 5
	keeperThreshold = 3
	raftPort        = 8555
)

// clusterSPIFFEID is the part of the SPIRE controller manager's
// ClusterSPIFFEID (spire.spiffe.io/v1alpha1) that the manifests use, with
// the CRD's field names; anything else in a manifest fails to decode.
type clusterSPIFFEID struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		ClassName         string                `json:"className,omitempty"`
		SPIFFEIDTemplate  string                `json:"spiffeIDTemplate"`
		NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
		PodSelector       *metav1.LabelSelector `json:"podSelector,omitempty"`
	} `json:"spec"`
}

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor
// (monitoring.coreos.com/v1) that the manifests use.
type serviceMonitor struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		JobLabel  string               `json:"jobLabel,omitempty"`
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path,omitempty"`
			Interval string `json:"interval,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// manifests is one rendered kustomization, decoded.
type manifests struct {
	namespaces      []*corev1.Namespace
	configMaps      []*corev1.ConfigMap
	serviceAccounts []*corev1.ServiceAccount
	services        []*corev1.Service
	statefulSets    []*appsv1.StatefulSet
	jobs            []*batchv1.Job
	pdbs            []*policyv1.PodDisruptionBudget
	netpols         []*networkingv1.NetworkPolicy
	spiffeIDs       []*clusterSPIFFEID
	serviceMonitors []*serviceMonitor
}

// renderK8s runs kustomize on dir and returns the result as YAML.
func renderK8s(t *testing.T, dir string) []byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(k8sDir, dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := rm.AsYaml()
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	return out
}

// k8sScheme knows the built-in kinds the manifests may hold.
func k8sScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
		policyv1.AddToScheme, networkingv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// decodeK8s decodes every document of a rendered YAML stream strictly:
// built-in kinds with the API machinery's strict decoder (unknown or
// duplicate fields fail), the two custom kinds with DisallowUnknownFields.
func decodeK8s(rendered []byte) (*manifests, error) {
	codecs := serializer.NewCodecFactory(k8sScheme(), serializer.EnableStrict)
	dec := codecs.UniversalDeserializer()
	m := &manifests{}
	for _, doc := range bytes.Split(rendered, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		js, err := k8syaml.ToJSON(doc)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(js, &head); err != nil {
			return nil, fmt.Errorf("read kind: %w", err)
		}
		switch head.APIVersion + " " + head.Kind {
		case "spire.spiffe.io/v1alpha1 ClusterSPIFFEID":
			var c clusterSPIFFEID
			if err := decodeStrictJSON(js, &c); err != nil {
				return nil, fmt.Errorf("ClusterSPIFFEID: %w", err)
			}
			m.spiffeIDs = append(m.spiffeIDs, &c)
			continue
		case "monitoring.coreos.com/v1 ServiceMonitor":
			var s serviceMonitor
			if err := decodeStrictJSON(js, &s); err != nil {
				return nil, fmt.Errorf("ServiceMonitor: %w", err)
			}
			m.serviceMonitors = append(m.serviceMonitors, &s)
			continue
		}
		obj, _, err := dec.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", head.APIVersion, head.Kind, err)
		}
		switch o := obj.(type) {
		case *corev1.Namespace:
			m.namespaces = append(m.namespaces, o)
		case *corev1.ConfigMap:
			m.configMaps = append(m.configMaps, o)
		case *corev1.ServiceAccount:
			m.serviceAccounts = append(m.serviceAccounts, o)
		case *corev1.Service:
			m.services = append(m.services, o)
		case *appsv1.StatefulSet:
			m.statefulSets = append(m.statefulSets, o)
		case *batchv1.Job:
			m.jobs = append(m.jobs, o)
		case *policyv1.PodDisruptionBudget:
			m.pdbs = append(m.pdbs, o)
		case *networkingv1.NetworkPolicy:
			m.netpols = append(m.netpols, o)
		default:
			return nil, fmt.Errorf("unexpected kind %s %s", head.APIVersion, head.Kind)
		}
	}
	return m, nil
}

func decodeStrictJSON(js []byte, v any) error {
	// Case-sensitive, unlike encoding/json: spiffeIdTemplate is not
	// spiffeIDTemplate to the API server.
	strict, err := sigsjson.UnmarshalStrict(js, v, sigsjson.DisallowUnknownFields, sigsjson.DisallowDuplicateFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// k8sPod is one pod a workload runs: a StatefulSet's pod per ordinal, or a
// Job's pod.
type k8sPod struct {
	kind, owner string // StatefulSet or Job, and its name
	name        string // the pod's name (a Job's: its own name)
	ordinal     int    // a StatefulSet pod's ordinal
	meta        metav1.ObjectMeta
	spec        *corev1.PodSpec
	sts         *appsv1.StatefulSet
}

// pods lists every pod the manifests run, with the labels Kubernetes adds
// to a StatefulSet's pods.
func (m *manifests) pods() []k8sPod {
	var pods []k8sPod
	for _, s := range m.statefulSets {
		start := 0
		if s.Spec.Ordinals != nil {
			start = int(s.Spec.Ordinals.Start)
		}
		n := 1
		if s.Spec.Replicas != nil {
			n = int(*s.Spec.Replicas)
		}
		for i := start; i < start+n; i++ {
			name := s.Name + "-" + strconv.Itoa(i)
			lbl := labels.Merge(s.Spec.Template.Labels, labels.Set{
				"statefulset.kubernetes.io/pod-name": name,
				"apps.kubernetes.io/pod-index":       strconv.Itoa(i),
			})
			pods = append(pods, k8sPod{kind: "StatefulSet", owner: s.Name, name: name, ordinal: i, sts: s,
				meta: metav1.ObjectMeta{Name: name, Namespace: s.Namespace, Labels: lbl, Annotations: s.Spec.Template.Annotations},
				spec: &s.Spec.Template.Spec})
		}
	}
	for _, j := range m.jobs {
		pods = append(pods, k8sPod{kind: "Job", owner: j.Name, name: j.Name,
			meta: metav1.ObjectMeta{Name: j.Name, Namespace: j.Namespace, Labels: j.Spec.Template.Labels, Annotations: j.Spec.Template.Annotations},
			spec: &j.Spec.Template.Spec})
	}
	return pods
}

// program is the program a container runs.
func program(c *corev1.Container) string {
	if len(c.Command) == 0 {
		return "spike-nexus" // the image's entrypoint
	}
	return path.Base(c.Command[0])
}

// podEnv resolves a container's environment as the kubelet would for pod p.
func (m *manifests) podEnv(p k8sPod, c *corev1.Container) (map[string]string, []string) {
	env := map[string]string{}
	var problems []string
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			problems = append(problems, fmt.Sprintf("%s/%s: envFrom other than a ConfigMap", p.owner, c.Name))
			continue
		}
		cm := m.configMap(from.ConfigMapRef.Name)
		if cm == nil {
			problems = append(problems, fmt.Sprintf("%s/%s: envFrom names a missing ConfigMap %s", p.owner, c.Name, from.ConfigMapRef.Name))
			continue
		}
		for k, v := range cm.Data {
			env[k] = v
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			env[e.Name] = p.name
		case e.ValueFrom.ConfigMapKeyRef != nil:
			cm := m.configMap(e.ValueFrom.ConfigMapKeyRef.Name)
			v, ok := "", false
			if cm != nil {
				v, ok = cm.Data[e.ValueFrom.ConfigMapKeyRef.Key]
			}
			if !ok {
				problems = append(problems, fmt.Sprintf("%s/%s: %s refers to a missing ConfigMap key", p.owner, c.Name, e.Name))
			}
			env[e.Name] = v
		default:
			problems = append(problems, fmt.Sprintf("%s/%s: %s comes from a source this test does not resolve", p.owner, c.Name, e.Name))
		}
	}
	return env, problems
}

func (m *manifests) configMap(name string) *corev1.ConfigMap {
	for _, cm := range m.configMaps {
		if cm.Name == name {
			return cm
		}
	}
	return nil
}

func (m *manifests) statefulSet(name string) *appsv1.StatefulSet {
	for _, s := range m.statefulSets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (m *manifests) service(name string) *corev1.Service {
	for _, s := range m.services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// envNames lists the names a container sets, envFrom's keys included.
func (m *manifests) envNames(c *corev1.Container) []string {
	var names []string
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef != nil {
			if cm := m.configMap(from.ConfigMapRef.Name); cm != nil {
				for k := range cm.Data {
					names = append(names, k)
				}
			}
		}
	}
	for _, e := range c.Env {
		names = append(names, e.Name)
	}
	slices.Sort(names)
	return names
}

// k8sFacts is what the checks compare the manifests with: the env names
// each program reads, the Nexus replica count the overlay wants, and
// whether the programs that lock memory get IPC_LOCK.
type k8sFacts struct {
	known        map[string]map[string]bool
	nexusReplica int
	noIPCLock    bool
}

// check is one invariant; it returns what is wrong, nothing when all is well.
type check func(m *manifests, f *k8sFacts) []string

var k8sChecks = map[string]check{
	"namespaces": checkNamespaces,
	"replicas":   checkReplicas,
	"ports":      checkPorts,
	"hardening":  checkHardening,
	"env":        checkEnv,
	"spiffe":     checkSPIFFEIDs,
	"netpol":     checkNetworkPolicies,
	"socket":     checkSocket,
}

func checkNamespaces(m *manifests, _ *k8sFacts) []string {
	var p []string
	if len(m.namespaces) != 1 || m.namespaces[0].Name != k8sNamespace {
		p = append(p, fmt.Sprintf("want exactly the Namespace %s", k8sNamespace))
	}
	objs := []metav1.Object{}
	for _, o := range m.configMaps {
		objs = append(objs, o)
	}
	for _, o := range m.serviceAccounts {
		objs = append(objs, o)
	}
	for _, o := range m.services {
		objs = append(objs, o)
	}
	for _, o := range m.statefulSets {
		objs = append(objs, o)
	}
	for _, o := range m.jobs {
		objs = append(objs, o)
	}
	for _, o := range m.pdbs {
		objs = append(objs, o)
	}
	for _, o := range m.netpols {
		objs = append(objs, o)
	}
	for _, o := range m.serviceMonitors {
		objs = append(objs, &o.Metadata)
	}
	for _, o := range objs {
		if o.GetNamespace() != k8sNamespace {
			p = append(p, fmt.Sprintf("%s is in namespace %q, not %s", o.GetName(), o.GetNamespace(), k8sNamespace))
		}
	}
	for _, c := range m.spiffeIDs {
		if c.Metadata.Namespace != "" {
			p = append(p, fmt.Sprintf("ClusterSPIFFEID %s has a namespace; it is cluster-scoped", c.Metadata.Name))
		}
	}
	return p
}

// keeperURLs reads SPIKE_KEEPERS of the spike-settings ConfigMap.
func (m *manifests) keeperURLs() []string {
	cm := m.configMap("spike-settings")
	if cm == nil || cm.Data["SPIKE_KEEPERS"] == "" {
		return nil
	}
	return strings.Split(cm.Data["SPIKE_KEEPERS"], ",")
}

func checkReplicas(m *manifests, f *k8sFacts) []string {
	var p []string
	keeper := m.statefulSet("spike-keeper")
	nexus := m.statefulSet("spike-nexus")
	cm := m.configMap("spike-settings")
	if keeper == nil || nexus == nil || cm == nil {
		return []string{"spike-keeper, spike-nexus or spike-settings is missing"}
	}
	if keeper.Spec.Replicas == nil || *keeper.Spec.Replicas != keeperReplicas {
		p = append(p, fmt.Sprintf("want %d keepers", keeperReplicas))
	}
	if len(keeper.Spec.VolumeClaimTemplates) != 0 {
		p = append(p, "keepers have volumes; a shard lives in memory only")
	}
	if keeper.Spec.Ordinals == nil || keeper.Spec.Ordinals.Start != 1 {
		p = append(p, "keeper ordinals must start at 1: pod spike-keeper-N is keeper N")
	}
	if keeper.Spec.PodManagementPolicy != appsv1.ParallelPodManagement || nexus.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		p = append(p, "keepers and Nexus must start in parallel: none is ready before the bootstrap")
	}
	if cm.Data["SPIKE_SHAMIR_SHARES"] != strconv.Itoa(keeperReplicas) {
		p = append(p, fmt.Sprintf("SPIKE_SHAMIR_SHARES %q, want %d, one per keeper", cm.Data["SPIKE_SHAMIR_SHARES"], keeperReplicas))
	}
	threshold, err := strconv.Atoi(cm.Data["SPIKE_SHAMIR_THRESHOLD"])
	if err != nil || threshold != keeperThreshold {
		p = append(p, fmt.Sprintf("SPIKE_SHAMIR_THRESHOLD %q, want %d", cm.Data["SPIKE_SHAMIR_THRESHOLD"], keeperThreshold))
	}
	urls := m.keeperURLs()
	if len(urls) != keeperReplicas {
		p = append(p, fmt.Sprintf("SPIKE_KEEPERS lists %d keepers, the StatefulSet runs %d", len(urls), keeperReplicas))
	}
	svc := m.service(keeper.Spec.ServiceName)
	if svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
		p = append(p, "the keepers' Service must be headless and publish keepers before they are ready")
	}
	for i, u := range urls {
		want := fmt.Sprintf("https://%s-%d.%s.%s.svc:%d", keeper.Name, i+1, keeper.Spec.ServiceName, keeper.Namespace,
			containerPort(&keeper.Spec.Template.Spec, "api"))
		if u != want {
			p = append(p, fmt.Sprintf("keeper %d is %s, want %s", i+1, u, want))
		}
	}
	var keeperPDB *policyv1.PodDisruptionBudget
	for _, b := range m.pdbs {
		if sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector); err == nil && sel.Matches(labels.Set(keeper.Spec.Template.Labels)) {
			keeperPDB = b
		}
	}
	if keeperPDB == nil || keeperPDB.Spec.MinAvailable == nil || keeperPDB.Spec.MaxUnavailable != nil {
		p = append(p, "the keepers need a PodDisruptionBudget with minAvailable")
	} else if n := keeperPDB.Spec.MinAvailable.IntValue(); keeperPDB.Spec.MinAvailable.Type != intstr.Int || n < threshold || n >= keeperReplicas {
		p = append(p, fmt.Sprintf("keeper PodDisruptionBudget minAvailable %s: want at least the threshold %d and fewer than %d keepers",
			keeperPDB.Spec.MinAvailable.String(), threshold, keeperReplicas))
	}

	if nexus.Spec.Replicas == nil || int(*nexus.Spec.Replicas) != f.nexusReplica {
		p = append(p, fmt.Sprintf("want %d Nexus replicas", f.nexusReplica))
		return p
	}
	p = append(p, checkDataDir(m, nexus)...)
	for _, pod := range m.pods() {
		if pod.kind != "Job" {
			continue
		}
		env, _ := m.podEnv(pod, &pod.spec.Containers[0])
		want := fmt.Sprintf("https://%s-0.%s.%s.svc:%d", nexus.Name, nexus.Spec.ServiceName, nexus.Namespace, containerPort(&nexus.Spec.Template.Spec, "api"))
		if env["SPIKE_NEXUS_URL"] != want {
			p = append(p, fmt.Sprintf("bootstrap calls %q, want the first replica by name, %s", env["SPIKE_NEXUS_URL"], want))
		}
	}
	return append(p, checkCluster(m, nexus)...)
}

// checkDataDir: Nexus's data directory is on its PersistentVolumeClaim
// (the mount or a directory below it).
func checkDataDir(m *manifests, nexus *appsv1.StatefulSet) []string {
	if len(nexus.Spec.VolumeClaimTemplates) != 1 {
		return []string{"each Nexus needs one PersistentVolumeClaim for its data directory"}
	}
	claim := nexus.Spec.VolumeClaimTemplates[0].Name
	c := &nexus.Spec.Template.Spec.Containers[0]
	env, _ := m.podEnv(k8sPod{name: nexus.Name + "-0"}, c)
	dir := env["SPIKE_NEXUS_DATA_DIR"]
	for _, vm := range c.VolumeMounts {
		onClaim := dir == vm.MountPath || strings.HasPrefix(dir, strings.TrimSuffix(vm.MountPath, "/")+"/")
		if vm.Name == claim && onClaim && !vm.ReadOnly && vm.SubPath == "" {
			return nil
		}
	}
	return []string{fmt.Sprintf("SPIKE_NEXUS_DATA_DIR %q is not on the claim %s's mount", dir, claim)}
}

// checkCluster checks the Raft settings of a Nexus StatefulSet: none for
// one replica; for more, every pod's ID and address among the same peers.
func checkCluster(m *manifests, nexus *appsv1.StatefulSet) []string {
	var p []string
	replicas := int(*nexus.Spec.Replicas)
	var pdb *policyv1.PodDisruptionBudget
	for _, b := range m.pdbs {
		if sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector); err == nil && sel.Matches(labels.Set(nexus.Spec.Template.Labels)) {
			pdb = b
		}
	}
	var peerSets []string
	for _, pod := range m.pods() {
		if pod.sts != nexus {
			continue
		}
		env, _ := m.podEnv(pod, &pod.spec.Containers[0])
		peers, set := env["SPIKE_NEXUS_CLUSTER_PEERS"]
		if replicas == 1 {
			if set {
				p = append(p, "a single Nexus has cluster peers")
			}
			continue
		}
		peerSets = append(peerSets, peers)
		parsed, err := cluster.ParsePeers(peers)
		if err != nil {
			p = append(p, fmt.Sprintf("%s: SPIKE_NEXUS_CLUSTER_PEERS: %v", pod.name, err))
			continue
		}
		if len(parsed) != replicas {
			p = append(p, fmt.Sprintf("%s: %d peers for %d replicas", pod.name, len(parsed), replicas))
		}
		if env["SPIKE_NEXUS_CLUSTER_ID"] != pod.name {
			p = append(p, fmt.Sprintf("%s: cluster ID %q, want its pod name", pod.name, env["SPIKE_NEXUS_CLUSTER_ID"]))
		}
		for i, peer := range parsed {
			want := fmt.Sprintf("%s-%d.%s.%s.svc:%d", nexus.Name, i, nexus.Spec.ServiceName, nexus.Namespace, raftPort)
			if peer.ID != fmt.Sprintf("%s-%d", nexus.Name, i) || peer.RaftAddr != want {
				p = append(p, fmt.Sprintf("peer %d is %s=%s, want %s-%d=%s", i, peer.ID, peer.RaftAddr, nexus.Name, i, want))
			}
		}
		if port(env["SPIKE_NEXUS_CLUSTER_ADDR"]) != raftPort || containerPort(pod.spec, "raft") != raftPort {
			p = append(p, fmt.Sprintf("%s: Raft must listen on and open port %d", pod.name, raftPort))
		}
	}
	if replicas == 1 {
		return p
	}
	for _, s := range peerSets[1:] {
		if s != peerSets[0] {
			p = append(p, "the replicas' peers differ")
		}
	}
	svc := m.service(nexus.Spec.ServiceName)
	if svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses || servicePort(svc, "raft") != raftPort {
		p = append(p, "the peers' Service must be headless, publish replicas before they are ready, and carry Raft's port")
	}
	if pdb == nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() > (replicas-1)/2 || pdb.Spec.MaxUnavailable.IntValue() < 1 {
		p = append(p, "Nexus replicas need a PodDisruptionBudget keeping a majority")
	}
	return p
}

// port returns the port of a listen address such as ":9553"; 0 if none.
func port(addr string) int {
	_, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(ps)
	return n
}

func containerPort(spec *corev1.PodSpec, name string) int {
	for _, c := range spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == name {
				return int(cp.ContainerPort)
			}
		}
	}
	return 0
}

func servicePort(svc *corev1.Service, name string) int {
	for _, sp := range svc.Spec.Ports {
		if sp.Name == name {
			return int(sp.Port)
		}
	}
	return 0
}

// resolvePort finds a probe's or a Service's target port among a
// container's ports; 0 if the container does not open it.
func resolvePort(c *corev1.Container, p intstr.IntOrString) int {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			if cp.Protocol != "" && cp.Protocol != corev1.ProtocolTCP {
				return 0
			}
			return int(cp.ContainerPort)
		}
	}
	return 0
}

// listenEnv names each program's API and operations address settings.
var listenEnv = map[string]struct{ api, ops string }{
	"spike-nexus":  {"SPIKE_NEXUS_TLS_PORT", "SPIKE_NEXUS_OPS_ADDR"},
	"spike-keeper": {"SPIKE_KEEPER_TLS_PORT", "SPIKE_KEEPER_OPS_ADDR"},
}

func checkPorts(m *manifests, _ *k8sFacts) []string {
	var p []string
	for _, pod := range m.pods() {
		for i := range pod.spec.Containers {
			c := &pod.spec.Containers[i]
			env, problems := m.podEnv(pod, c)
			p = append(p, problems...)
			l, serves := listenEnv[program(c)]
			if !serves {
				if len(c.Ports) != 0 || c.ReadinessProbe != nil || c.LivenessProbe != nil {
					p = append(p, fmt.Sprintf("%s: %s listens on nothing", pod.owner, program(c)))
				}
				continue
			}
			api, ops := port(env[l.api]), port(env[l.ops])
			if api == 0 || ops == 0 || strings.HasPrefix(env[l.ops], "127.") {
				p = append(p, fmt.Sprintf("%s: %s and %s must set a port on the pod's address", pod.owner, l.api, l.ops))
			}
			if resolvePort(c, intstr.FromString("api")) != api || resolvePort(c, intstr.FromString("ops")) != ops {
				p = append(p, fmt.Sprintf("%s: container ports api/ops are not %d/%d, where %s listens", pod.owner, api, ops, program(c)))
			}
			for _, pr := range []struct {
				probe    *corev1.Probe
				path     string
				optional bool
			}{{c.ReadinessProbe, "/readyz", false}, {c.LivenessProbe, "/healthz", false}, {c.StartupProbe, "/healthz", true}} {
				if pr.probe == nil && pr.optional {
					continue
				}
				if pr.probe == nil || pr.probe.HTTPGet == nil || pr.probe.HTTPGet.Path != pr.path || resolvePort(c, pr.probe.HTTPGet.Port) != ops {
					p = append(p, fmt.Sprintf("%s: want a probe of %s on the operations port %d", pod.owner, pr.path, ops))
				}
			}
			a := pod.meta.Annotations
			if a["prometheus.io/scrape"] != "true" || a["prometheus.io/path"] != "/metrics" || a["prometheus.io/port"] != strconv.Itoa(ops) {
				p = append(p, fmt.Sprintf("%s: prometheus.io annotations must name /metrics on port %d", pod.owner, ops))
			}
		}
	}
	for _, svc := range m.services {
		selected := 0
		for _, pod := range m.pods() {
			if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.meta.Labels)) {
				continue
			}
			selected++
			for _, sp := range svc.Spec.Ports {
				if resolvePort(&pod.spec.Containers[0], sp.TargetPort) == 0 {
					p = append(p, fmt.Sprintf("Service %s port %s: %s does not open %s", svc.Name, sp.Name, pod.name, sp.TargetPort.String()))
				}
			}
		}
		if selected == 0 {
			p = append(p, fmt.Sprintf("Service %s selects no pod", svc.Name))
		}
	}
	return p
}

// locksMemory names the programs that lock a page in memory, and so need
// IPC_LOCK: Nexus the root key (internal/seal), a keeper its shard
// (keeper/memory_unix.go). Bootstrap locks nothing.
var locksMemory = map[string]bool{"spike-nexus": true, "spike-keeper": true}

// podSecurityCaps are the capabilities each Pod Security level lets a
// container add; a level missing here (privileged) admits any.
var podSecurityCaps = map[string][]corev1.Capability{
	"restricted": {"NET_BIND_SERVICE"},
	"baseline": {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
		"SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"},
}

func checkHardening(m *manifests, f *k8sFacts) []string {
	var p []string
	level := ""
	for _, n := range m.namespaces {
		level = n.Labels["pod-security.kubernetes.io/enforce"]
	}
	if allowed, limited := podSecurityCaps[level]; limited || level == "" {
		for _, pod := range m.pods() {
			for _, c := range pod.spec.Containers {
				if c.SecurityContext == nil || c.SecurityContext.Capabilities == nil {
					continue
				}
				for _, cp := range c.SecurityContext.Capabilities.Add {
					if !slices.Contains(allowed, cp) {
						p = append(p, fmt.Sprintf("%s adds %s, which Pod Security level %q refuses", pod.owner, cp, level))
					}
				}
			}
		}
	}
	for _, pod := range m.pods() {
		if pod.ordinal > 1 {
			continue // one pod per template is enough
		}
		s := pod.spec
		if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
			p = append(p, fmt.Sprintf("%s mounts a service account token; nothing here calls the Kubernetes API", pod.owner))
		}
		if s.HostNetwork || s.HostPID || s.HostIPC {
			p = append(p, fmt.Sprintf("%s shares a host namespace", pod.owner))
		}
		psc := s.SecurityContext
		podNonRoot := psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
		podSeccomp := psc != nil && psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
		if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			p = append(p, fmt.Sprintf("%s: want a non-zero runAsUser", pod.owner))
		}
		for i := range s.Containers {
			c := &s.Containers[i]
			where := pod.owner + "/" + c.Name
			if !strings.HasPrefix(c.Image, "spike:") {
				p = append(p, fmt.Sprintf("%s: image %s is not deploy/docker's spike:TAG", where, c.Image))
			}
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, okReq := c.Resources.Requests[r]
				lim, okLim := c.Resources.Limits[r]
				if !okReq || !okLim || req.Cmp(lim) > 0 {
					p = append(p, fmt.Sprintf("%s: want a %s request at most its limit", where, r))
				}
			}
			sc := c.SecurityContext
			if sc == nil {
				p = append(p, where+": no security context")
				continue
			}
			if !podNonRoot && (sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot) {
				p = append(p, where+": may run as root")
			}
			if sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
				p = append(p, where+": runAsNonRoot false")
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				p = append(p, where+": privilege escalation allowed")
			}
			if sc.Privileged != nil && *sc.Privileged {
				p = append(p, where+": privileged")
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				p = append(p, where+": root filesystem writable")
			}
			if !podSeccomp && (sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
				p = append(p, where+": seccomp is not RuntimeDefault")
			}
			if sc.SeccompProfile != nil && sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				p = append(p, where+": seccomp is not RuntimeDefault")
			}
			var want []corev1.Capability
			if locksMemory[program(c)] && !f.noIPCLock {
				want = []corev1.Capability{"IPC_LOCK"}
			}
			if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
				!slices.Equal(sc.Capabilities.Add, want) {
				p = append(p, fmt.Sprintf("%s: capabilities must drop ALL and add %v", where, want))
			}
		}
	}
	return p
}

// trustRootEnv are the env names internal/identity reads, which no
// --help lists.
var trustRootEnv = []string{identity.EnvTrustRoot, identity.EnvTrustRootNexus, identity.EnvTrustRootKeeper,
	identity.EnvTrustRootBootstrap, identity.EnvTrustRootPilot, identity.EnvTrustRootLiteWorkload}

func checkEnv(m *manifests, f *k8sFacts) []string {
	var p []string
	for _, pod := range m.pods() {
		for i := range pod.spec.Containers {
			c := &pod.spec.Containers[i]
			known := f.known[program(c)]
			if known == nil {
				p = append(p, fmt.Sprintf("%s runs %s, not one of the programs", pod.owner, program(c)))
				continue
			}
			for _, n := range m.envNames(c) {
				if !known[n] && !slices.Contains(trustRootEnv, n) {
					p = append(p, fmt.Sprintf("%s sets %s, which %s does not read", pod.owner, n, program(c)))
				}
			}
		}
	}
	return slices.Compact(p)
}

// checkSocket: each program reads its SVID from the SPIRE agent's socket
// that the SPIFFE CSI driver mounts.
func checkSocket(m *manifests, _ *k8sFacts) []string {
	var p []string
	for _, pod := range m.pods() {
		for i := range pod.spec.Containers {
			c := &pod.spec.Containers[i]
			env, _ := m.podEnv(pod, c)
			u, err := url.Parse(env["SPIFFE_ENDPOINT_SOCKET"])
			if err != nil || u.Scheme != "unix" {
				p = append(p, fmt.Sprintf("%s: SPIFFE_ENDPOINT_SOCKET %q is no unix socket", pod.owner, env["SPIFFE_ENDPOINT_SOCKET"]))
				continue
			}
			ok := false
			for _, vm := range c.VolumeMounts {
				if vm.MountPath != path.Dir(u.Path) {
					continue
				}
				for _, v := range pod.spec.Volumes {
					if v.Name == vm.Name && vm.ReadOnly && v.CSI != nil && v.CSI.Driver == "csi.spiffe.io" && v.CSI.ReadOnly != nil && *v.CSI.ReadOnly {
						ok = true
					}
				}
			}
			if !ok {
				p = append(p, fmt.Sprintf("%s: %s is not in a read-only csi.spiffe.io volume", pod.owner, u.Path))
			}
		}
	}
	return p
}

// namespaceLabels returns the labels of a namespace as the API server
// shows them: its own, and kubernetes.io/metadata.name.
func (m *manifests) namespaceLabels(ns string) labels.Set {
	set := labels.Set{"kubernetes.io/metadata.name": ns}
	for _, n := range m.namespaces {
		if n.Name == ns {
			set = labels.Merge(n.Labels, set)
		}
	}
	return set
}

// selects reports whether a label selector selects set; a nil selector
// selects everything, as in ClusterSPIFFEID and NetworkPolicy peers.
func selects(sel *metav1.LabelSelector, set labels.Set) bool {
	if sel == nil {
		return true
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(set)
}

// spiffeIDsOf renders the SPIFFE IDs the controller manager would give a
// pod, as its template engine does.
func (m *manifests) spiffeIDsOf(td string, meta metav1.ObjectMeta, spec *corev1.PodSpec) ([]spiffeid.ID, []string) {
	var ids []spiffeid.ID
	var p []string
	for _, c := range m.spiffeIDs {
		if !selects(c.Spec.NamespaceSelector, m.namespaceLabels(meta.Namespace)) || !selects(c.Spec.PodSelector, labels.Set(meta.Labels)) {
			continue
		}
		tpl, err := template.New(c.Metadata.Name).Option("missingkey=error").Parse(c.Spec.SPIFFEIDTemplate)
		if err != nil {
			p = append(p, fmt.Sprintf("ClusterSPIFFEID %s: %v", c.Metadata.Name, err))
			continue
		}
		var b strings.Builder
		data := map[string]any{"TrustDomain": td, "PodMeta": meta, "PodSpec": spec, "ClusterName": "test", "ClusterDomain": "cluster.local"}
		if err := tpl.Execute(&b, data); err != nil {
			p = append(p, fmt.Sprintf("ClusterSPIFFEID %s: %v", c.Metadata.Name, err))
			continue
		}
		id, err := spiffeid.FromString(b.String())
		if err != nil {
			p = append(p, fmt.Sprintf("ClusterSPIFFEID %s gives %s %q: %v", c.Metadata.Name, meta.Name, b.String(), err))
			continue
		}
		ids = append(ids, id)
	}
	return ids, p
}

// pilotRoles are the pilot roles a pod labelled spike-pilot-role=NAME gets.
var pilotRoles = map[string]identity.Role{
	"superuser": identity.RolePilotSuperuser, "admin": identity.RolePilotAdmin, "operator": identity.RolePilotOperator,
	"auditor": identity.RolePilotAuditor, "recover": identity.RolePilotRecover, "restore": identity.RolePilotRestore,
}

// wantRole is the role each program's pods must hold.
var wantRole = map[string]identity.Role{
	"spike-nexus": identity.RoleNexus, "spike-keeper": identity.RoleKeeper, "spike-bootstrap": identity.RoleBootstrap,
}

func checkSPIFFEIDs(m *manifests, _ *k8sFacts) []string {
	var p []string
	cm := m.configMap("spike-settings")
	if cm == nil {
		return []string{"no spike-settings"}
	}
	td := cm.Data[identity.EnvTrustRoot]
	urls := m.keeperURLs()
	var nexusRoles *identity.Roles
	for _, pod := range m.pods() {
		c := &pod.spec.Containers[0]
		env, _ := m.podEnv(pod, c)
		// The pod's own view of the roles: what it accepts from its peers.
		roles, err := identity.NewRoles(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			p = append(p, fmt.Sprintf("%s: %v", pod.name, err))
			continue
		}
		if program(c) == "spike-nexus" {
			nexusRoles = roles
		}
		ids, problems := m.spiffeIDsOf(td, pod.meta, pod.spec)
		p = append(p, problems...)
		if len(ids) != 1 {
			p = append(p, fmt.Sprintf("%s gets %d SPIFFE IDs, want 1", pod.name, len(ids)))
			continue
		}
		id := ids[0]
		if got, want := roles.Of(id), wantRole[program(c)]; got != want {
			p = append(p, fmt.Sprintf("%s is %s: role %q, want %q", pod.name, id, got, want))
		}
		if program(c) == "spike-keeper" {
			// Nexus and Bootstrap accept keeper N only at position N, and
			// only a numbered keeper is pinned to its position.
			if k, _ := roles.KeeperID(id); k != strconv.Itoa(pod.ordinal) || !roles.IsKeeperAt(id, pod.ordinal) || pod.ordinal < 1 || pod.ordinal > len(urls) ||
				!strings.HasPrefix(urls[pod.ordinal-1], "https://"+pod.name+".") {
				p = append(p, fmt.Sprintf("%s is %s, not the keeper at position %d of SPIKE_KEEPERS", pod.name, id, pod.ordinal))
			}
		}
	}
	if nexusRoles == nil {
		return append(p, "no Nexus pod")
	}
	for name, role := range pilotRoles {
		meta := metav1.ObjectMeta{Name: "pilot", Namespace: k8sNamespace, Labels: map[string]string{"spike-pilot-role": name}}
		ids, problems := m.spiffeIDsOf(td, meta, &corev1.PodSpec{})
		p = append(p, problems...)
		if len(ids) != 1 || nexusRoles.Of(ids[0]) != role {
			p = append(p, fmt.Sprintf("a pilot pod labelled %s gets %v, want one ID of role %s", name, ids, role))
		}
	}
	// Labels copied into another namespace give nothing.
	for _, lbl := range []map[string]string{{"spike-pilot-role": "superuser"}, {"app.kubernetes.io/name": "spike-nexus"}, {"app.kubernetes.io/name": "spike-keeper"}} {
		meta := metav1.ObjectMeta{Name: "copycat", Namespace: "apps", Labels: lbl}
		if ids, _ := m.spiffeIDsOf(td, meta, &corev1.PodSpec{}); len(ids) != 0 {
			p = append(p, fmt.Sprintf("a pod of namespace apps labelled %v gets %v", lbl, ids))
		}
	}
	return p
}

// flowPod is a pod traffic is checked between.
type flowPod struct {
	name, ns string
	labels   labels.Set
}

// flow is one connection: from, to, protocol/port.
type flow struct {
	from, to string
	port     string // "TCP/8553"
}

// policyAdmits reports whether the policies of namespace ns let traffic
// out of src (egress) or into dst (ingress).
func (m *manifests) policyAdmits(dir networkingv1.PolicyType, self, other flowPod, proto corev1.Protocol, port int) bool {
	isolated := false
	for _, np := range m.netpols {
		if np.Namespace != self.ns || !selects(&np.Spec.PodSelector, self.labels) || !slices.Contains(np.Spec.PolicyTypes, dir) {
			continue
		}
		isolated = true
		type rule struct {
			peers []networkingv1.NetworkPolicyPeer
			ports []networkingv1.NetworkPolicyPort
		}
		var rules []rule
		if dir == networkingv1.PolicyTypeIngress {
			for _, r := range np.Spec.Ingress {
				rules = append(rules, rule{r.From, r.Ports})
			}
		} else {
			for _, r := range np.Spec.Egress {
				rules = append(rules, rule{r.To, r.Ports})
			}
		}
		for _, r := range rules {
			if peersMatch(m, r.peers, np.Namespace, other) && portsMatch(r.ports, proto, port) {
				return true
			}
		}
	}
	return !isolated
}

func peersMatch(m *manifests, peers []networkingv1.NetworkPolicyPeer, policyNS string, pod flowPod) bool {
	if len(peers) == 0 {
		return true
	}
	for _, peer := range peers {
		if peer.IPBlock != nil {
			return true // an address range may hold anything; the flow table then fails
		}
		nsOK := pod.ns == policyNS
		if peer.NamespaceSelector != nil {
			nsOK = selects(peer.NamespaceSelector, m.namespaceLabels(pod.ns))
		}
		if nsOK && selects(peer.PodSelector, pod.labels) {
			return true
		}
	}
	return false
}

func portsMatch(ports []networkingv1.NetworkPolicyPort, proto corev1.Protocol, port int) bool {
	if len(ports) == 0 {
		return true
	}
	for _, pp := range ports {
		pr := corev1.ProtocolTCP
		if pp.Protocol != nil {
			pr = *pp.Protocol
		}
		if pr != proto {
			continue
		}
		if pp.Port == nil {
			return true
		}
		if pp.Port.Type == intstr.String {
			return true // a named port may be any; the flow table then fails
		}
		end := pp.Port.IntVal
		if pp.EndPort != nil {
			end = *pp.EndPort
		}
		if int32(port) >= pp.Port.IntVal && int32(port) <= end {
			return true
		}
	}
	return false
}

// checkNetworkPolicies evaluates the policies on every pair of pods and
// port, and compares the admitted flows with the intended ones exactly.
func checkNetworkPolicies(m *manifests, f *k8sFacts) []string {
	tpl := func(sts string) labels.Set {
		if s := m.statefulSet(sts); s != nil {
			return s.Spec.Template.Labels
		}
		return nil
	}
	var bootstrap labels.Set
	for _, j := range m.jobs {
		bootstrap = j.Spec.Template.Labels
	}
	pods := []flowPod{
		{"nexus", k8sNamespace, tpl("spike-nexus")},
		{"keeper", k8sNamespace, tpl("spike-keeper")},
		{"bootstrap", k8sNamespace, bootstrap},
		{"pilot", k8sNamespace, labels.Set{"spike-pilot-role": "auditor"}},
		{"other", k8sNamespace, labels.Set{"app": "other"}},
		{"workload", "apps", labels.Set{"spike-client": "true"}},
		{"stranger", "apps", labels.Set{"app": "stranger"}},
		{"prometheus", "monitoring", labels.Set{"app": "prometheus"}},
		{"dns", "kube-system", labels.Set{"k8s-app": "kube-dns"}},
	}
	want := map[flow]bool{
		{"nexus", "keeper", "TCP/8554"}: true, {"bootstrap", "keeper", "TCP/8554"}: true,
		{"workload", "nexus", "TCP/8553"}: true, {"pilot", "nexus", "TCP/8553"}: true,
		{"bootstrap", "nexus", "TCP/8553"}: true, {"nexus", "nexus", "TCP/8553"}: true,
		{"prometheus", "nexus", "TCP/9553"}: true, {"prometheus", "keeper", "TCP/9554"}: true,
	}
	if f.nexusReplica > 1 {
		want[flow{"nexus", "nexus", "TCP/" + strconv.Itoa(raftPort)}] = true
	}
	for _, p := range pods {
		if p.ns == k8sNamespace {
			want[flow{p.name, "dns", "UDP/53"}] = true
			want[flow{p.name, "dns", "TCP/53"}] = true
		}
	}
	ports := []struct {
		proto corev1.Protocol
		port  int
	}{{"UDP", 53}, {"TCP", 53}, {"TCP", 8553}, {"TCP", 8554}, {"TCP", raftPort}, {"TCP", 9553}, {"TCP", 9554}, {"TCP", 443}}
	var p []string
	for _, src := range pods {
		for _, dst := range pods {
			if src.ns != k8sNamespace && dst.ns != k8sNamespace {
				continue // neither end is ours to police
			}
			for _, pt := range ports {
				fl := flow{src.name, dst.name, fmt.Sprintf("%s/%d", pt.proto, pt.port)}
				got := m.policyAdmits(networkingv1.PolicyTypeEgress, src, dst, pt.proto, pt.port) &&
					m.policyAdmits(networkingv1.PolicyTypeIngress, dst, src, pt.proto, pt.port)
				if got != want[fl] {
					p = append(p, fmt.Sprintf("%s -> %s %s: admitted %v, want %v", fl.from, fl.to, fl.port, got, want[fl]))
				}
			}
		}
	}
	return p
}
