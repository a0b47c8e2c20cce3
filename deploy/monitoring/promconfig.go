package monitoring

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// ScrapeConfig is a Prometheus configuration file, kept whole so that it
// can be rendered again with other targets.
type ScrapeConfig struct {
	raw  map[string]any
	Jobs []ScrapeJob
}

// ScrapeJob is one scrape_configs entry.
type ScrapeJob struct {
	Name   string
	Static []string    // static_configs targets, host:port
	DNS    []DNSTarget // dns_sd_configs names (type A) with their port
}

// DNSTarget is a name resolved by DNS service discovery, scraped on Port.
type DNSTarget struct {
	Name string
	Port int
}

// Addr is the target as host:port.
func (d DNSTarget) Addr() string { return net.JoinHostPort(d.Name, strconv.Itoa(d.Port)) }

// LoadScrapeConfig reads a Prometheus configuration file.
func LoadScrapeConfig(path string) (*ScrapeConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("prometheus config: %w", err)
	}
	c, err := ParseScrapeConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseScrapeConfig reads the text of a Prometheus configuration file.
func ParseScrapeConfig(b []byte) (*ScrapeConfig, error) {
	c := &ScrapeConfig{}
	if err := yaml.Unmarshal(b, &c.raw); err != nil {
		return nil, err
	}
	var typed struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Type  string   `yaml:"type"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &typed); err != nil {
		return nil, err
	}
	for _, sc := range typed.ScrapeConfigs {
		job := ScrapeJob{Name: sc.JobName}
		for _, st := range sc.StaticConfigs {
			job.Static = append(job.Static, st.Targets...)
		}
		for _, d := range sc.DNSSDConfigs {
			if d.Type != "A" || d.Port == 0 {
				return nil, fmt.Errorf("job %s: dns_sd_configs must be type A with a port", sc.JobName)
			}
			for _, n := range d.Names {
				job.DNS = append(job.DNS, DNSTarget{Name: n, Port: d.Port})
			}
		}
		c.Jobs = append(c.Jobs, job)
	}
	if len(c.Jobs) == 0 {
		return nil, fmt.Errorf("no scrape_configs")
	}
	return c, nil
}

// Targets returns every target address of every job, static or found by
// DNS, mapped to its job.
func (c *ScrapeConfig) Targets() map[string]string {
	out := map[string]string{}
	for _, j := range c.Jobs {
		for _, t := range j.Static {
			out[t] = j.Name
		}
		for _, d := range j.DNS {
			out[d.Addr()] = j.Name
		}
	}
	return out
}

// Render writes the configuration again with every target address
// replaced through addrs and the given scrape interval, for a Prometheus
// that scrapes processes on this machine. DNS-discovered targets become
// static ones when addrs has them and are dropped otherwise (services of a
// profile that is not running); a static target missing from addrs is an
// error.
func (c *ScrapeConfig) Render(addrs map[string]string, interval string) ([]byte, error) {
	out := map[string]any{}
	for k, v := range c.raw {
		out[k] = v
	}
	global, _ := out["global"].(map[string]any)
	g := map[string]any{}
	for k, v := range global {
		g[k] = v
	}
	g["scrape_interval"] = interval
	g["scrape_timeout"] = interval
	g["evaluation_interval"] = interval
	out["global"] = g
	rawJobs, _ := c.raw["scrape_configs"].([]any)
	if len(rawJobs) != len(c.Jobs) {
		return nil, fmt.Errorf("scrape_configs changed since it was read")
	}
	var jobs []any
	for i, j := range c.Jobs {
		rj, _ := rawJobs[i].(map[string]any)
		nj := map[string]any{}
		for k, v := range rj {
			if k != "static_configs" && k != "dns_sd_configs" {
				nj[k] = v
			}
		}
		var targets []string
		for _, t := range j.Static {
			a, ok := addrs[t]
			if !ok {
				return nil, fmt.Errorf("job %s: no address for target %s", j.Name, t)
			}
			targets = append(targets, a)
		}
		for _, d := range j.DNS {
			if a, ok := addrs[d.Addr()]; ok {
				targets = append(targets, a)
			}
		}
		nj["static_configs"] = []any{map[string]any{"targets": targets}}
		jobs = append(jobs, nj)
	}
	out["scrape_configs"] = jobs
	return yaml.Marshal(out)
}
