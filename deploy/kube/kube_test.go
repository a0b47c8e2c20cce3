package kube

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arxivsearch/arxivsearch/deploy/internal/settings"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// overlays are what an operator applies: the services of an environment
// and the index-build job that goes with them, checked together.
var overlays = []struct {
	name string
	dirs []string
}{
	{"dev", []string{"overlays/dev", "overlays/dev/build-index"}},
	{"production", []string{"overlays/production", "overlays/production/build-index"}},
	{"gpu", []string{"overlays/gpu", "overlays/production/build-index"}},
}

func k8sDir(t testing.TB) string {
	t.Helper()
	root, err := settings.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "deploy", "k8s")
}

var loadProject = sync.OnceValues(LoadProject)

func project(t testing.TB) Project {
	t.Helper()
	p, err := loadProject()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// renders caches each directory's render: every variant below starts from
// the same overlay, and renders cost tens of milliseconds each.
var renders sync.Map

func render(t testing.TB, r Renderer, dirs ...string) []byte {
	t.Helper()
	var all bytes.Buffer
	for _, d := range dirs {
		key := r.Name() + "\x00" + d
		out, ok := renders.Load(key)
		if !ok {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			b, err := r.Render(ctx, filepath.Join(k8sDir(t), d))
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			out, _ = renders.LoadOrStore(key, b)
		}
		all.WriteString("---\n")
		all.Write(out.([]byte))
	}
	return all.Bytes()
}

func overlayDirs(t *testing.T, name string) []string {
	for _, o := range overlays {
		if o.name == name {
			return o.dirs
		}
	}
	t.Fatalf("no overlay %s", name)
	return nil
}

func TestOverlays(t *testing.T) {
	p := project(t)
	// The Go API renders in process, on every machine, in a fraction of
	// kubectl's time; TestRenderersAgree holds kubectl to the same output.
	r := GoAPI{}
	for _, o := range overlays {
		t.Run(o.name, func(t *testing.T) {
			m, err := Decode(render(t, r, o.dirs...))
			if err != nil {
				t.Fatal(err)
			}
			for _, err := range Check(m, p) {
				t.Error(err)
			}
			// The checks above pass vacuously on an empty render; make
			// sure the services are there.
			if len(m.Deployments) != 2 || len(m.StatefulSets) != 1 || len(m.Jobs) != 1 || len(m.Services) < 3 {
				t.Errorf("render has %d Deployments, %d StatefulSets, %d Jobs, %d Services; want embedder and gateway, index, build-index and their Services",
					len(m.Deployments), len(m.StatefulSets), len(m.Jobs), len(m.Services))
			}
		})
	}
}

// TestEveryOverlayChecked keeps the table above complete: a kustomization
// under overlays/ is tested, or part of one that is (a resource of it).
func TestEveryOverlayChecked(t *testing.T) {
	root := k8sDir(t)
	covered := map[string]bool{}
	var cover func(dir string)
	cover = func(dir string) {
		if covered[dir] {
			return
		}
		covered[dir] = true
		b, err := os.ReadFile(filepath.Join(root, dir, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var k struct {
			Resources []string `json:"resources"`
		}
		if err := yaml.Unmarshal(b, &k); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		for _, r := range k.Resources {
			sub := filepath.Join(dir, r)
			if _, err := os.Stat(filepath.Join(root, sub, "kustomization.yaml")); err == nil {
				cover(filepath.ToSlash(sub))
			}
		}
	}
	for _, o := range overlays {
		for _, d := range o.dirs {
			cover(d)
		}
	}
	err := filepath.WalkDir(filepath.Join(root, "overlays"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "kustomization.yaml" {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		if !covered[filepath.ToSlash(rel)] {
			t.Errorf("%s is not in the overlays table of this test, nor part of an overlay in it", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRenderersAgree renders every kustomization with the kustomize Go
// API, the fallback for machines without kubectl, and with kubectl where
// it is installed: the objects must be the same.
func TestRenderersAgree(t *testing.T) {
	kubectl, err := FindKubectl()
	if errors.Is(err, ErrNoKubectl) {
		t.Skip("kubectl is not installed; TestOverlays ran on the Go API's renders")
	}
	dirs := map[string]bool{}
	for _, o := range overlays {
		for _, d := range o.dirs {
			dirs[d] = true
		}
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		t.Run(d, func(t *testing.T) {
			var objs [2]map[string]string
			for i, r := range []Renderer{GoAPI{}, kubectl} {
				m, err := Decode(render(t, r, d))
				if err != nil {
					t.Fatalf("%s: %v", r.Name(), err)
				}
				if objs[i], err = m.Objects(); err != nil {
					t.Fatal(err)
				}
			}
			for k, v := range objs[0] {
				if objs[1][k] != v {
					t.Errorf("%s differs:\nGo API:  %s\nkubectl: %s", k, v, objs[1][k])
				}
			}
			for k := range objs[1] {
				if _, ok := objs[0][k]; !ok {
					t.Errorf("%s only in kubectl's render", k)
				}
			}
		})
	}
}

// variant is a broken copy of an overlay's render and what the checks must
// say about it.
type variant struct {
	name    string
	overlay string
	// old -> new in the YAML (old must occur), or extra documents at its
	// end, for decoding errors.
	old, new, extra string
	// or a change to the decoded objects.
	edit func(t *testing.T, m *Manifests)
	want string
}

func TestBrokenVariants(t *testing.T) {
	variants := []variant{
		// Decoding.
		{name: "misspelt field", overlay: "dev", old: "readinessProbe:", new: "readinesProbe:", want: `unknown field "spec.template.spec.containers[0].readinesProbe"`},
		{name: "field at the wrong level", overlay: "dev", old: "      terminationGracePeriodSeconds: 120", new: "      terminationGracePeriodSeconds: 120\n      replicas: 2", want: `unknown field "spec.template.spec.replicas"`},
		{name: "wrong type", overlay: "dev", old: "containerPort: 50061", new: "containerPort: grpc", want: "cannot unmarshal string"},
		{name: "duplicate key", overlay: "dev", old: "  name: arxivsearch-dev\n", new: "  name: arxivsearch-dev\n  name: other\n", want: "already set in map"},
		{name: "unknown kind", overlay: "dev", extra: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: debug\n", want: "kind v1 Pod is not one the checks know"},
		{name: "custom resource", overlay: "production", extra: "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: gateway\n", want: "kind monitoring.coreos.com/v1 ServiceMonitor is not one the checks know"},
		{name: "same object twice, different", overlay: "dev", extra: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: arxivsearch-dev\n  labels: {a: b}\n", want: "appears twice with different content"},
		{name: "no name", overlay: "dev", extra: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: arxivsearch-dev\n", want: "no metadata.name"},

		// Ports and probes.
		{name: "probe to a missing port", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			find(t, m, "index").ReadinessProbe.GRPC.Port = 50062
		}, want: "readiness probe: grpc port 50062 is not the index's gRPC port"},
		{name: "probe to the metrics port", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			find(t, m, "embedder").LivenessProbe.GRPC.Port = 9101
		}, want: "liveness probe: grpc port 9101 is not the embedder's gRPC port"},
		{name: "httpGet to an unnamed port", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			find(t, m, "gateway").ReadinessProbe.HTTPGet.Port = intstr.FromString("web")
		}, want: "httpGet port web is not a port that serves /healthz and /readyz"},
		{name: "liveness on readiness", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			find(t, m, "gateway").LivenessProbe.HTTPGet.Path = "/readyz"
		}, want: `liveness probe: path "/readyz", want /healthz`},
		{name: "no startup probe", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			find(t, m, "index").StartupProbe = nil
		}, want: "gRPC liveness probe without a startup probe"},
		{name: "no readiness probe", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			find(t, m, "embedder").ReadinessProbe = nil
		}, want: "no readiness probe"},
		{name: "listen moved, port not", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "index").Data["INDEX_LISTEN"] = ":50062"
		}, want: "listens on 50062 (INDEX_LISTEN) but declares no containerPort 50062"},
		{name: "listen on loopback", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "embedder").Data["EMBEDDER_LISTEN"] = "127.0.0.1:50051"
		}, want: "listens on 127.0.0.1 only"},
		{name: "metrics disabled, port kept", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "embedder").Data["EMBEDDER_METRICS_LISTEN"] = ""
		}, want: "containerPort 9101 is no port the embedder listens on"},
		{name: "scrape annotation to the wrong port", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			m.StatefulSets[0].Spec.Template.Annotations["prometheus.io/port"] = "50061"
		}, want: `prometheus.io/port "50061", but the index serves /metrics on 9102`},
		{name: "Service to an undeclared port", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			service(t, m, "gateway").Spec.Ports[0].TargetPort = intstr.FromString("htp")
		}, want: "Service gateway: port http targets htp"},
		{name: "Ingress to a missing port", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			m.Ingresses[0].Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Name = "web"
		}, want: "Ingress gateway: Service gateway has no port web"},

		{name: "job shut out by a network policy", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			for _, p := range m.NetworkPolicies {
				if p.Name == "index" {
					p.Spec.Ingress[0].From = p.Spec.Ingress[0].From[:1]
				}
			}
		}, want: "NetworkPolicy: Job build-index cannot reach StatefulSet index, container index on 50061 (INDEX_LISTEN)"},
		{name: "metrics closed to Prometheus", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			for _, p := range m.NetworkPolicies {
				if p.Name == "embedder" {
					p.Spec.Ingress[1].From = p.Spec.Ingress[0].From
				}
			}
		}, want: "NetworkPolicy: other namespaces (Prometheus) cannot reach Deployment embedder, container embedder on 9101"},
		{name: "network policy to a port by a wrong name", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			grpc := intstr.FromString("gprc")
			m.NetworkPolicies[0].Spec.Ingress[0].Ports[0].Port = &grpc
		}, want: "cannot reach"},

		// Shards and addresses.
		{name: "overlapping shard lists", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "topology").Data["shard-assignment"] = "0-3;3-7;0-3;4-7"
		}, want: "puts shard 3 on 3 pods and shard 0 on 2"},
		{name: "no exact cover", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "topology").Data["shard-assignment"] = "0,2-4;0-1,5-6;1-2,7;3-7"
		}, want: "no set of pods holds every shard exactly once"},
		{name: "a shard on no pod", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "topology").Data["shard-assignment"] = "0-3;5-7;0-3;5-7"
		}, want: "leaves shards 4 of 8 to no instance"},
		{name: "fewer shards than the plan names", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "topology").Data["total-shards"] = "4"
		}, want: `shard list "0-7": shard 7 out of range 0..3`},
		{name: "more pods than lists", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			five := int32(5)
			m.StatefulSets[0].Spec.Replicas = &five
		}, want: "5 replicas, but INDEX_SHARD_ASSIGNMENT"},
		{name: "gateway misses a pod", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			cm := configMap(t, m, "topology")
			cm.Data["index-addrs"] = strings.TrimSuffix(cm.Data["index-addrs"], ",index-3.index-headless:50061")
		}, want: "GATEWAY_INDEX_ADDRS names 3 index pods, the StatefulSet has 4 (missing [index-3])"},
		{name: "gateway names a pod twice", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "topology").Data["index-addrs"] = "index-0.index-headless:50061,index-0.index-headless.arxivsearch-dev.svc:50061"
		}, want: "index-0 named twice"},
		{name: "gateway to a pod that does not exist", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "topology").Data["index-addrs"] = "index-1.index-headless:50061"
		}, want: "index-1.index-headless is no pod of StatefulSet index (want index-N.index-headless with N in 0..0)"},
		{name: "gateway through the wrong Service", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "topology").Data["index-addrs"] = "index-0.index:50061"
		}, want: "index-0.index is no pod of StatefulSet index"},
		{name: "gateway to the metrics port", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "topology").Data["index-addrs"] = "index-0.index-headless:9102"
		}, want: "port 9102, but the index listens on 50061"},
		{name: "headless Service made a ClusterIP", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			service(t, m, "index-headless").Spec.ClusterIP = ""
		}, want: "is not headless"},
		{name: "instance from a literal", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			for i, e := range find(t, m, "index").Env {
				if e.Name == "INDEX_INSTANCE" {
					find(t, m, "index").Env[i] = corev1.EnvVar{Name: "INDEX_INSTANCE", Value: "index-0"}
				}
			}
		}, want: "INDEX_INSTANCE must come from the pod's name"},
		{name: "same shards for every pod", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "index").Data["INDEX_SHARDS"] = "0-7"
		}, want: "INDEX_SHARDS=\"0-7\" gives every pod the same shards"},
		{name: "embedder address to no Service", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "topology").Data["embedder-addr"] = "embedders:50051"
		}, want: "embedder address embedders:50051: no Service embedders"},
		{name: "embedder address to the wrong port", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "topology").Data["embedder-addr"] = "embedder:9101"
		}, want: "Service embedder has no port 9101"},
		{name: "embedder Service with a cluster IP", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			service(t, m, "embedder").Spec.ClusterIP = ""
		}, want: "Service embedder is not headless"},
		{name: "job to other pods than the gateway", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			job := m.Jobs[0].Spec.Template.Spec.Containers[0].Args
			for i, a := range job {
				if strings.HasPrefix(a, "-index=") {
					job[i] = "-index=index-0.index-headless:50061,index-1.index-headless:50061"
				}
			}
		}, want: "-index names 2 index pods, the StatefulSet has 4"},
		{name: "job without -embedder", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			c := &m.Jobs[0].Spec.Template.Spec.Containers[0]
			c.Args = slices.DeleteFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "-embedder") })
		}, want: "build-index without -embedder"},

		// Availability.
		{name: "budget beyond the replicas", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			one := intstr.FromInt32(1)
			m.PDBs = append(m.PDBs, &policyv1.PodDisruptionBudget{
				ObjectMeta: metav1.ObjectMeta{Name: "index", Namespace: "arxivsearch-dev"},
				Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "index"}}},
			})
		}, want: "lets 1 index pods go at once, but some shard has only 1 replica"},
		{name: "budget by percentage", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			half := intstr.FromString("50%")
			for _, p := range m.PDBs {
				if p.Name == "index" {
					p.Spec.MaxUnavailable = &half
				}
			}
		}, want: "lets 2 index pods go at once, but some shard has only 2 replica"},
		{name: "rolling update faster than the gateway", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			m.StatefulSets[0].Spec.MinReadySeconds = 5
		}, want: "minReadySeconds 5 is shorter than the gateway's index refresh (10s)"},
		{name: "autoscaled Deployment with replicas", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			two := int32(2)
			m.Deployments[0].Spec.Replicas = &two
			m.Deployments[1].Spec.Replicas = &two
		}, want: "Deployment embedder sets replicas"},
		{name: "autoscaled index", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			m.HPAs[0].Spec.ScaleTargetRef.Kind, m.HPAs[0].Spec.ScaleTargetRef.Name = "StatefulSet", "index"
		}, want: "index pods own fixed shards"},
		{name: "budget selecting nothing", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			m.PDBs[0].Spec.Selector.MatchLabels = map[string]string{"app.kubernetes.io/name": "embeder"}
		}, want: "selector map[app.kubernetes.io/name:embeder] selects no pods"},

		// Settings.
		{name: "variable not in the configuration page", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "embedder").Data["EMBEDDER_BATCH_SIZE"] = "64"
		}, want: "EMBEDDER_BATCH_SIZE is not a embedder setting in docs/configuration.md"},
		{name: "variable of another daemon", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "gateway").Data["INDEX_MAX_K"] = "100"
		}, want: "INDEX_MAX_K is a index setting, set on the gateway"},
		{name: "stray variable", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "index").Data["LOG_LEVEL"] = "debug"
		}, want: "LOG_LEVEL is no variable the index reads"},
		{name: "token as a literal", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			c := find(t, m, "gateway")
			for i, e := range c.Env {
				if e.Name == "GATEWAY_WRITE_TOKEN" {
					c.Env[i] = corev1.EnvVar{Name: e.Name, Value: "hunter2"}
				}
			}
		}, want: "GATEWAY_WRITE_TOKEN comes from env; a credential must come from a Secret"},
		{name: "token in a ConfigMap", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "gateway").Data["GATEWAY_WRITE_TOKEN"] = "hunter2"
			c := find(t, m, "gateway")
			c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "GATEWAY_WRITE_TOKEN" })
		}, want: "key GATEWAY_WRITE_TOKEN looks like a credential"},
		{name: "missing ConfigMap key", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			delete(configMap(t, m, "topology").Data, "index-addrs")
		}, want: "variable GATEWAY_INDEX_ADDRS: ConfigMap topology-"},
		{name: "data on the container's file system", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "index").Data["INDEX_DATA_DIR"] = "/var/lib/index"
		}, want: "INDEX_DATA_DIR=/var/lib/index is on no volume"},
		{name: "data on a scratch volume", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "index").Data["INDEX_DATA_DIR"] = "/tmp/index"
		}, want: "is on volume tmp, which is not one of the StatefulSet's volume claim templates"},

		// GPU.
		{name: "GPU image on the CPU", overlay: "gpu", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "embedder").Data["EMBEDDER_DEVICE"] = "cpu"
		}, want: `has a GPU but EMBEDDER_DEVICE="cpu" runs on the CPU`},
		{name: "CUDA without a GPU", overlay: "gpu", edit: func(t *testing.T, m *Manifests) {
			delete(find(t, m, "embedder").Resources.Limits, gpuResource)
		}, want: "no nvidia.com/gpu limit"},
		{name: "GPU for the CPU image", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			configMap(t, m, "embedder").Data["EMBEDDER_DEVICE"] = "cuda"
			find(t, m, "embedder").Resources.Limits[gpuResource] = resource.MustParse("1")
		}, want: "has the CPU-only ONNX Runtime"},

		// Images, resources, security.
		{name: "latest", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			find(t, m, "gateway").Image = "arxivsearch/gateway:latest"
		}, want: "pin a release, not latest"},
		{name: "two releases", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			find(t, m, "gateway").Image = "registry.example.com/arxivsearch/gateway:0.2.0"
		}, want: "images of different releases"},
		{name: "foreign image", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			find(t, m, "gateway").Image = "nginx:1.27"
		}, want: `image "nginx:1.27" is none of the project's`},
		{name: "no memory limit", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			delete(find(t, m, "index").Resources.Limits, corev1.ResourceMemory)
		}, want: "no resources.limits.memory"},
		{name: "request above limit", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			find(t, m, "gateway").Resources.Requests[corev1.ResourceCPU] = resource.MustParse("3")
		}, want: "cpu request 3 is above its limit 2"},
		{name: "root", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			f := false
			m.StatefulSets[0].Spec.Template.Spec.SecurityContext.RunAsNonRoot = &f
		}, want: "runAsNonRoot is not true"},
		{name: "writable root file system", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			f := false
			find(t, m, "embedder").SecurityContext.ReadOnlyRootFilesystem = &f
		}, want: "readOnlyRootFilesystem is not true"},
		{name: "volume mount without a volume", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			c := find(t, m, "gateway")
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "cache", MountPath: "/cache"})
		}, want: "volume mount cache names no volume"},
		{name: "image volume left unmounted", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			find(t, m, "index").VolumeMounts[0].MountPath = "/data"
		}, want: "the image declares VOLUME /data/index and nothing is mounted there"},
		{name: "another user than the image's", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			uid := int64(1000)
			m.StatefulSets[0].Spec.Template.Spec.SecurityContext.RunAsUser = &uid
		}, want: "runs as user 1000, the image as 10001"},
		{name: "setting from the image", overlay: "production", edit: func(t *testing.T, m *Manifests) {
			// The CUDA image sets EMBEDDER_DEVICE=cuda itself.
			find(t, m, "embedder").Image = "arxivsearch/embedder-cuda:0.1.0"
			delete(configMap(t, m, "embedder").Data, "EMBEDDER_DEVICE")
		}, want: `EMBEDDER_DEVICE="cuda" but no nvidia.com/gpu limit`},
		{name: "objects in two namespaces", overlay: "dev", edit: func(t *testing.T, m *Manifests) {
			m.Jobs[0].Namespace = "default"
		}, want: "objects are in namespaces [arxivsearch-dev default]"},
	}
	// Edits start from a copy of the overlay decoded once.
	decoded := map[string]*Manifests{}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			stream := render(t, GoAPI{}, overlayDirs(t, v.overlay)...)
			var m *Manifests
			var err error
			switch {
			case v.edit != nil:
				if decoded[v.overlay] == nil {
					if decoded[v.overlay], err = Decode(stream); err != nil {
						t.Fatal(err)
					}
				}
				m = decoded[v.overlay].DeepCopy()
				v.edit(t, m)
			case v.old != "":
				if !bytes.Contains(stream, []byte(v.old)) {
					t.Fatalf("render of %s has no %q to break", v.overlay, v.old)
				}
				m, err = Decode(bytes.Replace(stream, []byte(v.old), []byte(v.new), 1))
			default:
				m, err = Decode(append(append(slices.Clone(stream), "---\n"...), v.extra...))
			}
			var errs []error
			if err != nil {
				errs = []error{err}
			} else {
				errs = Check(m, project(t))
			}
			for _, err := range errs {
				if strings.Contains(err.Error(), v.want) {
					return
				}
			}
			t.Errorf("no error says %q; got %d:\n%v", v.want, len(errs), errors.Join(errs...))
		})
	}
	// The edits changed copies only: what they started from is intact.
	for name, m := range decoded {
		for _, err := range Check(m, project(t)) {
			t.Errorf("%s after the variants: %v", name, err)
		}
	}
}

