// Package dockerfile reads the project's Dockerfile into stages, so that
// tests can compare what each image target sets (environment, ports,
// health check, user, files copied from the repository) with
// docker-compose.yaml and docs/configuration.md without a Docker engine.
//
// It understands the syntax the project uses: parser directives, comments,
// line continuations, FROM ... AS, and the JSON and shell forms of
// commands. Heredocs and a changed escape character are refused rather
// than misread.
package dockerfile

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Instruction is one Dockerfile instruction with its continuation lines
// joined.
type Instruction struct {
	Cmd  string // upper case: FROM, RUN, ENV, ...
	Args string // everything after the keyword, trimmed
	Line int    // first line, from 1
}

// Stage is a FROM and the instructions up to the next FROM.
type Stage struct {
	Name         string // the AS name; "" when unnamed
	Base         string // the image or stage it starts from
	Line         int
	Instructions []Instruction
}

// File is a parsed Dockerfile.
type File struct {
	Path       string
	Directives map[string]string // parser directives such as syntax
	GlobalArgs []Instruction     // ARGs before the first FROM
	Stages     []*Stage
}

// instructions Docker knows; anything else is a typo.
var known = []string{"ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
	"LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}

// Load parses the Dockerfile at path.
func Load(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dockerfile: %w", err)
	}
	defer f.Close()
	df, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	df.Path = path
	return df, nil
}

