// Package stack loads docker-compose.yaml with the compose-spec loader (the
// one Docker Compose itself uses) together with deploy/Dockerfile and
// docs/configuration.md, and answers what each service really runs with:
// which daemon, which environment (image ENV overlaid by compose), which
// value of each setting. The compose checks and the monitoring test both
// start from it.
package stack

import (
	"context"
	"fmt"
	"net"
	"path"
	"path/filepath"
	"slices"
	"sort"

	"github.com/arxivsearch/arxivsearch/deploy/internal/dockerfile"
	"github.com/arxivsearch/arxivsearch/deploy/internal/settings"
	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// Stack is a loaded compose project and what it refers to.
type Stack struct {
	Root       string // repository root: the compose working directory
	Project    *types.Project
	Dockerfile *dockerfile.File
	Settings   settings.Config
}

// ComposeFile is the compose file's path in the repository.
const ComposeFile = "docker-compose.yaml"

// Load reads composeFile (relative to the repository root unless absolute;
// relative paths in it are relative to the repository root too) as `docker compose` would with exactly env in the
// environment, so unset variables take the defaults written in the file,
// and the given profiles enabled.
func Load(ctx context.Context, composeFile string, env map[string]string, profiles ...string) (*Stack, error) {
	root, err := settings.RepoRoot()
	if err != nil {
		return nil, err
	}
	cfg, err := settings.Load()
	if err != nil {
		return nil, err
	}
	if !filepath.IsAbs(composeFile) {
		composeFile = filepath.Join(root, composeFile)
	}
	var envList []string
	for k, v := range env {
		envList = append(envList, k+"="+v)
	}
	sort.Strings(envList)
	opts, err := cli.NewProjectOptions([]string{composeFile},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(envList),
		cli.WithProfiles(profiles),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return nil, fmt.Errorf("compose options: %w", err)
	}
	project, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", composeFile, err)
	}
	s := &Stack{Root: root, Project: project, Settings: cfg}
	// Every service builds from the one Dockerfile; a second one would be
	// read here and checked the same way.
	for _, svc := range s.AllServices() {
		if svc.Build == nil {
			continue
		}
		p := svc.Build.Dockerfile
		if !filepath.IsAbs(p) {
			p = filepath.Join(svc.Build.Context, p)
		}
		if s.Dockerfile != nil && s.Dockerfile.Path != p {
			return nil, fmt.Errorf("service %s builds from %s, others from %s", svc.Name, p, s.Dockerfile.Path)
		}
		if s.Dockerfile == nil {
			if s.Dockerfile, err = dockerfile.Load(p); err != nil {
				return nil, err
			}
		}
	}
	if s.Dockerfile == nil {
		return nil, fmt.Errorf("%s: no service is built from a Dockerfile", composeFile)
	}
	return s, nil
}

