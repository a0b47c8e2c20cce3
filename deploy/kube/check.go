package kube

import (
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/arxivsearch/arxivsearch/deploy/internal/settings"
	"github.com/arxivsearch/arxivsearch/platform/shardset"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// images maps the project's image repositories to the program they run.
var images = map[string]string{
	"arxivsearch/embedder":      "embedder",
	"arxivsearch/embedder-cuda": "embedder",
	"arxivsearch/index":         "index",
	"arxivsearch/gateway":       "gateway",
	"arxivsearch/pipeline":      "pipeline",
}

// listen is one listen setting of a daemon and what it serves.
type listen struct {
	env     string
	grpc    bool // gRPC with grpc.health.v1 (probes: grpc)
	metrics bool // serves /metrics
	health  bool // serves /healthz and /readyz (probes: httpGet)
}

var listens = map[string][]listen{
	"embedder": {{env: "EMBEDDER_LISTEN", grpc: true}, {env: "EMBEDDER_METRICS_LISTEN", metrics: true}},
	"index":    {{env: "INDEX_LISTEN", grpc: true}, {env: "INDEX_METRICS_LISTEN", metrics: true}},
	"gateway":  {{env: "GATEWAY_GRPC_LISTEN", grpc: true}, {env: "GATEWAY_HTTP_LISTEN", metrics: true, health: true}},
}

// otherEnv are variables the daemons read besides their settings
// (docs/configuration.md names them; the Go runtime reads the GO ones).
var otherEnv = map[string]bool{
	"OMP_NUM_THREADS": true, "ARXIVSEARCH_MODEL_CACHE": true,
	"HF_TOKEN": true, "HF_ENDPOINT": true, "HF_HUB_OFFLINE": true,
	"GOMEMLIMIT": true, "GOMAXPROCS": true, "GOGC": true,
}

// sensitive names a variable or ConfigMap key that holds a credential
// (GATEWAY_WRITE_TOKEN, HF_TOKEN; not EMBEDDER_TOKEN_BUDGET).
var sensitive = regexp.MustCompile(`(?i)(^|[_-])(token|password|secret)$`)

// instanceFields are the downward-API fields an index pod may take its
// -instance from: its name (index-2) or, on Kubernetes 1.28+, its ordinal.
var instanceFields = []string{"metadata.name", "metadata.labels['apps.kubernetes.io/pod-index']"}

// envVar is a container variable as Kubernetes will set it.
type envVar struct {
	value   string // when known: a literal or a ConfigMap value
	known   bool
	source  string // for messages
	secret  bool
	field   string // downward API field path
	missing bool   // refers to something absent from the render
}

type workload struct {
	kind, name string
	replicas   *int32
	tmpl       *corev1.PodTemplateSpec
	sts        *appsv1.StatefulSet
	containers []*container
}

type container struct {
	w     *workload
	c     *corev1.Container
	role  string
	repo  string // without a registry: arxivsearch/index
	tag   string
	image Image
	env   map[string]envVar
	ports map[int32]string // containerPort -> name
	// listen caches listenPorts, so its errors are reported once.
	listen map[string]int32
}

func (c *container) String() string {
	return fmt.Sprintf("%s %s, container %s", c.w.kind, c.w.name, c.c.Name)
}

type checker struct {
	m    *Manifests
	cfg  settings.Config
	imgs map[string]Image
	cms  map[string]*corev1.ConfigMap
	wls  []*workload
	errs []error
}

func (ck *checker) errorf(format string, args ...any) {
	ck.errs = append(ck.errs, fmt.Errorf(format, args...))
}

// Check returns every problem it finds in a render: the services of an
// overlay, with its index-build job when given.
func Check(m *Manifests, p Project) []error {
	ck := &checker{m: m, cfg: p.Settings, imgs: p.Images, cms: map[string]*corev1.ConfigMap{}}
	for _, cm := range m.ConfigMaps {
		ck.cms[cm.Name] = cm
		for k := range cm.Data {
			if sensitive.MatchString(k) {
				ck.errorf("ConfigMap %s: key %s looks like a credential; put it in a Secret and refer to it with secretKeyRef", cm.Name, k)
			}
		}
	}
	ck.namespaces()
	ck.collect()
	for _, w := range ck.wls {
		ck.podSpec(w)
		for _, c := range w.containers {
			ck.containerChecks(c)
		}
	}
	ck.images()
	ck.topology()
	ck.services()
	ck.autoscalers()
	ck.disruptionBudgets()
	ck.ingresses()
	ck.networkPolicies()
	return ck.errs
}

// namespaces: one namespace for everything, so the short DNS names the
// services use for each other resolve.
func (ck *checker) namespaces() {
	nss := map[string]bool{}
	ck.m.each(func(kind string, obj metav1.Object) {
		if kind != "Namespaces" {
			nss[obj.GetNamespace()] = true
		}
	})
	if len(nss) != 1 || nss[""] {
		ck.errorf("objects are in namespaces %v; want all in one, set by the overlay (namespace:)", slices.Sorted(maps.Keys(nss)))
	}
	for _, ns := range ck.m.Namespaces {
		if !nss[ns.Name] {
			ck.errorf("Namespace %s is not the namespace of the objects (%v)", ns.Name, slices.Sorted(maps.Keys(nss)))
		}
	}
}

func (ck *checker) collect() {
	add := func(kind, name string, replicas *int32, tmpl *corev1.PodTemplateSpec, sts *appsv1.StatefulSet) {
		w := &workload{kind: kind, name: name, replicas: replicas, tmpl: tmpl, sts: sts}
		for i := range tmpl.Spec.Containers {
			w.containers = append(w.containers, ck.container(w, &tmpl.Spec.Containers[i]))
		}
		ck.wls = append(ck.wls, w)
	}
	for _, d := range ck.m.Deployments {
		add("Deployment", d.Name, d.Spec.Replicas, &d.Spec.Template, nil)
		ck.selectorMatches("Deployment "+d.Name, d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}
	for _, s := range ck.m.StatefulSets {
		add("StatefulSet", s.Name, s.Spec.Replicas, &s.Spec.Template, s)
		ck.selectorMatches("StatefulSet "+s.Name, s.Spec.Selector.MatchLabels, s.Spec.Template.Labels)
	}
	for _, j := range ck.m.Jobs {
		add("Job", j.Name, nil, &j.Spec.Template, nil)
	}
}

func (ck *checker) selectorMatches(what string, sel, labels map[string]string) {
	if len(sel) == 0 || !matches(sel, labels) {
		ck.errorf("%s: selector %v does not match its pod template's labels %v", what, sel, labels)
	}
}

func matches(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// container resolves a container's image and environment.
func (ck *checker) container(w *workload, c *corev1.Container) *container {
	ct := &container{w: w, c: c, env: map[string]envVar{}, ports: map[int32]string{}}
	ct.repo, ct.tag = splitImage(c.Image)
	for repo, role := range images {
		if ct.repo == repo || strings.HasSuffix(ct.repo, "/"+repo) {
			ct.role, ct.repo = role, repo
		}
	}
	if ct.role == "" {
		ck.errorf("%s: image %q is none of the project's (%v)", ct, c.Image, slices.Sorted(maps.Keys(images)))
	} else if img, ok := ck.imgs[ct.repo]; ok {
		ct.image = img
	} else {
		ck.errorf("%s: no target for %s in deploy/Dockerfile", ct, ct.repo)
	}
	for _, p := range c.Ports {
		if _, dup := ct.ports[p.ContainerPort]; dup {
			ck.errorf("%s: port %d declared twice", ct, p.ContainerPort)
		}
		ct.ports[p.ContainerPort] = p.Name
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, ok := ck.cms[from.ConfigMapRef.Name]
			if !ok {
				if from.ConfigMapRef.Optional == nil || !*from.ConfigMapRef.Optional {
					ck.errorf("%s: envFrom ConfigMap %s is not in the render", ct, from.ConfigMapRef.Name)
				}
				continue
			}
			for k, v := range cm.Data {
				ct.env[from.Prefix+k] = envVar{value: v, known: true, source: "ConfigMap " + cm.Name}
			}
		case from.SecretRef != nil:
			ck.errorf("%s: envFrom Secret %s: refer to each secret variable with secretKeyRef instead, so it is known which settings are secret", ct, from.SecretRef.Name)
		}
	}
	for _, e := range c.Env {
		v := envVar{source: "env"}
		switch {
		case e.ValueFrom == nil:
			v.value, v.known = expand(e.Value, ct.env), true
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			v.source = "ConfigMap " + ref.Name + " key " + ref.Key
			cm, ok := ck.cms[ref.Name]
			val, hasKey := "", false
			if ok {
				val, hasKey = cm.Data[ref.Key]
			}
			optional := ref.Optional != nil && *ref.Optional
			if !hasKey && !optional {
				ck.errorf("%s: variable %s: %s is not in the render", ct, e.Name, v.source)
				v.missing = true
			}
			v.value, v.known = val, hasKey
		case e.ValueFrom.SecretKeyRef != nil:
			v.secret, v.source = true, "Secret "+e.ValueFrom.SecretKeyRef.Name
		case e.ValueFrom.FieldRef != nil:
			v.field, v.source = e.ValueFrom.FieldRef.FieldPath, "field "+e.ValueFrom.FieldRef.FieldPath
		case e.ValueFrom.ResourceFieldRef != nil:
			v.source = "resource " + e.ValueFrom.ResourceFieldRef.Resource
		}
		ct.env[e.Name] = v
	}
	return ct
}

// expand replaces $(NAME) by the value of a variable defined before, as
// Kubernetes does in env values, command and args.
func expand(s string, env map[string]envVar) string {
	return refPattern.ReplaceAllStringFunc(s, func(ref string) string {
		if v, ok := env[ref[2:len(ref)-1]]; ok && v.known {
			return v.value
		}
		return ref
	})
}

var refPattern = regexp.MustCompile(`\$\([A-Za-z_][A-Za-z0-9_.-]*\)`)

// splitImage splits "registry/arxivsearch/index:1.2@sha256:..." into the
// repository and the tag.
func splitImage(ref string) (repo, tag string) {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}

func (ck *checker) podSpec(w *workload) {
	spec := &w.tmpl.Spec
	if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
		ck.errorf("%s %s: pod securityContext.runAsNonRoot is not true", w.kind, w.name)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		ck.errorf("%s %s: automountServiceAccountToken is not false; no service talks to the Kubernetes API", w.kind, w.name)
	}
	volumes := map[string]*corev1.Volume{}
	for i := range spec.Volumes {
		v := &spec.Volumes[i]
		volumes[v.Name] = v
		if v.PersistentVolumeClaim != nil && !slices.ContainsFunc(ck.m.PVCs, func(p *corev1.PersistentVolumeClaim) bool { return p.Name == v.PersistentVolumeClaim.ClaimName }) {
			ck.errorf("%s %s: volume %s: PersistentVolumeClaim %s is not in the render", w.kind, w.name, v.Name, v.PersistentVolumeClaim.ClaimName)
		}
	}
	claims := map[string]bool{}
	if w.sts != nil {
		for _, t := range w.sts.Spec.VolumeClaimTemplates {
			claims[t.Name] = true
		}
	}
	for _, c := range w.containers {
		for _, m := range c.c.VolumeMounts {
			if volumes[m.Name] == nil && !claims[m.Name] {
				ck.errorf("%s: volume mount %s names no volume or claim template", c, m.Name)
			}
		}
	}
}

func (ck *checker) containerChecks(c *container) {
	ck.envNames(c)
	ck.resources(c)
	ck.security(c)
	ck.imageFit(c)
	if c.role == "pipeline" || c.role == "" {
		return
	}
	if c.role == "index" && c.w.kind != "StatefulSet" {
		ck.errorf("%s: the index keeps its shards on a volume of its own and is found by a stable name: run it in a StatefulSet", c)
	}
	ck.portsAndProbes(c)
	ck.gpu(c)
	if c.role == "index" && c.w.sts != nil {
		ck.dataDir(c)
	}
}

func (ck *checker) envNames(c *container) {
	for _, name := range slices.Sorted(maps.Keys(c.env)) {
		v := c.env[name]
		if sensitive.MatchString(name) && !v.secret {
			ck.errorf("%s: %s comes from %s; a credential must come from a Secret (secretKeyRef)", c, name, v.source)
		}
		daemon := settings.DaemonOfEnv(name)
		switch {
		case c.role == "pipeline" && daemon != "":
			ck.errorf("%s: %s is a %s setting, which the pipeline does not read; name the variable otherwise", c, name, daemon)
		case c.role == "pipeline" || c.role == "":
		case daemon == "" && !otherEnv[name]:
			ck.errorf("%s: %s is no variable the %s reads (docs/configuration.md)", c, name, c.role)
		case daemon != "" && daemon != c.role:
			ck.errorf("%s: %s is a %s setting, set on the %s", c, name, daemon, c.role)
		case daemon != "":
			if _, ok := ck.cfg.Env(daemon, name); !ok {
				ck.errorf("%s: %s is not a %s setting in docs/configuration.md", c, name, daemon)
			}
		}
	}
}

func (ck *checker) resources(c *container) {
	r := c.c.Resources
	for _, need := range []struct {
		list corev1.ResourceList
		what string
		name corev1.ResourceName
	}{{r.Requests, "requests", corev1.ResourceCPU}, {r.Requests, "requests", corev1.ResourceMemory}, {r.Limits, "limits", corev1.ResourceMemory}} {
		if _, ok := need.list[need.name]; !ok {
			ck.errorf("%s: no resources.%s.%s", c, need.what, need.name)
		}
	}
	for name, req := range r.Requests {
		if lim, ok := r.Limits[name]; ok && req.Cmp(lim) > 0 {
			ck.errorf("%s: %s request %s is above its limit %s", c, name, req.String(), lim.String())
		}
	}
}

func (ck *checker) security(c *container) {
	sc := c.c.SecurityContext
	switch {
	case sc == nil:
		ck.errorf("%s: no securityContext", c)
		return
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		ck.errorf("%s: readOnlyRootFilesystem is not true", c)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		ck.errorf("%s: allowPrivilegeEscalation is not false", c)
	case sc.Privileged != nil && *sc.Privileged:
		ck.errorf("%s: privileged", c)
	case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
		ck.errorf("%s: capabilities are not dropped (drop: [ALL], no add)", c)
	}
}

// imageFit: the pod runs the image the way its Dockerfile target expects.
func (ck *checker) imageFit(c *container) {
	for _, v := range c.image.Volumes {
		if !slices.ContainsFunc(c.c.VolumeMounts, func(m corev1.VolumeMount) bool { return filepath.Clean(m.MountPath) == filepath.Clean(v) }) {
			ck.errorf("%s: the image declares VOLUME %s and nothing is mounted there: a runtime that gives image volumes storage of their own would write it outside the pod's volumes", c, v)
		}
	}
	var uid *int64
	if sc := c.w.tmpl.Spec.SecurityContext; sc != nil && sc.RunAsUser != nil {
		uid = sc.RunAsUser
	}
	if sc := c.c.SecurityContext; sc != nil && sc.RunAsUser != nil {
		uid = sc.RunAsUser
	}
	if c.role == "" {
		return
	}
	user, _, _ := strings.Cut(c.image.User, ":")
	if n, err := strconv.ParseInt(user, 10, 64); err == nil && uid != nil && *uid != n {
		ck.errorf("%s: runs as user %d, the image as %d, whose files (such as its data directories) it owns", c, *uid, n)
	}
	if uid == nil {
		ck.errorf("%s: no runAsUser: with runAsNonRoot, Kubernetes needs a numeric user to start it", c)
	}
}

// setting returns a daemon setting's value in c: the variable when it is
// set to a known value, else the image's, else the documented default.
func (ck *checker) setting(c *container, name string) (string, bool) {
	if v, ok := c.env[name]; ok {
		if !v.known {
			if !v.missing { // else reported where it was resolved
				ck.errorf("%s: %s comes from %s; it must be a literal or a ConfigMap value", c, name, v.source)
			}
			return "", false
		}
		return v.value, true
	}
	if v, ok := c.image.Env[name]; ok {
		return v, true
	}
	s, ok := ck.cfg.Env(c.role, name)
	if !ok {
		ck.errorf("docs/configuration.md has no %s setting %s", c.role, name)
		return "", false
	}
	if s.Default == "(empty)" {
		return "", true
	}
	return s.Default, true
}

// listenPorts returns the ports a daemon container listens on, by setting.
func (ck *checker) listenPorts(c *container) map[string]int32 {
	if c.listen != nil {
		return c.listen
	}
	out := map[string]int32{}
	c.listen = out
	for _, l := range listens[c.role] {
		addr, ok := ck.setting(c, l.env)
		if !ok {
			continue
		}
		if addr == "" {
			if !l.metrics || l.health {
				ck.errorf("%s: %s is empty", c, l.env)
			}
			continue
		}
		host, port, err := net.SplitHostPort(addr)
		n, perr := strconv.Atoi(port)
		if err != nil || perr != nil || n < 1 || n > 65535 {
			ck.errorf("%s: %s=%q is not host:port", c, l.env, addr)
			continue
		}
		if host != "" && host != "0.0.0.0" && host != "::" {
			ck.errorf("%s: %s=%q listens on %s only; probes and other pods could not reach it", c, l.env, addr, host)
		}
		out[l.env] = int32(n)
	}
	return out
}

func (ck *checker) portsAndProbes(c *container) {
	lp := ck.listenPorts(c)
	byPort := map[int32]listen{}
	for _, l := range listens[c.role] {
		if p, ok := lp[l.env]; ok {
			byPort[p] = l
			if _, declared := c.ports[p]; !declared {
				ck.errorf("%s: listens on %d (%s) but declares no containerPort %d", c, p, l.env, p)
			}
		}
	}
	for p := range c.ports {
		if _, ok := byPort[p]; !ok {
			ck.errorf("%s: containerPort %d is no port the %s listens on (%v)", c, p, c.role, lp)
		}
	}
	probes := []struct {
		kind string
		p    *corev1.Probe
	}{{"startup", c.c.StartupProbe}, {"readiness", c.c.ReadinessProbe}, {"liveness", c.c.LivenessProbe}}
	for _, pr := range probes {
		if pr.p == nil {
			if pr.kind != "startup" {
				ck.errorf("%s: no %s probe", c, pr.kind)
			}
			continue
		}
		h := pr.p.ProbeHandler
		switch {
		case h.GRPC != nil:
			l, ok := byPort[h.GRPC.Port]
			if !ok || !l.grpc {
				ck.errorf("%s: %s probe: grpc port %d is not the %s's gRPC port", c, pr.kind, h.GRPC.Port, c.role)
			}
			if h.GRPC.Service != nil && *h.GRPC.Service != "" {
				ck.errorf("%s: %s probe: grpc service %q; probe the server as a whole (\"\")", c, pr.kind, *h.GRPC.Service)
			}
		case h.HTTPGet != nil:
			port, ok := c.resolvePort(h.HTTPGet.Port)
			l := byPort[port]
			if !ok || !l.health {
				ck.errorf("%s: %s probe: httpGet port %s is not a port that serves /healthz and /readyz", c, pr.kind, portString(h.HTTPGet.Port))
			}
			// Liveness must not depend on the backends: a gateway restarted
			// because an index pod is down would not bring it back.
			want := "/healthz"
			if pr.kind == "readiness" {
				want = "/readyz"
			}
			if h.HTTPGet.Path != want {
				ck.errorf("%s: %s probe: path %q, want %s", c, pr.kind, h.HTTPGet.Path, want)
			}
		case h.TCPSocket != nil:
			if _, ok := c.resolvePort(h.TCPSocket.Port); !ok {
				ck.errorf("%s: %s probe: tcpSocket port %s is not declared", c, pr.kind, portString(h.TCPSocket.Port))
			}
		default:
			ck.errorf("%s: %s probe is not grpc, httpGet or tcpSocket (the images carry no tools for exec)", c, pr.kind)
		}
	}
	// gRPC health says NOT_SERVING while a daemon loads (model, shards):
	// liveness by it alone would restart a slow start for ever.
	if l := c.c.LivenessProbe; l != nil && l.GRPC != nil && c.c.StartupProbe == nil {
		ck.errorf("%s: gRPC liveness probe without a startup probe would kill the %s while it loads", c, c.role)
	}
	ann := c.w.tmpl.Annotations
	if ann["prometheus.io/scrape"] != "true" {
		ck.errorf("%s %s: pod annotation prometheus.io/scrape is not \"true\"", c.w.kind, c.w.name)
		return
	}
	for _, l := range listens[c.role] {
		if !l.metrics {
			continue
		}
		port, ok := lp[l.env]
		switch got := ann["prometheus.io/port"]; {
		case !ok:
			ck.errorf("%s %s: scraped, but %s is empty: the %s serves no /metrics", c.w.kind, c.w.name, l.env, c.role)
		case got != strconv.Itoa(int(port)):
			ck.errorf("%s %s: prometheus.io/port %q, but the %s serves /metrics on %d", c.w.kind, c.w.name, got, c.role, port)
		}
	}
	if p, ok := ann["prometheus.io/path"]; ok && p != "/metrics" {
		ck.errorf("%s %s: prometheus.io/path %q, want /metrics", c.w.kind, c.w.name, p)
	}
}

func (c *container) resolvePort(p intstr.IntOrString) (int32, bool) {
	if p.Type == intstr.Int {
		_, ok := c.ports[p.IntVal]
		return p.IntVal, ok
	}
	for n, name := range c.ports {
		if name != "" && name == p.StrVal {
			return n, true
		}
	}
	return 0, false
}

const gpuResource = corev1.ResourceName("nvidia.com/gpu")

func (ck *checker) gpu(c *container) {
	_, hasGPU := c.c.Resources.Limits[gpuResource]
	cudaImage := strings.HasSuffix(c.repo, "-cuda")
	device := ""
	if c.role == "embedder" {
		device, _ = ck.setting(c, "EMBEDDER_DEVICE")
	}
	wantsGPU := strings.HasPrefix(device, "cuda")
	switch {
	case hasGPU && c.role != "embedder":
		ck.errorf("%s: asks for a GPU, which only the embedder uses", c)
	case hasGPU && !wantsGPU:
		ck.errorf("%s: has a GPU but EMBEDDER_DEVICE=%q runs on the CPU", c, device)
	case hasGPU && !cudaImage:
		ck.errorf("%s: has a GPU but image %s has the CPU-only ONNX Runtime; use arxivsearch/embedder-cuda", c, c.repo)
	case wantsGPU && !hasGPU:
		ck.errorf("%s: EMBEDDER_DEVICE=%q but no nvidia.com/gpu limit; it would fall back to the CPU", c, device)
	case cudaImage && !hasGPU:
		ck.errorf("%s: CUDA image without a nvidia.com/gpu limit", c)
	}
}

// dataDir: the shards must live on the pod's own persistent volume.
func (ck *checker) dataDir(c *container) {
	dir, ok := ck.setting(c, "INDEX_DATA_DIR")
	if !ok {
		return
	}
	var best *corev1.VolumeMount
	for i, m := range c.c.VolumeMounts {
		if (dir == m.MountPath || strings.HasPrefix(dir, strings.TrimSuffix(m.MountPath, "/")+"/")) && (best == nil || len(m.MountPath) > len(best.MountPath)) {
			best = &c.c.VolumeMounts[i]
		}
	}
	if best == nil {
		ck.errorf("%s: INDEX_DATA_DIR=%s is on no volume; with a read-only root file system the index cannot write it, and without a volume its shards would be lost", c, dir)
		return
	}
	if !slices.ContainsFunc(c.w.sts.Spec.VolumeClaimTemplates, func(t corev1.PersistentVolumeClaim) bool { return t.Name == best.Name }) {
		ck.errorf("%s: INDEX_DATA_DIR=%s is on volume %s, which is not one of the StatefulSet's volume claim templates: the shards would not survive the pod", c, dir, best.Name)
	}
	if best.ReadOnly {
		ck.errorf("%s: INDEX_DATA_DIR=%s is on a read-only mount", c, dir)
	}
}

// images: every image of the project is pinned, to one release.
func (ck *checker) images() {
	tags := map[string][]string{}
	for _, w := range ck.wls {
		for _, c := range w.containers {
			if c.role == "" {
				continue
			}
			switch c.tag {
			case "":
				ck.errorf("%s: image %s has no tag; set it with the overlay's images:", c, c.c.Image)
			case "latest":
				ck.errorf("%s: image %s: pin a release, not latest", c, c.c.Image)
			}
			tags[c.tag] = append(tags[c.tag], c.repo)
		}
	}
	if len(tags) > 1 {
		ck.errorf("images of different releases: %v; the services and the job are one release", tags)
	}
}

func (ck *checker) byRole(role string) []*container {
	var out []*container
	for _, w := range ck.wls {
		for _, c := range w.containers {
			if c.role == role {
				out = append(out, c)
			}
		}
	}
	return out
}

// topology checks that the gateway (and the build job) address exactly the
// index pods, and that the pods' shard plan covers the collection.
func (ck *checker) topology() {
	indexes, gateways := ck.byRole("index"), ck.byRole("gateway")
	if len(indexes) != 1 || len(gateways) == 0 {
		if len(indexes)+len(gateways) > 0 {
			ck.errorf("want one index StatefulSet and a gateway; have %d index and %d gateway containers", len(indexes), len(gateways))
		}
		return
	}
	ix := indexes[0]
	sts := ix.w.sts
	if sts == nil {
		return
	}
	replicas := 1
	if sts.Spec.Replicas != nil {
		replicas = int(*sts.Spec.Replicas)
	}
	totalStr, _ := ck.setting(ix, "INDEX_TOTAL_SHARDS")
	total, err := strconv.Atoi(totalStr)
	if err != nil {
		ck.errorf("%s: INDEX_TOTAL_SHARDS=%q is not a number", ix, totalStr)
		return
	}
	var sets [][]int
	plan, hasPlan := ck.setting(ix, "INDEX_SHARD_ASSIGNMENT")
	if shards, _ := ck.setting(ix, "INDEX_SHARDS"); strings.TrimSpace(shards) != "" {
		ck.errorf("%s: INDEX_SHARDS=%q gives every pod the same shards; give each its own with INDEX_SHARD_ASSIGNMENT and INDEX_INSTANCE", ix, shards)
		return
	}
	if !hasPlan || strings.TrimSpace(plan) == "" {
		ck.errorf("%s: no INDEX_SHARD_ASSIGNMENT: every pod would own every shard", ix)
		return
	}
	if sets, err = shardset.ParseAssignment(plan, total); err != nil {
		ck.errorf("%s: %v", ix, err)
		return
	}
	if inst, ok := ix.env["INDEX_INSTANCE"]; !ok || !slices.Contains(instanceFields, inst.field) {
		ck.errorf("%s: INDEX_INSTANCE must come from the pod's name (fieldRef %s), so each pod picks its own list; it comes from %s", ix, instanceFields[0], inst.source)
	}
	if len(sets) != replicas {
		ck.errorf("StatefulSet %s: %d replicas, but INDEX_SHARD_ASSIGNMENT %q has lists for %d pods; change both together", sts.Name, replicas, plan, len(sets))
	}
	// Every shard as many replicas: pods of equal load, and one number to
	// reason about for disruptions.
	rf := make([]int, total)
	for _, set := range sets {
		for _, sh := range set {
			rf[sh]++
		}
	}
	minRF, maxRF := slices.Min(rf), slices.Max(rf)
	if minRF != maxRF {
		ck.errorf("%s: INDEX_SHARD_ASSIGNMENT %q puts shard %d on %d pods and shard %d on %d; give every shard the same number of replicas",
			ix, plan, slices.Index(rf, maxRF), maxRF, slices.Index(rf, minRF), minRF)
	}
	if !exactCover(sets, total) {
		ck.errorf("%s: INDEX_SHARD_ASSIGNMENT %q: no set of pods holds every shard exactly once, which the gateway needs to count categories (GET /v1/categories answers FAILED_PRECONDITION)", ix, plan)
	}
	ck.headless(sts, ix)

	lp := ck.listenPorts(ix)
	grpcPort := lp["INDEX_LISTEN"]
	want := map[string]bool{}
	for i := range replicas {
		want[fmt.Sprintf("%s-%d", sts.Name, i)] = true
	}
	ns := sts.Namespace
	checkIndexAddrs := func(c *container, what, list string) []string {
		var pods []string
		seen := map[string]bool{}
		for a := range strings.SplitSeq(list, ",") {
			a = strings.TrimSpace(a)
			host, port, err := net.SplitHostPort(a)
			if err != nil {
				ck.errorf("%s: %s: %q is not host:port", c, what, a)
				continue
			}
			pod, svc, _ := strings.Cut(host, ".")
			if !slices.Contains(dnsSuffixes(sts.Spec.ServiceName, ns), svc) || !want[pod] {
				ck.errorf("%s: %s: %s is no pod of StatefulSet %s (want %s-N.%s with N in 0..%d)", c, what, host, sts.Name, sts.Name, sts.Spec.ServiceName, replicas-1)
				continue
			}
			if port != strconv.Itoa(int(grpcPort)) {
				ck.errorf("%s: %s: %s: port %s, but the index listens on %d", c, what, a, port, grpcPort)
			}
			if seen[pod] {
				ck.errorf("%s: %s: %s named twice", c, what, pod)
			}
			seen[pod] = true
			pods = append(pods, pod)
		}
		if len(seen) != replicas {
			var missing []string
			for p := range want {
				if !seen[p] {
					missing = append(missing, p)
				}
			}
			slices.Sort(missing)
			ck.errorf("%s: %s names %d index pods, the StatefulSet has %d (missing %v): the shards of the others would be %s", c, what, len(seen), replicas, missing,
				map[bool]string{true: "searched by no one", false: "unknown"}[c.role == "gateway"])
		}
		return pods
	}
	gw := gateways[0]
	gwIndex, ok := ck.setting(gw, "GATEWAY_INDEX_ADDRS")
	if !ok {
		return
	}
	gwPods := checkIndexAddrs(gw, "GATEWAY_INDEX_ADDRS", gwIndex)
	for _, other := range gateways[1:] {
		if v, _ := ck.setting(other, "GATEWAY_INDEX_ADDRS"); v != gwIndex {
			ck.errorf("%s: GATEWAY_INDEX_ADDRS differs from %s's", other, gw)
		}
	}
	gwEmb, ok := ck.setting(gw, "GATEWAY_EMBEDDER_ADDR")
	if ok {
		ck.embedderAddrs(gw, gwEmb)
	}

	// Each shard needs a live replica for the gateway to answer: a
	// disruption budget may let go of fewer pods than any shard has
	// replicas.
	for _, pdb := range ck.m.PDBs {
		if pdb.Spec.Selector == nil || !matches(pdb.Spec.Selector.MatchLabels, sts.Spec.Template.Labels) {
			continue
		}
		allowed := 0
		switch {
		case pdb.Spec.MaxUnavailable != nil:
			allowed, _ = intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, replicas, true)
		case pdb.Spec.MinAvailable != nil:
			minAvail, _ := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, replicas, true)
			allowed = replicas - minAvail
		}
		if allowed > minRF-1 {
			ck.errorf("PodDisruptionBudget %s lets %d index pods go at once, but some shard has only %d replica(s): it would go offline", pdb.Name, allowed, minRF)
		}
	}
	// With replicas, a rolling update keeps every shard served only if
	// the gateway has seen a restarted pod up before the next one stops.
	if minRF >= 2 {
		refresh, _ := ck.setting(gw, "GATEWAY_INDEX_REFRESH")
		if d, err := time.ParseDuration(refresh); err == nil && time.Duration(sts.Spec.MinReadySeconds)*time.Second < d {
			ck.errorf("StatefulSet %s: minReadySeconds %d is shorter than the gateway's index refresh (%s): a rolling update could stop a shard's last replica the gateway knows to be up", sts.Name, sts.Spec.MinReadySeconds, refresh)
		}
	}

	for _, job := range ck.byRole("pipeline") {
		flags := ck.buildIndexFlags(job)
		if flags == nil {
			continue
		}
		pods := checkIndexAddrs(job, "-index", flags["index"])
		slices.Sort(pods)
		sortedGw := slices.Sorted(slices.Values(gwPods))
		if !slices.Equal(pods, sortedGw) {
			ck.errorf("%s: -index names pods %v, the gateway %v", job, pods, sortedGw)
		}
		if flags["embedder"] != gwEmb {
			ck.errorf("%s: -embedder %q, the gateway's GATEWAY_EMBEDDER_ADDR %q", job, flags["embedder"], gwEmb)
		}
		ck.embedderAddrs(job, flags["embedder"])
	}
}

