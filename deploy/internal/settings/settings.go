// Package settings reads the daemons' settings from docs/configuration.md.
//
// That page is the one reference of every flag and environment variable:
// each daemon has a test that fails when its FlagSet and the page disagree.
// The deployment checks (compose, Kubernetes) compare what they set against
// the page, so a setting renamed in code fails them too, through that chain,
// without the deploy module importing the services' internal packages.
package settings

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// Daemons are the services, named as their sections in configuration.md.
var Daemons = []string{"embedder", "index", "gateway"}

// Setting is one row of a daemon's table.
type Setting struct {
	Flag    string // without the leading "-"
	Env     string
	Default string // as written in the table, without backticks; "(empty)" for none
}

// Config is every daemon's settings.
type Config map[string][]Setting

// RepoRoot returns the repository root, found from this source file.
func RepoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("settings: cannot locate the source file")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	if _, err := os.Stat(filepath.Join(root, "docs", "configuration.md")); err != nil {
		return "", fmt.Errorf("settings: repository root: %w", err)
	}
	return filepath.Abs(root)
}

// Load parses docs/configuration.md of the repository.
func Load() (Config, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	return Parse(filepath.Join(root, "docs", "configuration.md"))
}

// Parse reads the "| flag | environment variable | default | meaning |"
// tables under the "## <daemon>" headings of path.
func Parse(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	defer f.Close()
	cfg := Config{}
	section := ""
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if h, ok := strings.CutPrefix(text, "## "); ok {
			section = strings.Trim(h, "` ")
			continue
		}
		if !slices.Contains(Daemons, section) || !strings.HasPrefix(text, "| `-") {
			continue
		}
		cells := strings.Split(strings.Trim(text, "|"), "|")
		if len(cells) < 4 {
			return nil, fmt.Errorf("settings: %s:%d: want 4 cells, got %d", path, line, len(cells))
		}
		unquote := func(s string) string { return strings.Trim(strings.TrimSpace(s), "`") }
		s := Setting{
			Flag:    strings.TrimPrefix(unquote(cells[0]), "-"),
			Env:     unquote(cells[1]),
			Default: unquote(cells[2]),
		}
		if s.Flag == "" || s.Env == "" {
			return nil, fmt.Errorf("settings: %s:%d: empty flag or variable", path, line)
		}
		cfg[section] = append(cfg[section], s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("settings: %s: %w", path, err)
	}
	for _, d := range Daemons {
		if len(cfg[d]) == 0 {
			return nil, fmt.Errorf("settings: %s: no settings table for %s", path, d)
		}
	}
	return cfg, nil
}

// Env returns the setting of daemon whose environment variable is name.
func (c Config) Env(daemon, name string) (Setting, bool) {
	for _, s := range c[daemon] {
		if s.Env == name {
			return s, true
		}
	}
	return Setting{}, false
}

// Flag returns the setting of daemon whose flag is name (without "-").
func (c Config) Flag(daemon, name string) (Setting, bool) {
	for _, s := range c[daemon] {
		if s.Flag == name {
			return s, true
		}
	}
	return Setting{}, false
}

// DaemonOfEnv returns the daemon an environment variable belongs to, by its
// prefix (EMBEDDER_, INDEX_, GATEWAY_), or "".
func DaemonOfEnv(name string) string {
	for _, d := range Daemons {
		if strings.HasPrefix(name, strings.ToUpper(d)+"_") {
			return d
		}
	}
	return ""
}