// AllServices returns every service, including those of profiles that are
// off, sorted by name.
func (s *Stack) AllServices() []types.ServiceConfig {
	var out []types.ServiceConfig
	for _, svc := range s.Project.Services {
		out = append(out, svc)
	}
	for _, svc := range s.Project.DisabledServices {
		out = append(out, svc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Service returns a service by name, enabled or not.
func (s *Stack) Service(name string) (types.ServiceConfig, bool) {
	if svc, ok := s.Project.Services[name]; ok {
		return svc, true
	}
	svc, ok := s.Project.DisabledServices[name]
	return svc, ok
}

// Enabled reports whether a service runs with the loaded profiles.
func (s *Stack) Enabled(name string) bool {
	_, ok := s.Project.Services[name]
	return ok
}

// Target is the Dockerfile target a service's image is built from, or "".
func Target(svc types.ServiceConfig) string {
	if svc.Build == nil {
		return ""
	}
	return svc.Build.Target
}

// Program is the base name of the program a service runs: its compose
// entrypoint, else its image's ENTRYPOINT; "" for services built from no
// target (third-party images).
func (s *Stack) Program(svc types.ServiceConfig) (string, error) {
	target := Target(svc)
	if target == "" {
		return "", nil
	}
	entry := []string(svc.Entrypoint)
	if len(entry) == 0 {
		ep, _, err := s.Dockerfile.Command(target)
		if err != nil {
			return "", err
		}
		entry = ep
	}
	if len(entry) == 0 {
		return "", fmt.Errorf("service %s: target %s has no ENTRYPOINT", svc.Name, target)
	}
	return path.Base(entry[0]), nil
}

// Daemon returns the daemon (a section of configuration.md) a service
// runs, or "" for other programs.
func (s *Stack) Daemon(svc types.ServiceConfig) (string, error) {
	prog, err := s.Program(svc)
	if err != nil || !slices.Contains(settings.Daemons, prog) {
		return "", err
	}
	return prog, nil
}

// DaemonServices returns the services (all profiles) running daemon.
func (s *Stack) DaemonServices(daemon string) ([]types.ServiceConfig, error) {
	var out []types.ServiceConfig
	for _, svc := range s.AllServices() {
		d, err := s.Daemon(svc)
		if err != nil {
			return nil, err
		}
		if d == daemon {
			out = append(out, svc)
		}
	}
	return out, nil
}

// Env returns the environment a service's process sees from its image and
// compose file: the image's ENV overlaid by the service's environment.
func (s *Stack) Env(svc types.ServiceConfig) (map[string]string, error) {
	env := map[string]string{}
	if t := Target(svc); t != "" {
		img, err := s.Dockerfile.Env(t)
		if err != nil {
			return nil, err
		}
		for k, v := range img {
			env[k] = v
		}
	}
	for k, v := range svc.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	return env, nil
}

// Value returns the value a daemon service runs with for a setting (a
// flag name without "-"): its environment variable, else the documented
// default ("" for "(empty)").
func (s *Stack) Value(svc types.ServiceConfig, flag string) (string, error) {
	daemon, err := s.Daemon(svc)
	if err != nil {
		return "", err
	}
	if daemon == "" {
		return "", fmt.Errorf("service %s runs no daemon", svc.Name)
	}
	set, ok := s.Settings.Flag(daemon, flag)
	if !ok {
		return "", fmt.Errorf("%s has no setting -%s in docs/configuration.md", daemon, flag)
	}
	env, err := s.Env(svc)
	if err != nil {
		return "", err
	}
	if v, ok := env[set.Env]; ok {
		return v, nil
	}
	if set.Default == "(empty)" {
		return "", nil
	}
	return set.Default, nil
}

// ListenFlags are a daemon's listen settings; the first is its main gRPC
// or HTTP port.
var ListenFlags = map[string][]string{
	"embedder": {"listen", "metrics-listen"},
	"index":    {"listen", "metrics-listen"},
	"gateway":  {"http-listen", "grpc-listen"},
}

// MetricsFlag is the setting whose port serves /metrics (docs/configuration.md,
// Ports): the gateway serves it on its HTTP port.
var MetricsFlag = map[string]string{"embedder": "metrics-listen", "index": "metrics-listen", "gateway": "http-listen"}

// GRPCFlag is the setting of a daemon's gRPC API port.
var GRPCFlag = map[string]string{"embedder": "listen", "index": "listen", "gateway": "grpc-listen"}

// Port returns the port of a listen or dial address.
func Port(addr string) (string, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if port == "" {
		return "", fmt.Errorf("address %q has no port", addr)
	}
	return port, nil
}

// ListenPort returns the port a daemon service listens on for a setting.
func (s *Stack) ListenPort(svc types.ServiceConfig, flag string) (string, error) {
	v, err := s.Value(svc, flag)
	if err != nil {
		return "", err
	}
	p, err := Port(v)
	if err != nil {
		return "", fmt.Errorf("service %s -%s %q: %w", svc.Name, flag, v, err)
	}
	return p, nil
}