// Parse reads a Dockerfile.
func Parse(r io.Reader) (*File, error) {
	df := &File{Directives: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	var (
		line       int
		cur        strings.Builder
		start      int
		directives = true
	)
	flush := func() error {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return nil
		}
		cmd, args := text, ""
		if i := strings.IndexAny(text, " \t"); i >= 0 {
			cmd, args = text[:i], text[i+1:]
		}
		in := Instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start}
		if !slices.Contains(known, in.Cmd) {
			return fmt.Errorf("line %d: unknown instruction %q", in.Line, cmd)
		}
		if strings.Contains(in.Args, "<<") && (in.Cmd == "RUN" || in.Cmd == "COPY") {
			return fmt.Errorf("line %d: heredocs are not supported by this reader", in.Line)
		}
		if in.Cmd == "FROM" {
			st, err := parseFrom(in)
			if err != nil {
				return err
			}
			df.Stages = append(df.Stages, st)
			return nil
		}
		if len(df.Stages) == 0 {
			if in.Cmd != "ARG" {
				return fmt.Errorf("line %d: %s before the first FROM", in.Line, in.Cmd)
			}
			df.GlobalArgs = append(df.GlobalArgs, in)
			return nil
		}
		st := df.Stages[len(df.Stages)-1]
		st.Instructions = append(st.Instructions, in)
		return nil
	}
	for sc.Scan() {
		line++
		raw := sc.Text()
		trimmed := strings.TrimSpace(raw)
		if directives {
			if k, v, ok := parseDirective(trimmed); ok {
				if k == "escape" && v != `\` {
					return nil, fmt.Errorf("line %d: escape character %q is not supported by this reader", line, v)
				}
				df.Directives[k] = v
				continue
			}
			directives = false
		}
		// Comment lines are dropped, also inside a continued instruction.
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cur.Len() == 0 {
			if trimmed == "" {
				continue
			}
			start = line
		}
		if body, ok := strings.CutSuffix(strings.TrimRight(raw, " \t"), `\`); ok {
			cur.WriteString(body)
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(raw)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("line %d: the last instruction ends with a line continuation", start)
	}
	if len(df.Stages) == 0 {
		return nil, fmt.Errorf("no FROM")
	}
	seen := map[string]bool{}
	for _, st := range df.Stages {
		if st.Name == "" {
			continue
		}
		if seen[st.Name] {
			return nil, fmt.Errorf("line %d: stage %q defined twice", st.Line, st.Name)
		}
		seen[st.Name] = true
	}
	return df, nil
}

func parseDirective(line string) (key, value string, ok bool) {
	rest, ok := strings.CutPrefix(line, "#")
	if !ok {
		return "", "", false
	}
	k, v, ok := strings.Cut(rest, "=")
	k = strings.ToLower(strings.TrimSpace(k))
	if !ok || k == "" || strings.ContainsAny(k, " \t") {
		return "", "", false
	}
	return k, strings.TrimSpace(v), true
}

func parseFrom(in Instruction) (*Stage, error) {
	var words []string
	for w := range strings.FieldsSeq(in.Args) {
		if strings.HasPrefix(w, "--") {
			continue // --platform
		}
		words = append(words, w)
	}
	st := &Stage{Line: in.Line}
	switch {
	case len(words) == 1:
		st.Base = words[0]
	case len(words) == 3 && strings.EqualFold(words[1], "AS"):
		st.Base, st.Name = words[0], strings.ToLower(words[2])
	default:
		return nil, fmt.Errorf("line %d: FROM %s: want IMAGE [AS NAME]", in.Line, in.Args)
	}
	return st, nil
}

// Stage returns the stage named name.
func (f *File) Stage(name string) (*Stage, bool) {
	for _, st := range f.Stages {
		if st.Name == strings.ToLower(name) {
			return st, true
		}
	}
	return nil, false
}

// Chain returns the stages a target is built from, the target first and
// the stage built on an external image last.
func (f *File) Chain(target string) ([]*Stage, error) {
	st, ok := f.Stage(target)
	if !ok {
		return nil, fmt.Errorf("no stage %q", target)
	}
	chain := []*Stage{st}
	for {
		parent, ok := f.Stage(st.Base)
		if !ok {
			return chain, nil
		}
		if slices.Contains(chain, parent) {
			return nil, fmt.Errorf("stage %q: FROM cycle", target)
		}
		chain = append(chain, parent)
		st = parent
	}
}

// BaseImage returns the external image a target starts from.
func (f *File) BaseImage(target string) (string, error) {
	chain, err := f.Chain(target)
	if err != nil {
		return "", err
	}
	return chain[len(chain)-1].Base, nil
}

// each calls fn for every instruction of the target's chain, base first,
// so later instructions override earlier ones as in a build.
func (f *File) each(target string, fn func(Instruction) error) error {
	chain, err := f.Chain(target)
	if err != nil {
		return err
	}
	for i := len(chain) - 1; i >= 0; i-- {
		for _, in := range chain[i].Instructions {
			if err := fn(in); err != nil {
				return fmt.Errorf("line %d: %s: %w", in.Line, in.Cmd, err)
			}
		}
	}
	return nil
}

// Env returns the environment a target's image sets.
func (f *File) Env(target string) (map[string]string, error) {
	env := map[string]string{}
	err := f.each(target, func(in Instruction) error {
		if in.Cmd != "ENV" {
			return nil
		}
		pairs, err := keyValues(in.Args)
		if err != nil {
			return err
		}
		for _, kv := range pairs {
			env[kv[0]] = kv[1]
		}
		return nil
	})
	return env, err
}

// Labels returns the labels of a target's image.
func (f *File) Labels(target string) (map[string]string, error) {
	labels := map[string]string{}
	err := f.each(target, func(in Instruction) error {
		if in.Cmd != "LABEL" {
			return nil
		}
		pairs, err := keyValues(in.Args)
		if err != nil {
			return err
		}
		for _, kv := range pairs {
			labels[kv[0]] = kv[1]
		}
		return nil
	})
	return labels, err
}

// Exposed returns the ports a target's image exposes, as written ("8080",
// "9090/tcp").
func (f *File) Exposed(target string) ([]string, error) {
	var ports []string
	err := f.each(target, func(in Instruction) error {
		if in.Cmd == "EXPOSE" {
			ports = append(ports, strings.Fields(in.Args)...)
		}
		return nil
	})
	return ports, err
}

// User returns the user a target's image runs as; "" means root.
func (f *File) User(target string) (string, error) {
	user := ""
	err := f.each(target, func(in Instruction) error {
		if in.Cmd == "USER" {
			user = in.Args
		}
		return nil
	})
	return user, err
}

// Runs returns the RUN commands of a target's chain.
func (f *File) Runs(target string) ([]string, error) {
	var runs []string
	err := f.each(target, func(in Instruction) error {
		if in.Cmd == "RUN" {
			runs = append(runs, in.Args)
		}
		return nil
	})
	return runs, err
}

// Healthcheck is a HEALTHCHECK instruction.
type Healthcheck struct {
	None    bool              // HEALTHCHECK NONE
	Options map[string]string // --interval=10s -> interval: 10s
	Exec    []string          // CMD ["probe", "arg"]
	Shell   string            // CMD probe arg (run by /bin/sh -c)
}

// Healthcheck returns the health check in force for a target, if any.
func (f *File) Healthcheck(target string) (*Healthcheck, error) {
	var hc *Healthcheck
	err := f.each(target, func(in Instruction) error {
		if in.Cmd != "HEALTHCHECK" {
			return nil
		}
		h, err := parseHealthcheck(in.Args)
		if err != nil {
			return err
		}
		hc = h
		return nil
	})
	return hc, err
}

func parseHealthcheck(args string) (*Healthcheck, error) {
	h := &Healthcheck{Options: map[string]string{}}
	rest := strings.TrimSpace(args)
	for strings.HasPrefix(rest, "--") {
		opt, after, _ := strings.Cut(rest, " ")
		k, v, ok := strings.Cut(strings.TrimPrefix(opt, "--"), "=")
		if !ok || v == "" {
			return nil, fmt.Errorf("option %q: want --name=value", opt)
		}
		h.Options[k] = v
		rest = strings.TrimSpace(after)
	}
	if strings.EqualFold(rest, "NONE") {
		if len(h.Options) > 0 {
			return nil, fmt.Errorf("NONE takes no options")
		}
		h.None = true
		return h, nil
	}
	kw, cmd, _ := strings.Cut(rest, " ")
	if !strings.EqualFold(kw, "CMD") || strings.TrimSpace(cmd) == "" {
		return nil, fmt.Errorf("want [OPTIONS] CMD command or NONE, got %q", args)
	}
	exec, isExec, err := execForm(cmd)
	if err != nil {
		return nil, err
	}
	if isExec {
		h.Exec = exec
	} else {
		h.Shell = strings.TrimSpace(cmd)
	}
	return h, nil
}

// Command returns the target's ENTRYPOINT and CMD in exec form; a shell
// form is returned as ["/bin/sh", "-c", text].
func (f *File) Command(target string) (entrypoint, cmd []string, err error) {
	chain, err := f.Chain(target)
	if err != nil {
		return nil, nil, err
	}
	for i := len(chain) - 1; i >= 0; i-- {
		cmdSetHere := false
		for _, in := range chain[i].Instructions {
			if in.Cmd != "ENTRYPOINT" && in.Cmd != "CMD" {
				continue
			}
			words, isExec, err := execForm(in.Args)
			if err != nil {
				return nil, nil, fmt.Errorf("line %d: %s: %w", in.Line, in.Cmd, err)
			}
			if !isExec {
				words = []string{"/bin/sh", "-c", in.Args}
			}
			if in.Cmd == "CMD" {
				cmd, cmdSetHere = words, true
				continue
			}
			entrypoint = words
			// As in a build, a stage's ENTRYPOINT drops the CMD it
			// inherited, not one it sets itself.
			if !cmdSetHere {
				cmd = nil
			}
		}
	}
	return entrypoint, cmd, nil
}

// execForm reads a JSON array command; isExec is false for shell form.
func execForm(s string) (words []string, isExec bool, err error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "[") {
		return nil, false, nil
	}
	if err := json.Unmarshal([]byte(s), &words); err != nil {
		return nil, false, fmt.Errorf("exec form %s: %w", s, err)
	}
	return words, true, nil
}

// Copy is a COPY (or ADD) instruction.
type Copy struct {
	From    string // the stage or image of --from; "" for the build context
	Sources []string
	Dest    string
}

// Copies returns the COPY and ADD instructions of a target's chain.
func (f *File) Copies(target string) ([]Copy, error) {
	var out []Copy
	err := f.each(target, func(in Instruction) error {
		if in.Cmd != "COPY" && in.Cmd != "ADD" {
			return nil
		}
		var c Copy
		var words []string
		for w := range strings.FieldsSeq(in.Args) {
			if from, ok := strings.CutPrefix(w, "--from="); ok {
				c.From = from
				continue
			}
			if strings.HasPrefix(w, "--") {
				continue
			}
			words = append(words, w)
		}
		if len(words) < 2 {
			return fmt.Errorf("want SOURCE... DEST, got %q", in.Args)
		}
		c.Sources, c.Dest = words[:len(words)-1], words[len(words)-1]
		out = append(out, c)
		return nil
	})
	return out, err
}

// ContextCopies returns the copies of a target's chain that take files
// from the build context.
func (f *File) ContextCopies(target string) ([]Copy, error) {
	all, err := f.Copies(target)
	var out []Copy
	for _, c := range all {
		if c.From == "" {
			out = append(out, c)
		}
	}
	return out, err
}

// Volumes returns the VOLUME paths of a target's chain.
func (f *File) Volumes(target string) ([]string, error) {
	var out []string
	err := f.each(target, func(in Instruction) error {
		if in.Cmd != "VOLUME" {
			return nil
		}
		words, isExec, err := execForm(in.Args)
		if err != nil {
			return err
		}
		if !isExec {
			words = strings.Fields(in.Args)
		}
		out = append(out, words...)
		return nil
	})
	return out, err
}

// keyValues reads ENV and LABEL arguments: key=value pairs, values
// optionally quoted; or the legacy "ENV key value" form.
func keyValues(s string) ([][2]string, error) {
	words, err := shellWords(s)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("no key=value")
	}
	if !strings.Contains(words[0].raw, "=") {
		// Legacy form: the first word is the key, the rest the value.
		_, value, _ := strings.Cut(strings.TrimSpace(s), words[0].raw)
		return [][2]string{{words[0].text, strings.TrimSpace(value)}}, nil
	}
	var out [][2]string
	for _, w := range words {
		k, v, ok := strings.Cut(w.text, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want key=value", w.raw)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

type word struct{ raw, text string }

// shellWords splits s at unquoted blanks, removing quotes and backslash
// escapes as Docker does for ENV and LABEL.
func shellWords(s string) ([]word, error) {
	var (
		out   []word
		raw   strings.Builder
		text  strings.Builder
		quote rune
		esc   bool
		in    bool
	)
	for _, r := range s {
		switch {
		case esc:
			text.WriteRune(r)
			raw.WriteRune(r)
			esc = false
			continue
		case r == '\\' && quote != '\'':
			esc = true
			raw.WriteRune(r)
			in = true
			continue
		case quote != 0:
			raw.WriteRune(r)
			if r == quote {
				quote = 0
			} else {
				text.WriteRune(r)
			}
			continue
		case r == '"' || r == '\'':
			quote = r
			raw.WriteRune(r)
			in = true
			continue
		case r == ' ' || r == '\t':
			if in {
				out = append(out, word{raw.String(), text.String()})
				raw.Reset()
				text.Reset()
				in = false
			}
			continue
		}
		raw.WriteRune(r)
		text.WriteRune(r)
		in = true
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", quote, s)
	}
	if in {
		out = append(out, word{raw.String(), text.String()})
	}
	return out, nil
}
