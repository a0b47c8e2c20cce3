// Package compose checks docker-compose.yaml against what the services
// read: docs/configuration.md (every setting and its environment twin),
// deploy/Dockerfile (targets, image environment, health checks, users,
// ports) and deploy/prometheus (scrape targets). Check returns every
// problem found, so one test run names them all.
package compose

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/arxivsearch/arxivsearch/deploy/internal/settings"
	"github.com/arxivsearch/arxivsearch/deploy/internal/stack"
	"github.com/arxivsearch/arxivsearch/deploy/monitoring"
	"github.com/arxivsearch/arxivsearch/platform/shardset"
	"github.com/compose-spec/compose-go/v2/types"
)

// OTLPService is the compose service that receives traces.
const OTLPService = "jaeger"

// OTLPPort is the OTLP/gRPC port of the trace backend.
const OTLPPort = "4317"

// processEnv are variables a service may set besides its daemon's own
// settings: documented process environment (configuration.md: OMP threads;
// embedder.md: the Hugging Face download settings).
var processEnv = []string{"OMP_NUM_THREADS", "HF_TOKEN", "HF_ENDPOINT", "HF_HUB_OFFLINE", "ARXIVSEARCH_MODEL_CACHE"}

// buildTools must not be installed in an image that runs a service.
var buildTools = []string{"gcc", "g++", "make", "build-essential", "golang", "npm", "nodejs", "git", "curl", "wget", "cmake", "libfaiss-dev"}

// requiredLabels every built image carries.
var requiredLabels = []string{"org.opencontainers.image.title", "org.opencontainers.image.source", "org.opencontainers.image.version"}

// Check returns the problems of a loaded stack with scrape configuration
// prom; none means the compose file, the Dockerfile, the documented
// settings and the Prometheus targets agree.
func Check(s *stack.Stack, prom *monitoring.ScrapeConfig) []string {
	c := &checker{s: s, prom: prom}
	c.images()
	c.environment()
	c.ports()
	c.addresses()
	c.shards()
	c.tracing()
	c.dependencies()
	c.stopGrace()
	c.volumes()
	c.paths()
	c.scrapeTargets()
	c.grafana()
	c.gpu()
	c.job()
	sort.Strings(c.problems)
	return c.problems
}

type checker struct {
	s        *stack.Stack
	prom     *monitoring.ScrapeConfig
	problems []string
}

func (c *checker) addf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// daemon returns a service's daemon, recording a problem on error.
func (c *checker) daemon(svc types.ServiceConfig) string {
	d, err := c.s.Daemon(svc)
	if err != nil {
		c.addf("service %s: %v", svc.Name, err)
	}
	return d
}

// pinned reports whether an image reference names a fixed tag.
func pinned(ref string) bool {
	if strings.Contains(ref, "@sha256:") {
		return true
	}
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if colon <= slash {
		return false
	}
	tag := ref[colon+1:]
	return tag != "" && tag != "latest" && !strings.Contains(tag, "$")
}