// dnsSuffixes are the forms of a Service's name that resolve from a pod of
// the same namespace.
func dnsSuffixes(svc, ns string) []string {
	return []string{svc, svc + "." + ns, svc + "." + ns + ".svc", svc + "." + ns + ".svc.cluster.local"}
}

func (ck *checker) headless(sts *appsv1.StatefulSet, ix *container) {
	for _, s := range ck.m.Services {
		if s.Name != sts.Spec.ServiceName {
			continue
		}
		if s.Spec.ClusterIP != corev1.ClusterIPNone {
			ck.errorf("Service %s (the StatefulSet's serviceName) is not headless (clusterIP: None): the pods get no DNS names of their own", s.Name)
		}
		if !matches(s.Spec.Selector, sts.Spec.Template.Labels) {
			ck.errorf("Service %s does not select the pods of StatefulSet %s", s.Name, sts.Name)
		}
		return
	}
	ck.errorf("StatefulSet %s: serviceName %s is not a Service in the render", sts.Name, sts.Spec.ServiceName)
}

// embedderAddrs: every address is a headless Service over the embedders,
// on their gRPC port.
func (ck *checker) embedderAddrs(c *container, list string) {
	embs := ck.byRole("embedder")
	if len(embs) == 0 {
		ck.errorf("no embedder in the render")
		return
	}
	grpcPort := ck.listenPorts(embs[0])["EMBEDDER_LISTEN"]
	for a := range strings.SplitSeq(list, ",") {
		a = strings.TrimSpace(a)
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			ck.errorf("%s: embedder address %q is not host:port", c, a)
			continue
		}
		name, _, _ := strings.Cut(host, ".")
		var svc *corev1.Service
		for _, s := range ck.m.Services {
			if s.Name == name && slices.Contains(dnsSuffixes(name, s.Namespace), host) {
				svc = s
			}
		}
		if svc == nil || !matches(svc.Spec.Selector, embs[0].w.tmpl.Labels) {
			ck.errorf("%s: embedder address %s: no Service %s selecting the embedder pods", c, a, name)
			continue
		}
		// Headless: the name resolves to every ready pod, which the
		// gateway's round-robin balancing spreads calls over; a ClusterIP
		// is one address, one connection, one busy pod. So the address's
		// port is the pods' own, not one a Service translates.
		if svc.Spec.ClusterIP != corev1.ClusterIPNone {
			ck.errorf("%s: embedder address %s: Service %s is not headless (clusterIP: None): every call would go to one embedder pod", c, a, name)
		}
		ok := false
		for _, p := range svc.Spec.Ports {
			target, found := embs[0].resolvePort(targetPort(p))
			if strconv.Itoa(int(p.Port)) == port && found && target == grpcPort && port == strconv.Itoa(int(grpcPort)) {
				ok = true
			}
		}
		if !ok {
			ck.errorf("%s: embedder address %s: Service %s has no port %s that is the embedder's gRPC port %d", c, a, name, port, grpcPort)
		}
	}
}

