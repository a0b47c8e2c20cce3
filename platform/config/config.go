// Package config defines service settings as command-line flags, each with
// an environment-variable twin, so the same binary is configured by flags on
// a laptop and by environment in docker-compose or Kubernetes.
//
// Precedence is flag, then environment, then default. Every setting a
// service reads goes through a FlagSet, which can list them all; that list
// is what docs/configuration.md documents and what deployment files are
// checked against.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// Setting describes one flag and its environment variable.
type Setting struct {
	Flag    string // flag name, without dashes
	Env     string // environment variable name
	Default string
	Usage   string
}

// FlagSet is a set of settings of one program.
type FlagSet struct {
	name      string
	envPrefix string
	fs        *flag.FlagSet
	settings  []Setting
	lookupEnv func(string) (string, bool)
}

// New returns an empty FlagSet for the program name. Environment variable
// names are envPrefix + "_" + the flag name in upper case with dashes as
// underscores: with prefix "EMBEDDER", flag "max-batch" reads
// EMBEDDER_MAX_BATCH.
func New(name, envPrefix string) *FlagSet {
	s := &FlagSet{
		name:      name,
		envPrefix: envPrefix,
		fs:        flag.NewFlagSet(name, flag.ContinueOnError),
		lookupEnv: os.LookupEnv,
	}
	s.fs.Usage = func() { s.PrintUsage(s.fs.Output()) }
	return s
}

// SetLookupEnv replaces os.LookupEnv, for tests.
func (s *FlagSet) SetLookupEnv(f func(string) (string, bool)) { s.lookupEnv = f }

// EnvName returns the environment variable that backs the flag name.
func (s *FlagSet) EnvName(flagName string) string {
	return s.envPrefix + "_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (s *FlagSet) add(name, usage string, def any) {
	s.settings = append(s.settings, Setting{Flag: name, Env: s.EnvName(name), Default: fmt.Sprint(def), Usage: usage})
}

// StringVar defines a string setting stored in p.
func (s *FlagSet) StringVar(p *string, name, def, usage string) {
	s.add(name, usage, def)
	s.fs.StringVar(p, name, def, usage)
}

// IntVar defines an int setting stored in p.
func (s *FlagSet) IntVar(p *int, name string, def int, usage string) {
	s.add(name, usage, def)
	s.fs.IntVar(p, name, def, usage)
}

// Float64Var defines a float64 setting stored in p.
func (s *FlagSet) Float64Var(p *float64, name string, def float64, usage string) {
	s.add(name, usage, def)
	s.fs.Float64Var(p, name, def, usage)
}

// BoolVar defines a bool setting stored in p.
func (s *FlagSet) BoolVar(p *bool, name string, def bool, usage string) {
	s.add(name, usage, def)
	s.fs.BoolVar(p, name, def, usage)
}

// DurationVar defines a time.Duration setting stored in p, written like
// "250ms" or "2m".
func (s *FlagSet) DurationVar(p *time.Duration, name string, def time.Duration, usage string) {
	s.add(name, usage, def)
	s.fs.DurationVar(p, name, def, usage)
}

// String defines a string setting.
func (s *FlagSet) String(name, def, usage string) *string {
	p := new(string)
	s.StringVar(p, name, def, usage)
	return p
}

// Int defines an int setting.
func (s *FlagSet) Int(name string, def int, usage string) *int {
	p := new(int)
	s.IntVar(p, name, def, usage)
	return p
}

// Float64 defines a float64 setting.
func (s *FlagSet) Float64(name string, def float64, usage string) *float64 {
	p := new(float64)
	s.Float64Var(p, name, def, usage)
	return p
}

// Bool defines a bool setting.
func (s *FlagSet) Bool(name string, def bool, usage string) *bool {
	p := new(bool)
	s.BoolVar(p, name, def, usage)
	return p
}

// Duration defines a time.Duration setting.
func (s *FlagSet) Duration(name string, def time.Duration, usage string) *time.Duration {
	p := new(time.Duration)
	s.DurationVar(p, name, def, usage)
	return p
}

// Parse parses command-line arguments, then fills every setting not given
// as a flag from its environment variable. A malformed value names the flag
// or variable it came from. Parse returns flag.ErrHelp for -h and -help.
func (s *FlagSet) Parse(args []string) error {
	if err := s.fs.Parse(args); err != nil {
		return err
	}
	if s.fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q (settings are flags, see -help)", s.name, s.fs.Args())
	}
	given := map[string]bool{}
	s.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	for _, st := range s.settings {
		if given[st.Flag] {
			continue
		}
		v, ok := s.lookupEnv(st.Env)
		if !ok {
			continue
		}
		if err := s.fs.Set(st.Flag, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: invalid value for -%s (default %q): %w", st.Env, v, st.Flag, st.Default, err))
		}
	}
	return errors.Join(errs...)
}

// Settings returns every setting, sorted by flag name.
func (s *FlagSet) Settings() []Setting {
	out := append([]Setting(nil), s.settings...)
	sort.Slice(out, func(i, j int) bool { return out[i].Flag < out[j].Flag })
	return out
}

// PrintUsage writes every setting with its environment variable and default.
func (s *FlagSet) PrintUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage of %s (every flag can also be set by its environment variable):\n\n", s.name)
	for _, st := range s.Settings() {
		fmt.Fprintf(w, "  -%s  (env %s, default %q)\n        %s\n", st.Flag, st.Env, st.Default, st.Usage)
	}
}

// MarkdownRows writes one Markdown table row per setting:
// | flag | environment variable | default | meaning |.
func (s *FlagSet) MarkdownRows(w io.Writer) {
	for _, st := range s.Settings() {
		def := "`" + st.Default + "`"
		if st.Default == "" {
			def = "(empty)"
		}
		fmt.Fprintf(w, "| `-%s` | `%s` | %s | %s |\n", st.Flag, st.Env, def, strings.ReplaceAll(st.Usage, "|", "\\|"))
	}
}

// Undocumented returns the settings whose flag or environment variable
// does not appear in doc, the text of the configuration reference, so a
// test can keep that reference complete.
func (s *FlagSet) Undocumented(doc string) []Setting {
	var out []Setting
	for _, st := range s.Settings() {
		if !strings.Contains(doc, "`-"+st.Flag+"`") || !strings.Contains(doc, "`"+st.Env+"`") {
			out = append(out, st)
		}
	}
	return out
}

// FlagSetOutput sets where usage and flag errors are written.
func (s *FlagSet) FlagSetOutput(w io.Writer) { s.fs.SetOutput(w) }