// images: every service names an image; built ones from an existing
// target of the Dockerfile, on pinned base images, as a non-root user,
// with labels, a health check (services) and no build tools; others by a
// pinned tag.
func (c *checker) images() {
	for _, st := range c.s.Dockerfile.Stages {
		if _, internal := c.s.Dockerfile.Stage(st.Base); !internal && !pinned(st.Base) {
			c.addf("Dockerfile line %d: base image %q is not pinned by tag", st.Line, st.Base)
		}
	}
	for _, svc := range c.s.AllServices() {
		if svc.Image == "" {
			c.addf("service %s: no image name", svc.Name)
		}
		target := stack.Target(svc)
		if svc.Build == nil {
			if !pinned(svc.Image) {
				c.addf("service %s: image %q is not pinned by tag", svc.Name, svc.Image)
			}
			continue
		}
		if target == "" {
			c.addf("service %s: build has no target", svc.Name)
			continue
		}
		if svc.Build.Context != c.s.Root {
			c.addf("service %s: build context %s, want the repository root", svc.Name, svc.Build.Context)
		}
		if _, ok := c.s.Dockerfile.Stage(target); !ok {
			c.addf("service %s: target %q is not a stage of %s", svc.Name, target, c.s.Dockerfile.Path)
			continue
		}
		if !strings.HasPrefix(svc.Image, "arxivsearch/") {
			c.addf("service %s: image %q, want arxivsearch/<name>", svc.Name, svc.Image)
		}
		base, _ := c.s.Dockerfile.BaseImage(target)
		if strings.HasPrefix(base, "golang:") {
			c.addf("target %s: runs on the Go build image %s", target, base)
		}
		user, _ := c.s.Dockerfile.User(target)
		if svc.User != "" {
			user = svc.User
		}
		if name, _, _ := strings.Cut(user, ":"); name == "" || name == "root" || name == "0" {
			c.addf("service %s: runs as root (target %s sets no USER)", svc.Name, target)
		}
		labels, err := c.s.Dockerfile.Labels(target)
		if err != nil {
			c.addf("target %s: %v", target, err)
		}
		for _, l := range requiredLabels {
			if labels[l] == "" {
				c.addf("target %s: no label %s", target, l)
			}
		}
		runs, _ := c.s.Dockerfile.Runs(target)
		for _, r := range runs {
			if !strings.Contains(r, "apt-get install") {
				continue
			}
			for w := range strings.FieldsSeq(r) {
				if slices.Contains(buildTools, w) {
					c.addf("target %s: installs the build tool %s", target, w)
				}
			}
		}
		if d := c.daemon(svc); d != "" {
			hc, err := c.s.Dockerfile.Healthcheck(target)
			switch {
			case err != nil:
				c.addf("target %s: %v", target, err)
			case hc == nil || hc.None:
				c.addf("target %s: runs the %s daemon but has no HEALTHCHECK", target, d)
			case !strings.Contains(hc.Shell+strings.Join(hc.Exec, " "), "healthprobe"):
				c.addf("target %s: HEALTHCHECK does not run healthprobe", target)
			}
		}
	}
}

// environment: every variable a daemon service gets, from its image or
// the compose file, is a documented setting of that daemon (or documented
// process environment).
func (c *checker) environment() {
	for _, svc := range c.s.AllServices() {
		d := c.daemon(svc)
		if d == "" {
			continue
		}
		env, err := c.s.Env(svc)
		if err != nil {
			c.addf("service %s: %v", svc.Name, err)
			continue
		}
		for k := range env {
			if _, ok := c.s.Settings.Env(d, k); ok || slices.Contains(processEnv, k) {
				continue
			}
			if owner := settings.DaemonOfEnv(k); owner != "" && owner != d {
				c.addf("service %s runs %s but sets %s, a setting of %s", svc.Name, d, k, owner)
				continue
			}
			c.addf("service %s: %s is not a setting of %s in docs/configuration.md", svc.Name, k, d)
		}
		for _, flag := range stack.ListenFlags[d] {
			if _, err := c.s.ListenPort(svc, flag); err != nil {
				c.addf("service %s: %v", svc.Name, err)
			}
		}
	}
}