func portString(p intstr.IntOrString) string { return p.String() }

func targetPort(p corev1.ServicePort) intstr.IntOrString {
	if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0 {
		return intstr.FromInt32(p.Port)
	}
	return p.TargetPort
}

// buildIndexFlags reads the flags of an `arxivsearch build-index` command.
func (ck *checker) buildIndexFlags(c *container) map[string]string {
	var argv []string
	cmd := c.c.Command
	if len(cmd) == 0 {
		cmd = c.image.Entrypoint
	}
	for _, a := range append(slices.Clone(cmd), c.c.Args...) {
		argv = append(argv, expand(a, c.env))
	}
	i := slices.Index(argv, "build-index")
	if i < 0 {
		ck.errorf("%s: runs %v, not arxivsearch build-index", c, argv)
		return nil
	}
	flags := map[string]string{}
	for j := i + 1; j < len(argv); j++ {
		if !strings.HasPrefix(argv[j], "-") {
			continue
		}
		name := strings.TrimLeft(argv[j], "-")
		if k, v, eq := strings.Cut(name, "="); eq {
			flags[k] = v
		} else if name != "force" && j+1 < len(argv) {
			flags[name] = argv[j+1]
			j++
		}
	}
	for _, f := range []string{"index", "embedder", "input"} {
		if refPattern.MatchString(flags[f]) {
			ck.errorf("%s: -%s=%s refers to a variable that is not set to a known value", c, f, flags[f])
			return nil
		}
		if flags[f] == "" {
			ck.errorf("%s: build-index without -%s", c, f)
			return nil
		}
	}
	return flags
}

