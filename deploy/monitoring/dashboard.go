package monitoring

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// Paths of the monitoring configuration in the repository.
const (
	PrometheusConfig  = "deploy/prometheus/prometheus.yml"
	DashboardDir      = "deploy/grafana/dashboards"
	DatasourcesConfig = "deploy/grafana/provisioning/datasources/datasources.yaml"
	DashboardsConfig  = "deploy/grafana/provisioning/dashboards/dashboards.yaml"
)

// Dashboard is the part of a Grafana dashboard the checks read.
type Dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []Panel `json:"panels"`
}

// Panel is a dashboard panel; rows hold their panels when collapsed.
type Panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *Datasource `json:"datasource"`
	Targets    []Target    `json:"targets"`
	Panels     []Panel     `json:"panels"`
}

// Target is one query of a panel.
type Target struct {
	RefID      string      `json:"refId"`
	Expr       string      `json:"expr"`
	Legend     string      `json:"legendFormat"`
	Datasource *Datasource `json:"datasource"`
}

// Datasource names a data source by uid.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Query is a panel's query with where it is.
type Query struct {
	Panel      string
	RefID      string
	Expr       string
	Datasource Datasource
}

// LoadDashboard reads a dashboard JSON file. Fields the checks do not use
// are ignored (Grafana has many); malformed JSON is an error.
func LoadDashboard(path string) (*Dashboard, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	var d Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", path, err)
	}
	if d.UID == "" || d.Title == "" {
		return nil, fmt.Errorf("dashboard %s: no uid or title", path)
	}
	return &d, nil
}

// Queries returns every query of every panel (rows included), each with
// the data source in force: the target's, else its panel's.
func (d *Dashboard) Queries() []Query {
	var out []Query
	var walk func([]Panel)
	walk = func(panels []Panel) {
		for _, p := range panels {
			for _, t := range p.Targets {
				q := Query{Panel: p.Title, RefID: t.RefID, Expr: t.Expr}
				switch {
				case t.Datasource != nil:
					q.Datasource = *t.Datasource
				case p.Datasource != nil:
					q.Datasource = *p.Datasource
				}
				out = append(out, q)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// GrafanaDatasource is a provisioned data source.
type GrafanaDatasource struct {
	Name string `yaml:"name"`
	UID  string `yaml:"uid"`
	Type string `yaml:"type"`
	URL  string `yaml:"url"`
}

// LoadDatasources reads a Grafana data source provisioning file.
func LoadDatasources(path string) ([]GrafanaDatasource, error) {
	var f struct {
		APIVersion  int                 `yaml:"apiVersion"`
		Datasources []GrafanaDatasource `yaml:"datasources"`
	}
	if err := readYAML(path, &f); err != nil {
		return nil, err
	}
	if f.APIVersion != 1 || len(f.Datasources) == 0 {
		return nil, fmt.Errorf("%s: want apiVersion 1 and data sources", path)
	}
	return f.Datasources, nil
}

// LoadDashboardProviderPaths reads a Grafana dashboard provisioning file
// and returns the directories its file providers load.
func LoadDashboardProviderPaths(path string) ([]string, error) {
	var f struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := readYAML(path, &f); err != nil {
		return nil, err
	}
	var out []string
	for _, p := range f.Providers {
		if p.Type == "file" && p.Options.Path != "" {
			out = append(out, p.Options.Path)
		}
	}
	if f.APIVersion != 1 || len(out) == 0 {
		return nil, fmt.Errorf("%s: want apiVersion 1 and a file provider with a path", path)
	}
	return out, nil
}

// DashboardFiles returns the dashboard JSON files under dir.
func DashboardFiles(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no dashboards in %s", dir)
	}
	return files, nil
}

func readYAML(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
