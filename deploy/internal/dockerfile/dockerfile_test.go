package dockerfile

import (
	"reflect"
	"strings"
	"testing"
)

const sample = `# syntax=docker/dockerfile:1
# A comment after the directives.
ARG GO=1
FROM golang:1.26 AS build
RUN echo one \
    # a comment inside a continuation is dropped
 && echo two
COPY . .

FROM debian:12-slim AS base
ENV A=1 B="two words" \
    C=three\ four
LABEL org.example.title="base image"
COPY tools/x.sh /opt/x.sh
COPY --from=build /out/bin /usr/local/bin/bin
EXPOSE 80
ENTRYPOINT ["/base"]
CMD ["base-cmd"]

FROM base AS app
ENV B=override
ENV LEGACY value with spaces
EXPOSE 8080/tcp 9090
USER 10001
HEALTHCHECK --interval=10s --start-period=1m CMD probe -grpc "$A"
ENTRYPOINT ["/app"]

from base as job
VOLUME ["/data", "/cache"]
healthcheck NONE
CMD build --flag
`

func TestParse(t *testing.T) {
	df, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if df.Directives["syntax"] != "docker/dockerfile:1" {
		t.Errorf("directives = %v", df.Directives)
	}
	if len(df.GlobalArgs) != 1 || df.GlobalArgs[0].Args != "GO=1" {
		t.Errorf("global args = %+v", df.GlobalArgs)
	}
	var names []string
	for _, st := range df.Stages {
		names = append(names, st.Name+"<"+st.Base)
	}
	if want := []string{"build<golang:1.26", "base<debian:12-slim", "app<base", "job<base"}; !reflect.DeepEqual(names, want) {
		t.Errorf("stages = %v, want %v", names, want)
	}
	build, _ := df.Stage("build")
	if got := build.Instructions[0]; got.Cmd != "RUN" || got.Line != 5 || strings.Contains(got.Args, "comment") || !strings.Contains(got.Args, "echo two") {
		t.Errorf("continued RUN = %+v", got)
	}

	env, err := df.Env("app")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"A": "1", "B": "override", "C": "three four", "LEGACY": "value with spaces"}; !reflect.DeepEqual(env, want) {
		t.Errorf("Env(app) = %v, want %v", env, want)
	}
	if img, _ := df.BaseImage("app"); img != "debian:12-slim" {
		t.Errorf("BaseImage(app) = %q", img)
	}
	if ports, _ := df.Exposed("app"); !reflect.DeepEqual(ports, []string{"80", "8080/tcp", "9090"}) {
		t.Errorf("Exposed(app) = %v", ports)
	}
	if u, _ := df.User("app"); u != "10001" {
		t.Errorf("User(app) = %q", u)
	}
	if u, _ := df.User("job"); u != "" {
		t.Errorf("User(job) = %q, want root", u)
	}
	if l, _ := df.Labels("app"); l["org.example.title"] != "base image" {
		t.Errorf("Labels(app) = %v", l)
	}
	hc, err := df.Healthcheck("app")
	if err != nil || hc == nil || hc.Shell != `probe -grpc "$A"` || hc.Options["interval"] != "10s" || hc.Options["start-period"] != "1m" {
		t.Errorf("Healthcheck(app) = %+v, %v", hc, err)
	}
	if hc, _ := df.Healthcheck("job"); hc == nil || !hc.None {
		t.Errorf("Healthcheck(job) = %+v, want NONE", hc)
	}
	if hc, _ := df.Healthcheck("base"); hc != nil {
		t.Errorf("Healthcheck(base) = %+v, want none", hc)
	}
	ep, cmd, _ := df.Command("app")
	if !reflect.DeepEqual(ep, []string{"/app"}) || cmd != nil {
		t.Errorf("Command(app) = %v %v; the new ENTRYPOINT drops the inherited CMD", ep, cmd)
	}
	ep, cmd, _ = df.Command("job")
	if !reflect.DeepEqual(ep, []string{"/base"}) || !reflect.DeepEqual(cmd, []string{"/bin/sh", "-c", "build --flag"}) {
		t.Errorf("Command(job) = %v %v", ep, cmd)
	}
	copies, _ := df.ContextCopies("app")
	if want := []Copy{{Sources: []string{"tools/x.sh"}, Dest: "/opt/x.sh"}}; !reflect.DeepEqual(copies, want) {
		t.Errorf("ContextCopies(app) = %+v, want %+v (COPY --from is not from the context)", copies, want)
	}
	all, _ := df.Copies("app")
	if len(all) != 2 || all[1].From != "build" || all[1].Dest != "/usr/local/bin/bin" {
		t.Errorf("Copies(app) = %+v", all)
	}
	if v, _ := df.Volumes("job"); !reflect.DeepEqual(v, []string{"/data", "/cache"}) {
		t.Errorf("Volumes(job) = %v", v)
	}
	if _, err := df.Chain("nope"); err == nil {
		t.Error("Chain of a missing stage succeeded")
	}
}

func TestParseErrors(t *testing.T) {
	for name, text := range map[string]string{
		"unknown instruction": "FROM a\nRUNN x\n",
		"before FROM":         "RUN x\nFROM a\n",
		"no FROM":             "# just a comment\n",
		"bad FROM":            "FROM a b c d\n",
		"dangling continue":   "FROM a\nRUN x \\\n",
		"duplicate stage":     "FROM a AS x\nFROM b AS x\n",
		"heredoc":             "FROM a\nRUN <<EOF\nx\nEOF\n",
		"escape directive":    "# escape=`\nFROM a\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse(strings.NewReader(text)); err == nil {
				t.Errorf("Parse succeeded on %q", text)
			}
		})
	}
	for name, text := range map[string]string{
		"healthcheck without CMD": "FROM a AS s\nHEALTHCHECK --interval=1s probe\n",
		"healthcheck bad option":  "FROM a AS s\nHEALTHCHECK --interval CMD probe\n",
		"env unterminated quote":  "FROM a AS s\nENV A=\"x\n",
		"env without key":         "FROM a AS s\nENV A=1 =2\n",
		"bad exec form":           "FROM a AS s\nHEALTHCHECK CMD [\"probe\"\n",
	} {
		t.Run(name, func(t *testing.T) {
			df, err := Parse(strings.NewReader(text))
			if err != nil {
				t.Fatal(err)
			}
			_, err1 := df.Healthcheck("s")
			_, err2 := df.Env("s")
			if err1 == nil && err2 == nil {
				t.Errorf("%q read without an error", text)
			}
		})
	}
}