// find returns the container that runs a daemon's image.
func find(t *testing.T, m *Manifests, role string) *corev1.Container {
	t.Helper()
	var tmpls []*corev1.PodTemplateSpec
	for _, d := range m.Deployments {
		tmpls = append(tmpls, &d.Spec.Template)
	}
	for _, s := range m.StatefulSets {
		tmpls = append(tmpls, &s.Spec.Template)
	}
	for _, tm := range tmpls {
		for i := range tm.Spec.Containers {
			repo, _ := splitImage(tm.Spec.Containers[i].Image)
			if strings.TrimSuffix(strings.TrimPrefix(repo, "arxivsearch/"), "-cuda") == role {
				return &tm.Spec.Containers[i]
			}
		}
	}
	t.Fatalf("no %s container", role)
	return nil
}

// configMap returns the generated ConfigMap name-<hash>.
func configMap(t *testing.T, m *Manifests, name string) *corev1.ConfigMap {
	t.Helper()
	for _, cm := range m.ConfigMaps {
		if base, _, ok := strings.Cut(cm.Name, "-"); ok && base == name {
			return cm
		}
	}
	t.Fatalf("no ConfigMap %s-<hash>", name)
	return nil
}

func service(t *testing.T, m *Manifests, name string) *corev1.Service {
	t.Helper()
	for _, s := range m.Services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no Service %s", name)
	return nil
}

func TestMain(m *testing.M) {
	// Keep the renders this test makes independent of a kubeconfig.
	os.Setenv("KUBECONFIG", os.DevNull)
	os.Exit(m.Run())
}