// listenPorts returns the ports a daemon service listens on.
func (c *checker) listenPorts(svc types.ServiceConfig, d string) []string {
	var out []string
	for _, flag := range stack.ListenFlags[d] {
		if p, err := c.s.ListenPort(svc, flag); err == nil && p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ports: what a daemon service publishes and its image exposes are ports
// it listens on.
func (c *checker) ports() {
	for _, svc := range c.s.AllServices() {
		d := c.daemon(svc)
		if d == "" {
			continue
		}
		listen := c.listenPorts(svc, d)
		for _, p := range svc.Ports {
			if !slices.Contains(listen, strconv.Itoa(int(p.Target))) {
				c.addf("service %s publishes container port %d, but %s listens on %v", svc.Name, p.Target, d, listen)
			}
		}
		exposed, _ := c.s.Dockerfile.Exposed(stack.Target(svc))
		for _, e := range exposed {
			port, _, _ := strings.Cut(e, "/")
			if !slices.Contains(listen, port) {
				c.addf("target %s exposes %s, but service %s listens on %v", stack.Target(svc), e, svc.Name, listen)
			}
		}
	}
}

// addrList splits a comma-separated address list.
func addrList(s string) []string {
	var out []string
	for a := range strings.SplitSeq(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// grpcTargets checks a list of addresses that must each be the gRPC port
// of a service running want, and returns the services named.
func (c *checker) grpcTargets(where, list, want string) []string {
	var names []string
	for _, a := range addrList(list) {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			c.addf("%s: %q: %v", where, a, err)
			continue
		}
		target, ok := c.s.Service(host)
		if !ok {
			c.addf("%s: %s is not a compose service", where, host)
			continue
		}
		if d := c.daemon(target); d != want {
			c.addf("%s: %s runs %q, want %s", where, host, d, want)
			continue
		}
		if p, err := c.s.ListenPort(target, stack.GRPCFlag[want]); err != nil || p != port {
			c.addf("%s: %s listens for gRPC on port %s, not %s", where, host, p, port)
		}
		names = append(names, host)
	}
	return names
}

// serviceNames returns the names of services.
func serviceNames(svcs []types.ServiceConfig) []string {
	var out []string
	for _, s := range svcs {
		out = append(out, s.Name)
	}
	return out
}

// addresses: the gateway reaches the embedder on its gRPC port and
// exactly the index instances that run.
func (c *checker) addresses() {
	indexes, err := c.s.DaemonServices("index")
	if err != nil {
		c.addf("%v", err)
		return
	}
	var enabledIndexes []string
	for _, n := range serviceNames(indexes) {
		if c.s.Enabled(n) {
			enabledIndexes = append(enabledIndexes, n)
		}
	}
	gateways, _ := c.s.DaemonServices("gateway")
	if len(gateways) == 0 {
		c.addf("no service runs the gateway")
	}
	for _, gw := range gateways {
		emb, _ := c.s.Value(gw, "embedder-addr")
		named := c.grpcTargets("service "+gw.Name+" -embedder-addr", emb, "embedder")
		if len(named) == 0 {
			c.addf("service %s: -embedder-addr %q names no embedder service", gw.Name, emb)
		}
		for _, n := range named {
			if !c.s.Enabled(n) {
				c.addf("service %s: -embedder-addr names %s, whose profile is off", gw.Name, n)
			}
		}
		idx, _ := c.s.Value(gw, "index-addrs")
		got := c.grpcTargets("service "+gw.Name+" -index-addrs", idx, "index")
		sort.Strings(got)
		if !slices.Equal(got, enabledIndexes) {
			c.addf("service %s: -index-addrs names %v, but the index instances are %v", gw.Name, got, enabledIndexes)
		}
	}
}

// shards: the index instances agree on the shard count and own every
// shard exactly once.
func (c *checker) shards() {
	indexes, _ := c.s.DaemonServices("index")
	if len(indexes) == 0 {
		c.addf("no service runs the index")
		return
	}
	total := -1
	owner := map[int]string{}
	for _, svc := range indexes {
		ts, _ := c.s.Value(svc, "total-shards")
		t, err := strconv.Atoi(ts)
		if err != nil {
			c.addf("service %s: -total-shards %q: %v", svc.Name, ts, err)
			continue
		}
		if total >= 0 && t != total {
			c.addf("service %s: -total-shards %d, others %d", svc.Name, t, total)
			continue
		}
		total = t
		list, _ := c.s.Value(svc, "shards")
		if strings.TrimSpace(list) == "" && len(indexes) > 1 {
			c.addf("service %s: -shards is empty (all shards) beside other instances", svc.Name)
			continue
		}
		owned, err := shardset.Parse(list, t)
		if err != nil {
			c.addf("service %s: %v", svc.Name, err)
			continue
		}
		for _, sh := range owned {
			if prev, ok := owner[sh]; ok {
				c.addf("shard %d is owned by both %s and %s", sh, prev, svc.Name)
			}
			owner[sh] = svc.Name
		}
	}
	for sh := 0; sh < total; sh++ {
		if _, ok := owner[sh]; !ok {
			c.addf("shard %d of %d is owned by no index instance", sh, total)
		}
	}
}

// tracing: every daemon exports its traces to the trace backend.
func (c *checker) tracing() {
	backend, ok := c.s.Service(OTLPService)
	if !ok {
		c.addf("no %s service to receive traces", OTLPService)
	} else if !strings.Contains(backend.Image, "jaeger") {
		c.addf("service %s: image %s is not Jaeger", OTLPService, backend.Image)
	}
	want := net.JoinHostPort(OTLPService, OTLPPort)
	for _, svc := range c.s.AllServices() {
		if d := c.daemon(svc); d != "" {
			if v, err := c.s.Value(svc, "otlp-endpoint"); err != nil || v != want {
				c.addf("service %s: -otlp-endpoint %q, want %s", svc.Name, v, want)
			}
		}
	}
}

// hasHealthcheck reports whether a service reports health: its own
// compose healthcheck or its image's HEALTHCHECK.
func (c *checker) hasHealthcheck(svc types.ServiceConfig) bool {
	if svc.HealthCheck != nil {
		return !svc.HealthCheck.Disable && len(svc.HealthCheck.Test) > 0 && svc.HealthCheck.Test[0] != "NONE"
	}
	if t := stack.Target(svc); t != "" {
		hc, err := c.s.Dockerfile.Healthcheck(t)
		return err == nil && hc != nil && !hc.None
	}
	return false
}

// dependencies: a service starts after what it calls: healthy, when that
// reports health; dependencies exist; a dependency may be optional only
// when its profile can be off.
func (c *checker) dependencies() {
	for _, svc := range c.s.AllServices() {
		for name, dep := range svc.DependsOn {
			target, ok := c.s.Service(name)
			if !ok {
				c.addf("service %s depends on %s, which does not exist", svc.Name, name)
				continue
			}
			if dep.Condition == types.ServiceConditionHealthy && !c.hasHealthcheck(target) {
				c.addf("service %s waits for %s to be healthy, but %s has no health check", svc.Name, name, name)
			}
			if !dep.Required && len(target.Profiles) == 0 {
				c.addf("service %s: optional dependency on %s, which always runs", svc.Name, name)
			}
		}
		for _, called := range c.calls(svc) {
			target, _ := c.s.Service(called)
			dep, ok := svc.DependsOn[called]
			switch {
			case !ok:
				c.addf("service %s calls %s but does not depend on it", svc.Name, called)
			case c.hasHealthcheck(target) && dep.Condition != types.ServiceConditionHealthy:
				c.addf("service %s starts before %s is healthy (condition %s)", svc.Name, called, dep.Condition)
			}
		}
	}
}

// dockerStopGrace is how long Docker waits after SIGTERM before SIGKILL
// when a service sets no stop_grace_period.
const dockerStopGrace = 10 * time.Second

// stopGrace: Docker waits longer for a daemon to stop than the daemon
// gives its in-flight calls, so a stop is never a kill.
func (c *checker) stopGrace() {
	for _, svc := range c.s.AllServices() {
		if c.daemon(svc) == "" {
			continue
		}
		v, err := c.s.Value(svc, "shutdown-grace")
		if err != nil {
			c.addf("service %s: %v", svc.Name, err)
			continue
		}
		grace, err := time.ParseDuration(v)
		if err != nil {
			c.addf("service %s: -shutdown-grace %q: %v", svc.Name, v, err)
			continue
		}
		stop := dockerStopGrace
		if svc.StopGracePeriod != nil {
			stop = time.Duration(*svc.StopGracePeriod)
		}
		if stop <= grace {
			c.addf("service %s: stop_grace_period %v does not exceed -shutdown-grace %v: Docker kills it mid-drain", svc.Name, stop, grace)
		}
	}
}

// calls returns the services whose host:port a service's environment or
// command names.
func (c *checker) calls(svc types.ServiceConfig) []string {
	env, _ := c.s.Env(svc)
	var words []string
	for _, v := range env {
		words = append(words, v)
	}
	words = append(words, svc.Command...)
	var out []string
	for _, w := range words {
		for _, a := range addrList(w) {
			host, _, err := net.SplitHostPort(a)
			if err != nil || host == svc.Name {
				continue
			}
			if _, ok := c.s.Service(host); ok && !slices.Contains(out, host) {
				out = append(out, host)
			}
		}
	}
	sort.Strings(out)
	return out
}

// volumeFor returns the volume mounted at a container path (the longest
// mount target containing it).
func volumeFor(svc types.ServiceConfig, p string) (types.ServiceVolumeConfig, bool) {
	var best types.ServiceVolumeConfig
	found := false
	for _, v := range svc.Volumes {
		if under(p, v.Target) && len(v.Target) > len(best.Target) {
			best, found = v, true
		}
	}
	return best, found
}

// volumes: named volumes are declared, bind sources exist, and each index
// instance keeps its data on a named volume of its own.
func (c *checker) volumes() {
	for _, svc := range c.s.AllServices() {
		for _, v := range svc.Volumes {
			switch v.Type {
			case types.VolumeTypeVolume:
				if _, ok := c.s.Project.Volumes[v.Source]; !ok {
					c.addf("service %s mounts volume %q, which is not declared", svc.Name, v.Source)
				}
			case types.VolumeTypeBind:
				if _, err := os.Stat(v.Source); err != nil {
					c.addf("service %s mounts %s, which does not exist", svc.Name, v.Source)
				}
			}
		}
	}
	indexes, _ := c.s.DaemonServices("index")
	usedBy := map[string]string{}
	for _, svc := range indexes {
		dir, _ := c.s.Value(svc, "data-dir")
		v, ok := volumeFor(svc, dir)
		if !ok || v.Type != types.VolumeTypeVolume {
			c.addf("service %s: -data-dir %s is not on a named volume", svc.Name, dir)
			continue
		}
		if prev, ok := usedBy[v.Source]; ok {
			c.addf("services %s and %s share the volume %s", prev, svc.Name, v.Source)
		}
		usedBy[v.Source] = svc.Name
	}
}

// paths: every absolute path a daemon service is configured with (model
// directory, ONNX Runtime library, data directory) is something its image
// copies in or declares as a volume, or a volume compose mounts.
func (c *checker) paths() {
	for _, svc := range c.s.AllServices() {
		if c.daemon(svc) == "" {
			continue
		}
		target := stack.Target(svc)
		copies, err := c.s.Dockerfile.Copies(target)
		if err != nil {
			c.addf("target %s: %v", target, err)
		}
		vols, _ := c.s.Dockerfile.Volumes(target)
		env, _ := c.s.Env(svc)
		for k, v := range env {
			if !strings.HasPrefix(v, "/") {
				continue
			}
			covered := false
			for _, cp := range copies {
				covered = covered || under(v, cp.Dest)
			}
			for _, vol := range vols {
				covered = covered || under(v, vol)
			}
			if _, ok := volumeFor(svc, v); ok {
				covered = true
			}
			if !covered {
				c.addf("service %s: %s=%s is neither in its image nor on a volume", svc.Name, k, v)
			}
		}
	}
}

// under reports whether p is dir or inside it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// scrapeTargets: Prometheus scrapes exactly the metrics port of every
// daemon service, and runs with that configuration file.
func (c *checker) scrapeTargets() {
	want := map[string]bool{}
	for _, svc := range c.s.AllServices() {
		d := c.daemon(svc)
		if d == "" {
			continue
		}
		p, err := c.s.ListenPort(svc, stack.MetricsFlag[d])
		if err != nil {
			c.addf("service %s: %v", svc.Name, err)
			continue
		}
		want[net.JoinHostPort(svc.Name, p)] = true
	}
	got := c.prom.Targets()
	for t := range want {
		if _, ok := got[t]; !ok {
			c.addf("Prometheus does not scrape %s", t)
		}
	}
	for t := range got {
		if !want[t] {
			c.addf("Prometheus scrapes %s, which is no service's metrics port", t)
		}
	}
	prom, ok := c.s.Service("prometheus")
	if !ok {
		c.addf("no prometheus service")
		return
	}
	configFile := ""
	for _, a := range prom.Command {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			configFile = v
		}
	}
	v, ok := volumeFor(prom, configFile)
	if configFile == "" || !ok || v.Type != types.VolumeTypeBind || v.Source != filepath.Join(c.s.Root, monitoring.PrometheusConfig) {
		c.addf("service prometheus: --config.file %q is not %s mounted from the repository", configFile, monitoring.PrometheusConfig)
	}
}

// grafana: Grafana loads the repository's provisioning and dashboards from
// where they are mounted, and its data sources are the compose services.
func (c *checker) grafana() {
	g, ok := c.s.Service("grafana")
	if !ok {
		c.addf("no grafana service")
		return
	}
	mountOf := func(rel string) string {
		for _, v := range g.Volumes {
			if v.Type == types.VolumeTypeBind && v.Source == filepath.Join(c.s.Root, rel) {
				return v.Target
			}
		}
		c.addf("service grafana does not mount %s", rel)
		return ""
	}
	if t := mountOf("deploy/grafana/provisioning"); t != "" && t != "/etc/grafana/provisioning" {
		c.addf("service grafana mounts deploy/grafana/provisioning at %s, not /etc/grafana/provisioning", t)
	}
	dashboards := mountOf(monitoring.DashboardDir)
	paths, err := monitoring.LoadDashboardProviderPaths(filepath.Join(c.s.Root, monitoring.DashboardsConfig))
	if err != nil {
		c.addf("%v", err)
	} else if dashboards != "" && !slices.Contains(paths, dashboards) {
		c.addf("Grafana's dashboard provider reads %v, but the dashboards are mounted at %s", paths, dashboards)
	}
	if home := g.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != nil && dashboards != "" {
		rel, err := filepath.Rel(dashboards, *home)
		if _, serr := os.Stat(filepath.Join(c.s.Root, monitoring.DashboardDir, rel)); err != nil || strings.HasPrefix(rel, "..") || serr != nil {
			c.addf("service grafana: home dashboard %s is not a file of %s", *home, monitoring.DashboardDir)
		}
	}
	sources, err := monitoring.LoadDatasources(filepath.Join(c.s.Root, monitoring.DatasourcesConfig))
	if err != nil {
		c.addf("%v", err)
		return
	}
	for _, ds := range sources {
		u := strings.TrimPrefix(ds.URL, "http://")
		host, port, err := net.SplitHostPort(strings.TrimSuffix(u, "/"))
		if err != nil {
			c.addf("Grafana data source %s: URL %q: %v", ds.Name, ds.URL, err)
			continue
		}
		if _, ok := c.s.Service(host); !ok {
			c.addf("Grafana data source %s: %s is not a compose service", ds.Name, host)
		}
		if dep, ok := g.DependsOn[host]; !ok || dep.Condition == "" {
			c.addf("service grafana reads %s but does not depend on it", host)
		}
		want := map[string]string{"prometheus": "9090", "jaeger": "16686"}[ds.Type]
		if want == "" || port != want {
			c.addf("Grafana data source %s (%s): port %s, want %s", ds.Name, ds.Type, port, want)
		}
	}
}

// gpu: the CUDA embedder runs only in the gpu profile, reserves an NVIDIA
// GPU and runs on it.
func (c *checker) gpu() {
	for _, svc := range c.s.AllServices() {
		if stack.Target(svc) != "embedder-cuda" {
			continue
		}
		if !slices.Equal(svc.Profiles, []string{"gpu"}) {
			c.addf("service %s: profiles %v, want [gpu]", svc.Name, svc.Profiles)
		}
		reserved := false
		if svc.Deploy != nil && svc.Deploy.Resources.Reservations != nil {
			for _, d := range svc.Deploy.Resources.Reservations.Devices {
				reserved = reserved || d.Driver == "nvidia" && slices.Contains(d.Capabilities, "gpu")
			}
		}
		if !reserved {
			c.addf("service %s: reserves no NVIDIA GPU", svc.Name)
		}
		if dev, _ := c.s.Value(svc, "device"); !strings.HasPrefix(dev, "cuda") {
			c.addf("service %s: -device %q, want cuda", svc.Name, dev)
		}
	}
}

// job: the one-shot index build reaches the embedder and every index
// instance, reads a dataset that is mounted, writes its manifest to a
// volume and is not restarted.
func (c *checker) job() {
	var jobs []types.ServiceConfig
	for _, svc := range c.s.AllServices() {
		if p, _ := c.s.Program(svc); p == "arxivsearch" {
			jobs = append(jobs, svc)
		}
	}
	if len(jobs) != 1 {
		c.addf("want one service running arxivsearch build-index, have %d", len(jobs))
		return
	}
	job := jobs[0]
	cmd := []string(job.Command)
	if len(cmd) == 0 {
		_, cmd, _ = c.s.Dockerfile.Command(stack.Target(job))
	}
	if len(cmd) == 0 || cmd[0] != "build-index" {
		c.addf("service %s: command %q, want build-index", job.Name, cmd)
		return
	}
	flags := map[string]string{}
	for i := 1; i+1 < len(cmd); i += 2 {
		if !strings.HasPrefix(cmd[i], "-") {
			c.addf("service %s: command %q: want -flag value pairs", job.Name, cmd)
			return
		}
		flags[strings.TrimLeft(cmd[i], "-")] = cmd[i+1]
	}
	if job.Restart != types.RestartPolicyNo {
		c.addf("service %s: restart %q, want \"no\" for a one-shot job", job.Name, job.Restart)
	}
	c.grpcTargets("service "+job.Name+" -embedder", flags["embedder"], "embedder")
	indexes, _ := c.s.DaemonServices("index")
	var enabled []string
	for _, n := range serviceNames(indexes) {
		if c.s.Enabled(n) {
			enabled = append(enabled, n)
		}
	}
	got := c.grpcTargets("service "+job.Name+" -index", flags["index"], "index")
	sort.Strings(got)
	if !slices.Equal(got, enabled) {
		c.addf("service %s: -index names %v, but the index instances are %v", job.Name, got, enabled)
	}
	if v, ok := volumeFor(job, flags["input"]); !ok || v.Type != types.VolumeTypeBind {
		c.addf("service %s: -input %q is not a mounted file", job.Name, flags["input"])
	}
	if m := flags["manifest"]; m != "" {
		if v, ok := volumeFor(job, m); !ok || v.Type != types.VolumeTypeVolume {
			c.addf("service %s: -manifest %q is not on a named volume", job.Name, m)
		}
	}
}