// services: each selects pods and reaches a declared port of theirs.
func (ck *checker) services() {
	for _, s := range ck.m.Services {
		var sel []*workload
		for _, w := range ck.wls {
			if matches(s.Spec.Selector, w.tmpl.Labels) {
				sel = append(sel, w)
			}
		}
		if len(sel) == 0 {
			ck.errorf("Service %s: selector %v selects no pods", s.Name, s.Spec.Selector)
			continue
		}
		for _, p := range s.Spec.Ports {
			for _, w := range sel {
				found := false
				for _, c := range w.containers {
					if _, ok := c.resolvePort(targetPort(p)); ok {
						found = true
					}
				}
				if !found {
					ck.errorf("Service %s: port %s targets %s, which %s %s does not declare", s.Name, p.Name, portString(targetPort(p)), w.kind, w.name)
				}
			}
		}
	}
}

func (ck *checker) autoscalers() {
	for _, h := range ck.m.HPAs {
		ref := h.Spec.ScaleTargetRef
		var target *workload
		for _, w := range ck.wls {
			if w.kind == ref.Kind && w.name == ref.Name {
				target = w
			}
		}
		switch {
		case target == nil:
			ck.errorf("HorizontalPodAutoscaler %s: target %s %s is not in the render", h.Name, ref.Kind, ref.Name)
			continue
		case target.kind != "Deployment":
			ck.errorf("HorizontalPodAutoscaler %s: scales %s %s; only the stateless Deployments scale by themselves (index pods own fixed shards)", h.Name, ref.Kind, ref.Name)
		case target.replicas != nil:
			ck.errorf("HorizontalPodAutoscaler %s: Deployment %s sets replicas, which every apply would reset under the autoscaler", h.Name, ref.Name)
		}
		if h.Spec.MinReplicas != nil && *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			ck.errorf("HorizontalPodAutoscaler %s: minReplicas %d above maxReplicas %d", h.Name, *h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		for _, m := range h.Spec.Metrics {
			if m.Resource == nil {
				continue
			}
			for _, c := range target.containers {
				if _, ok := c.c.Resources.Requests[m.Resource.Name]; !ok {
					ck.errorf("HorizontalPodAutoscaler %s: scales on %s, which %s does not request", h.Name, m.Resource.Name, c)
				}
			}
		}
	}
}

func (ck *checker) disruptionBudgets() {
	for _, p := range ck.m.PDBs {
		var sel map[string]string
		if p.Spec.Selector != nil {
			sel = p.Spec.Selector.MatchLabels
		}
		if !slices.ContainsFunc(ck.wls, func(w *workload) bool { return matches(sel, w.tmpl.Labels) }) {
			ck.errorf("PodDisruptionBudget %s: selector %v selects no pods", p.Name, sel)
		}
	}
}

func (ck *checker) ingresses() {
	for _, in := range ck.m.Ingresses {
		for _, r := range in.Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			for _, path := range r.HTTP.Paths {
				b := path.Backend.Service
				if b == nil {
					ck.errorf("Ingress %s: path %s has no service backend", in.Name, path.Path)
					continue
				}
				i := slices.IndexFunc(ck.m.Services, func(s *corev1.Service) bool { return s.Name == b.Name })
				if i < 0 {
					ck.errorf("Ingress %s: Service %s is not in the render", in.Name, b.Name)
					continue
				}
				if !slices.ContainsFunc(ck.m.Services[i].Spec.Ports, func(p corev1.ServicePort) bool {
					return (b.Port.Name != "" && p.Name == b.Port.Name) || (b.Port.Number != 0 && p.Port == b.Port.Number)
				}) {
					ck.errorf("Ingress %s: Service %s has no port %s%d", in.Name, b.Name, b.Port.Name, b.Port.Number)
				}
			}
		}
	}
}

