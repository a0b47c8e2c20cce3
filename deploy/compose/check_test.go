package compose

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arxivsearch/arxivsearch/deploy/internal/dockerfile"
	"github.com/arxivsearch/arxivsearch/deploy/internal/settings"
	"github.com/arxivsearch/arxivsearch/deploy/internal/stack"
	"github.com/arxivsearch/arxivsearch/deploy/monitoring"
)

// load reads the repository's compose file, Dockerfile and Prometheus
// configuration, each optionally edited first, as `docker compose` would
// with env and profiles.
func load(t *testing.T, edits edits, env map[string]string, profiles ...string) (*stack.Stack, *monitoring.ScrapeConfig, error) {
	t.Helper()
	root := repoRoot(t)
	composeFile := stack.ComposeFile
	if len(edits.compose) > 0 {
		composeFile = filepath.Join(t.TempDir(), "docker-compose.yaml")
		text := apply(t, read(t, filepath.Join(root, stack.ComposeFile)), edits.compose)
		if err := os.WriteFile(composeFile, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := stack.Load(context.Background(), composeFile, env, profiles...)
	if err != nil {
		return nil, nil, err
	}
	if len(edits.dockerfile) > 0 {
		text := apply(t, read(t, s.Dockerfile.Path), edits.dockerfile)
		df, err := dockerfile.Parse(strings.NewReader(text))
		if err != nil {
			return nil, nil, err
		}
		df.Path = s.Dockerfile.Path
		s.Dockerfile = df
	}
	promText := apply(t, read(t, filepath.Join(root, monitoring.PrometheusConfig)), edits.prometheus)
	prom, err := monitoring.ParseScrapeConfig([]byte(promText))
	if err != nil {
		return nil, nil, err
	}
	return s, prom, nil
}

type edits struct {
	compose, dockerfile, prometheus [][2]string // old -> new, each old must occur
}

func apply(t *testing.T, text string, changes [][2]string) string {
	t.Helper()
	for _, c := range changes {
		if !strings.Contains(text, c[0]) {
			t.Fatalf("the edit's text %q is not in the file; update the test", c[0])
		}
		text = strings.Replace(text, c[0], c[1], 1)
	}
	return text
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := settings.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestRepositoryCompose checks the compose file as shipped, by default and
// with the GPU profile in use.
func TestRepositoryCompose(t *testing.T) {
	for name, tc := range map[string]struct {
		env      map[string]string
		profiles []string
	}{
		"default": {},
		"gpu":     {env: map[string]string{"ARXIVSEARCH_EMBEDDER": "embedder-gpu"}, profiles: []string{"gpu"}},
	} {
		t.Run(name, func(t *testing.T) {
			s, prom, err := load(t, edits{}, tc.env, tc.profiles...)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range Check(s, prom) {
				t.Error(p)
			}
			// The checks must have had something to check.
			for _, svc := range []string{"embedder", "embedder-gpu", "index-a", "index-b", "gateway", "index-build", "prometheus", "grafana", "jaeger"} {
				if _, ok := s.Service(svc); !ok {
					t.Errorf("no service %s", svc)
				}
			}
			if len(prom.Targets()) < 4 {
				t.Errorf("Prometheus targets %v", prom.Targets())
			}
		})
	}
}

// TestCheckFindsBrokenFiles breaks the files one way at a time; each must
// be reported, which shows every check can fail.
func TestCheckFindsBrokenFiles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edits edits
		env   map[string]string
		want  string
	}{
		{"unknown setting", edits{compose: [][2]string{{"INDEX_LOG_FORMAT: json\n      INDEX_OTLP_ENDPOINT: jaeger:4317\n      INDEX_TOTAL_SHARDS: \"8\"\n      INDEX_SHARDS: \"0-3\"", "INDEX_LOG_FORMAT: json\n      INDEX_OTLP_ENDPOINT: jaeger:4317\n      INDEX_TOTAL_SHARDS: \"8\"\n      INDEX_SHARDS: \"0-3\"\n      INDEX_NPROBE: \"8\""}}},
			nil, "service index-a: INDEX_NPROBE is not a setting of index"},
		{"another daemon's setting", edits{compose: [][2]string{{"GATEWAY_LOG_FORMAT: json", "GATEWAY_LOG_FORMAT: json\n      INDEX_SHARDS: \"0-7\""}}},
			nil, "service gateway runs gateway but sets INDEX_SHARDS, a setting of index"},
		{"image env not documented", edits{dockerfile: [][2]string{{"GATEWAY_GRPC_LISTEN=:9090", "GATEWAY_GRPC_LISTEN=:9090 GATEWAY_LISTEN=:1"}}},
			nil, "service gateway: GATEWAY_LISTEN is not a setting of gateway"},
		{"published port not listened on", edits{compose: [][2]string{{`"${ARXIVSEARCH_HTTP_PORT:-8080}:8080"`, `"${ARXIVSEARCH_HTTP_PORT:-8080}:8000"`}}},
			nil, "service gateway publishes container port 8000"},
		{"listen moved, port not", edits{compose: [][2]string{{"GATEWAY_LOG_FORMAT: json", "GATEWAY_LOG_FORMAT: json\n      GATEWAY_GRPC_LISTEN: \":9999\""}}},
			nil, "service gateway publishes container port 9090"},
		{"exposed port not listened on", edits{dockerfile: [][2]string{{"EXPOSE 50061 9102", "EXPOSE 50061 9103"}}},
			nil, "target index exposes 9103"},
		{"bad listen address", edits{compose: [][2]string{{"EMBEDDER_LOG_FORMAT: json\n      EMBEDDER_OTLP_ENDPOINT: jaeger:4317\n    depends_on:\n      jaeger: { condition: service_started }\n\n  # The CUDA", "EMBEDDER_LOG_FORMAT: json\n      EMBEDDER_OTLP_ENDPOINT: jaeger:4317\n      EMBEDDER_LISTEN: \"50051\"\n    depends_on:\n      jaeger: { condition: service_started }\n\n  # The CUDA"}}},
			nil, `service embedder: service embedder -listen "50051"`},
		{"embedder on the wrong port", edits{compose: [][2]string{{"GATEWAY_EMBEDDER_ADDR: ${ARXIVSEARCH_EMBEDDER:-embedder}:50051", "GATEWAY_EMBEDDER_ADDR: ${ARXIVSEARCH_EMBEDDER:-embedder}:9101"}}},
			nil, "service gateway -embedder-addr: embedder listens for gRPC on port 50051, not 9101"},
		{"embedder address names an index", edits{compose: [][2]string{{"GATEWAY_EMBEDDER_ADDR: ${ARXIVSEARCH_EMBEDDER:-embedder}:50051", "GATEWAY_EMBEDDER_ADDR: index-a:50061"}}},
			nil, `index-a runs "index", want embedder`},
		{"embedder of an inactive profile", edits{}, map[string]string{"ARXIVSEARCH_EMBEDDER": "embedder-gpu"},
			"-embedder-addr names embedder-gpu, whose profile is off"},
		{"gateway misses an index", edits{compose: [][2]string{{"GATEWAY_INDEX_ADDRS: index-a:50061,index-b:50061", "GATEWAY_INDEX_ADDRS: index-a:50061"}}},
			nil, "-index-addrs names [index-a], but the index instances are [index-a index-b]"},
		{"gateway names no service", edits{compose: [][2]string{{"GATEWAY_INDEX_ADDRS: index-a:50061,index-b:50061", "GATEWAY_INDEX_ADDRS: index-a:50061,index-c:50061"}}},
			nil, "index-c is not a compose service"},
		{"shard owned twice", edits{compose: [][2]string{{`INDEX_SHARDS: "4-7"`, `INDEX_SHARDS: "3-7"`}}},
			nil, "shard 3 is owned by both index-a and index-b"},
		{"shard owned by nobody", edits{compose: [][2]string{{`INDEX_SHARDS: "4-7"`, `INDEX_SHARDS: "4-6"`}}},
			nil, "shard 7 of 8 is owned by no index instance"},
		{"shard counts differ", edits{compose: [][2]string{{"INDEX_TOTAL_SHARDS: \"8\"\n      INDEX_SHARDS: \"4-7\"", "INDEX_TOTAL_SHARDS: \"16\"\n      INDEX_SHARDS: \"4-7\""}}},
			nil, "service index-b: -total-shards 16, others 8"},
		{"instance owns everything", edits{compose: [][2]string{{"\n      INDEX_SHARDS: \"4-7\"", ""}}},
			nil, "service index-b: -shards is empty (all shards) beside other instances"},
		{"traces not exported", edits{compose: [][2]string{{"      GATEWAY_OTLP_ENDPOINT: jaeger:4317\n", ""}}},
			nil, `service gateway: -otlp-endpoint "", want jaeger:4317`},
		{"traces to the wrong port", edits{compose: [][2]string{{"INDEX_OTLP_ENDPOINT: jaeger:4317", "INDEX_OTLP_ENDPOINT: jaeger:4318"}}},
			nil, `service index-a: -otlp-endpoint "jaeger:4318", want jaeger:4317`},
		{"no health check to wait for", edits{dockerfile: [][2]string{{"HEALTHCHECK --interval=10s --timeout=3s --start-period=600s --start-interval=1s --retries=3 \\\n    CMD healthprobe -grpc \"$INDEX_LISTEN\"", ""}}},
			nil, "service gateway waits for index-a to be healthy, but index-a has no health check"},
		{"daemon image without health check", edits{dockerfile: [][2]string{{"HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --start-interval=1s --retries=3 \\\n    CMD healthprobe -http \"$GATEWAY_HTTP_LISTEN\" -path /readyz", "HEALTHCHECK NONE"}}},
			nil, "target gateway: runs the gateway daemon but has no HEALTHCHECK"},
		{"started before healthy", edits{compose: [][2]string{{"      index-b: { condition: service_healthy }\n      jaeger", "      index-b: { condition: service_started }\n      jaeger"}}},
			nil, "service gateway starts before index-b is healthy (condition service_started)"},
		{"call without dependency", edits{compose: [][2]string{{"      embedder: { condition: service_healthy }\n      embedder-gpu: { condition: service_healthy, required: false }\n      index-a: { condition: service_healthy }\n      index-b: { condition: service_healthy }\n\n  prometheus", "      embedder-gpu: { condition: service_healthy, required: false }\n      index-a: { condition: service_healthy }\n      index-b: { condition: service_healthy }\n\n  prometheus"}}},
			nil, "service index-build calls embedder but does not depend on it"},
		{"optional dependency that always runs", edits{compose: [][2]string{{"      index-a: { condition: service_healthy }\n      index-b: { condition: service_healthy }\n      jaeger", "      index-a: { condition: service_healthy, required: false }\n      index-b: { condition: service_healthy }\n      jaeger"}}},
			nil, "service gateway: optional dependency on index-a, which always runs"},
		{"missing target", edits{compose: [][2]string{{"target: gateway }", "target: gateway-slim }"}}},
			nil, `service gateway: target "gateway-slim" is not a stage`},
		{"unpinned third-party image", edits{compose: [][2]string{{"image: grafana/grafana:12.1.1", "image: grafana/grafana:latest"}}},
			nil, `service grafana: image "grafana/grafana:latest" is not pinned by tag`},
		{"untagged base image", edits{dockerfile: [][2]string{{"FROM debian:12.13-slim AS runtime", "FROM debian AS runtime"}}},
			nil, `base image "debian" is not pinned by tag`},
		{"image runs as root", edits{dockerfile: [][2]string{{"EXPOSE 8080 9090\nUSER 10001", "EXPOSE 8080 9090"}}},
			nil, "service gateway: runs as root"},
		{"build tool in a runtime image", edits{dockerfile: [][2]string{{"libopenblas0-openmp libstdc++6", "libopenblas0-openmp libstdc++6 g++"}}},
			nil, "target index: installs the build tool g++"},
		{"runs on the build image", edits{dockerfile: [][2]string{{"FROM debian:12.13-slim AS runtime", "FROM golang:1.26.8-bookworm AS runtime"}}},
			nil, "target embedder: runs on the Go build image"},
		{"label missing", edits{dockerfile: [][2]string{{`org.opencontainers.image.title="arxivsearch gateway" \`, `org.opencontainers.image.documentation="x" \`}}},
			nil, "target gateway: no label org.opencontainers.image.title"},
		{"killed while draining", edits{compose: [][2]string{{"INDEX_TOTAL_SHARDS: \"8\"\n      INDEX_SHARDS: \"4-7\"", "INDEX_TOTAL_SHARDS: \"8\"\n      INDEX_SHARDS: \"4-7\"\n      INDEX_SHUTDOWN_GRACE: 5m"}}},
			nil, "service index-b: stop_grace_period 2m0s does not exceed -shutdown-grace 5m0s"},
		{"default stop grace", edits{compose: [][2]string{{"    image: arxivsearch/gateway:${ARXIVSEARCH_VERSION:-dev}\n    restart: unless-stopped\n    stop_grace_period: 20s\n", "    image: arxivsearch/gateway:${ARXIVSEARCH_VERSION:-dev}\n    restart: unless-stopped\n"}}},
			nil, "service gateway: stop_grace_period 10s does not exceed -shutdown-grace 10s"},
		{"volume shared by two instances", edits{compose: [][2]string{{"- index-b-data:/data/index", "- index-a-data:/data/index"}}},
			nil, "services index-a and index-b share the volume index-a-data"},
		{"data outside the volume", edits{compose: [][2]string{{`INDEX_SHARDS: "0-3"`, "INDEX_SHARDS: \"0-3\"\n      INDEX_DATA_DIR: /tmp/index"}}},
			nil, "service index-a: -data-dir /tmp/index is not on a named volume"},
		{"bind source missing", edits{compose: [][2]string{{"./deploy/grafana/dashboards:", "./deploy/grafana/dashbords:"}}},
			nil, "deploy/grafana/dashbords, which does not exist"},
		{"model directory not in the image", edits{compose: [][2]string{{"      EMBEDDER_LOG_FORMAT: json\n      EMBEDDER_OTLP_ENDPOINT: jaeger:4317\n    depends_on:\n      jaeger: { condition: service_started }\n\n  # The CUDA", "      EMBEDDER_LOG_FORMAT: json\n      EMBEDDER_OTLP_ENDPOINT: jaeger:4317\n      EMBEDDER_MODEL_DIR: /models/minilm\n    depends_on:\n      jaeger: { condition: service_started }\n\n  # The CUDA"}}},
			nil, "service embedder: EMBEDDER_MODEL_DIR=/models/minilm is neither in its image nor on a volume"},
		{"library path the image lacks", edits{dockerfile: [][2]string{{"EMBEDDER_ONNXRUNTIME_LIB=/opt/onnxruntime/lib/libonnxruntime.so.1", "EMBEDDER_ONNXRUNTIME_LIB=/usr/lib/libonnxruntime.so.1"}}},
			nil, "service embedder-gpu: EMBEDDER_ONNXRUNTIME_LIB=/usr/lib/libonnxruntime.so.1 is neither in its image"},
		{"target not scraped", edits{prometheus: [][2]string{{`["index-a:9102", "index-b:9102"]`, `["index-a:9102"]`}}},
			nil, "Prometheus does not scrape index-b:9102"},
		{"scrapes a gRPC port", edits{prometheus: [][2]string{{`["embedder:9101"]`, `["embedder:50051"]`}}},
			nil, "Prometheus scrapes embedder:50051, which is no service's metrics port"},
		{"metrics port moved", edits{dockerfile: [][2]string{{"EMBEDDER_METRICS_LISTEN=:9101 \\\n    EMBEDDER_ONNXRUNTIME_LIB=/usr/local", "EMBEDDER_METRICS_LISTEN=:9111 \\\n    EMBEDDER_ONNXRUNTIME_LIB=/usr/local"}}},
			nil, "Prometheus does not scrape embedder:9111"},
		{"prometheus reads another file", edits{compose: [][2]string{{"--config.file=/etc/prometheus/prometheus.yml", "--config.file=/etc/prometheus/other.yml"}}},
			nil, "service prometheus: --config.file"},
		{"dashboards mounted elsewhere", edits{compose: [][2]string{{"./deploy/grafana/dashboards:/etc/grafana/dashboards:ro", "./deploy/grafana/dashboards:/var/lib/dashboards:ro"}}},
			nil, "Grafana's dashboard provider reads [/etc/grafana/dashboards], but the dashboards are mounted at /var/lib/dashboards"},
		{"home dashboard missing", edits{compose: [][2]string{{"/etc/grafana/dashboards/arxivsearch.json", "/etc/grafana/dashboards/home.json"}}},
			nil, "service grafana: home dashboard /etc/grafana/dashboards/home.json is not a file"},
		{"provisioning not mounted", edits{compose: [][2]string{{"./deploy/grafana/provisioning:/etc/grafana/provisioning:ro", "./deploy/grafana:/etc/grafana/provisioning:ro"}}},
			nil, "service grafana does not mount deploy/grafana/provisioning"},
		{"grafana before prometheus", edits{compose: [][2]string{{"      prometheus: { condition: service_healthy }\n", ""}}},
			nil, "service grafana reads prometheus but does not depend on it"},
		{"gpu embedder always on", edits{compose: [][2]string{{"    profiles: [gpu]\n", ""}}},
			nil, "service embedder-gpu: profiles [], want [gpu]"},
		{"gpu not reserved", edits{compose: [][2]string{{"driver: nvidia", "driver: amd"}}},
			nil, "service embedder-gpu: reserves no NVIDIA GPU"},
		{"gpu image on the cpu", edits{dockerfile: [][2]string{{"EMBEDDER_DEVICE=cuda", "EMBEDDER_DEVICE=cpu"}}},
			nil, `service embedder-gpu: -device "cpu", want cuda`},
		{"job restarts", edits{compose: [][2]string{{`restart: "no"`, "restart: on-failure"}}},
			nil, `service index-build: restart "on-failure", want "no"`},
		{"job misses an index", edits{compose: [][2]string{{"      - -index\n      - index-a:50061,index-b:50061", "      - -index\n      - index-b:50061"}}},
			nil, "service index-build: -index names [index-b], but the index instances are [index-a index-b]"},
		{"job dataset not mounted", edits{compose: [][2]string{{"      - /dataset/papers\n", "      - /data/papers\n"}}},
			nil, `service index-build: -input "/data/papers" is not a mounted file`},
		{"no trace backend", edits{compose: [][2]string{{"image: jaegertracing/jaeger:2.14.0", "image: openzipkin/zipkin:3.5.1"}}},
			nil, "service jaeger: image openzipkin/zipkin:3.5.1 is not Jaeger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, prom, err := load(t, tc.edits, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			problems := Check(s, prom)
			for _, p := range problems {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Errorf("no problem mentions %q; got %q", tc.want, problems)
		})
	}
}

// TestLoaderRejectsInvalidFiles: the compose-spec loader validates the
// file against the schema, so a misspelt key or a dependency on no
// service fails the load itself.
func TestLoaderRejectsInvalidFiles(t *testing.T) {
	for name, e := range map[string][2]string{
		"misspelt key":       {"    environment:\n      GATEWAY_LOG_FORMAT", "    enviroment:\n      GATEWAY_LOG_FORMAT"},
		"undefined volume":   {"  index-b-data:\n", ""},
		"unknown dependency": {"      jaeger: { condition: service_started }\n\n  # The CUDA", "      tracing: { condition: service_started }\n\n  # The CUDA"},
		"bad condition":      {"index-a: { condition: service_healthy }\n      index-b", "index-a: { condition: service_ready }\n      index-b"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := load(t, edits{compose: [][2]string{e}}, nil); err == nil {
				t.Error("the broken file loaded")
			} else {
				t.Log(err)
			}
		})
	}
}