// exactCover reports whether some of the sets together hold every shard
// exactly once.
func exactCover(sets [][]int, total int) bool {
	used := make([]bool, total)
	var search func(from, left int) bool
	search = func(from, left int) bool {
		if left == 0 {
			return true
		}
		for i := from; i < len(sets); i++ {
			if slices.ContainsFunc(sets[i], func(sh int) bool { return used[sh] }) {
				continue
			}
			for _, sh := range sets[i] {
				used[sh] = true
			}
			if search(i+1, left-len(sets[i])) {
				return true
			}
			for _, sh := range sets[i] {
				used[sh] = false
			}
		}
		return false
	}
	return search(0, total)
}

// networkPolicies: where a policy isolates a service, what the system
// needs still gets through: the gateway and the build job to the
// embedder's and the index's gRPC, Prometheus (in any namespace) to
// metrics, anyone to the gateway.
func (ck *checker) networkPolicies() {
	flows := []struct{ from, to, env string }{ // from "": any pod, any namespace
		{"gateway", "index", "INDEX_LISTEN"}, {"gateway", "embedder", "EMBEDDER_LISTEN"},
		{"pipeline", "index", "INDEX_LISTEN"}, {"pipeline", "embedder", "EMBEDDER_LISTEN"},
		{"", "index", "INDEX_METRICS_LISTEN"}, {"", "embedder", "EMBEDDER_METRICS_LISTEN"},
		{"", "gateway", "GATEWAY_HTTP_LISTEN"},
	}
	for _, p := range ck.m.NetworkPolicies {
		if !slices.ContainsFunc(ck.wls, func(w *workload) bool { return selects(&p.Spec.PodSelector, w.tmpl.Labels) }) {
			ck.errorf("NetworkPolicy %s selects no pods", p.Name)
		}
	}
	for _, f := range flows {
		for _, srv := range ck.byRole(f.to) {
			port, ok := ck.listenPorts(srv)[f.env]
			if !ok {
				continue
			}
			var policies []*networkingv1.NetworkPolicy
			for _, p := range ck.m.NetworkPolicies {
				if selects(&p.Spec.PodSelector, srv.w.tmpl.Labels) && isolatesIngress(p) {
					policies = append(policies, p)
				}
			}
			if len(policies) == 0 {
				continue
			}
			clients := []*container{nil}
			if f.from != "" {
				clients = ck.byRole(f.from)
			}
			for _, cl := range clients {
				admitted := slices.ContainsFunc(policies, func(p *networkingv1.NetworkPolicy) bool {
					return slices.ContainsFunc(p.Spec.Ingress, func(r networkingv1.NetworkPolicyIngressRule) bool {
						return admitsPort(r.Ports, srv, port) && admitsPeer(r.From, p.Namespace, cl)
					})
				})
				if !admitted {
					who := "other namespaces (Prometheus)"
					if cl != nil {
						who = cl.w.kind + " " + cl.w.name
					}
					ck.errorf("NetworkPolicy: %s cannot reach %s on %d (%s)", who, srv, port, f.env)
				}
			}
		}
	}
}

func selects(sel *metav1.LabelSelector, podLabels map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(podLabels))
}

func isolatesIngress(p *networkingv1.NetworkPolicy) bool {
	// Without policyTypes, a policy isolates ingress (always) and egress
	// (when it has egress rules).
	return len(p.Spec.PolicyTypes) == 0 || slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
}

func admitsPort(ports []networkingv1.NetworkPolicyPort, srv *container, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	return slices.ContainsFunc(ports, func(p networkingv1.NetworkPolicyPort) bool {
		if p.Port == nil {
			return true
		}
		n, ok := srv.resolvePort(*p.Port)
		if !ok {
			return false
		}
		if p.EndPort != nil {
			return n <= port && port <= *p.EndPort
		}
		return n == port
	})
}

// admitsPeer reports whether from admits client, a pod of namespace ns;
// a nil client stands for a pod in some other namespace.
func admitsPeer(from []networkingv1.NetworkPolicyPeer, ns string, client *container) bool {
	if len(from) == 0 {
		return true
	}
	return slices.ContainsFunc(from, func(p networkingv1.NetworkPolicyPeer) bool {
		if p.IPBlock != nil {
			return false // pod addresses are not known here
		}
		if client == nil {
			// Only a selector of every namespace is sure to include it.
			return p.NamespaceSelector != nil && len(p.NamespaceSelector.MatchLabels)+len(p.NamespaceSelector.MatchExpressions) == 0 &&
				(p.PodSelector == nil || len(p.PodSelector.MatchLabels)+len(p.PodSelector.MatchExpressions) == 0)
		}
		if p.NamespaceSelector != nil && !selects(p.NamespaceSelector, map[string]string{"kubernetes.io/metadata.name": ns}) {
			return false
		}
		return p.PodSelector == nil || selects(p.PodSelector, client.w.tmpl.Labels)
	})
}
