package kube

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Manifests are rendered objects, by kind. Only the kinds listed here are
// accepted: anything else in a render is an error, so an object the checks
// do not understand cannot slip through unchecked.
type Manifests struct {
	Namespaces      []*corev1.Namespace
	ConfigMaps      []*corev1.ConfigMap
	Secrets         []*corev1.Secret
	Services        []*corev1.Service
	PVCs            []*corev1.PersistentVolumeClaim
	Deployments     []*appsv1.Deployment
	StatefulSets    []*appsv1.StatefulSet
	Jobs            []*batchv1.Job
	HPAs            []*autoscalingv2.HorizontalPodAutoscaler
	PDBs            []*policyv1.PodDisruptionBudget
	Ingresses       []*networkingv1.Ingress
	NetworkPolicies []*networkingv1.NetworkPolicy
}

// add returns a decoder of one document into a new *T appended to list.
func add[T any](list *[]*T) func([]byte) (any, error) {
	return func(js []byte) (any, error) {
		v := new(T)
		strict, err := sigsjson.UnmarshalStrict(js, v, sigsjson.DisallowUnknownFields)
		if err != nil {
			return nil, err
		}
		if len(strict) > 0 {
			return nil, errors.Join(strict...)
		}
		*list = append(*list, v)
		return v, nil
	}
}

func (m *Manifests) decoders() map[string]func([]byte) (any, error) {
	return map[string]func([]byte) (any, error){
		"v1/Namespace":                           add(&m.Namespaces),
		"v1/ConfigMap":                           add(&m.ConfigMaps),
		"v1/Secret":                              add(&m.Secrets),
		"v1/Service":                             add(&m.Services),
		"v1/PersistentVolumeClaim":               add(&m.PVCs),
		"apps/v1/Deployment":                     add(&m.Deployments),
		"apps/v1/StatefulSet":                    add(&m.StatefulSets),
		"batch/v1/Job":                           add(&m.Jobs),
		"autoscaling/v2/HorizontalPodAutoscaler": add(&m.HPAs),
		"policy/v1/PodDisruptionBudget":          add(&m.PDBs),
		"networking.k8s.io/v1/Ingress":           add(&m.Ingresses),
		"networking.k8s.io/v1/NetworkPolicy":     add(&m.NetworkPolicies),
	}
}

// Decode splits a YAML stream into documents and decodes each strictly
// into the Kubernetes type of its apiVersion and kind: an unknown or
// misspelt field, a duplicate key, a value of the wrong type or an
// unknown kind is an error. Documents that decode to the same kind,
// namespace and name must be identical (a render of several
// kustomizations may share an object, such as the topology ConfigMap);
// the copy is dropped.
func Decode(stream []byte) (*Manifests, error) {
	m := &Manifests{}
	dec := m.decoders()
	seen := map[string][]byte{}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	var errs []error
	for n := 0; ; n++ {
		doc, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", n, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", n, err))
			continue
		}
		if string(js) == "null" {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(js, &head); err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", n, err))
			continue
		}
		id := fmt.Sprintf("%s/%s %s/%s", head.APIVersion, head.Kind, head.Metadata.Namespace, head.Metadata.Name)
		if head.Metadata.Name == "" {
			errs = append(errs, fmt.Errorf("document %d (%s): no metadata.name", n, id))
			continue
		}
		if prev, ok := seen[id]; ok {
			if !jsonEqual(prev, js) {
				errs = append(errs, fmt.Errorf("document %d: %s appears twice with different content", n, id))
			}
			continue
		}
		seen[id] = js
		decode, ok := dec[head.APIVersion+"/"+head.Kind]
		if !ok {
			errs = append(errs, fmt.Errorf("document %d: %s: kind %s %s is not one the checks know", n, id, head.APIVersion, head.Kind))
			continue
		}
		if _, err := decode(js); err != nil {
			errs = append(errs, fmt.Errorf("document %d: %s: %w", n, id, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// each calls fn for every object, with the name of its list (the kind).
func (m *Manifests) each(fn func(kind string, obj metav1.Object)) {
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		list := v.Field(i)
		for j := range list.Len() {
			// Every list holds pointers to API types, which embed ObjectMeta.
			fn(v.Type().Field(i).Name, list.Index(j).Interface().(metav1.Object))
		}
	}
}

// Objects lists every object as "kind namespace/name" -> its JSON, for
// comparing renders.
func (m *Manifests) Objects() (map[string]string, error) {
	out := map[string]string{}
	var err error
	m.each(func(kind string, obj metav1.Object) {
		js, merr := json.Marshal(obj)
		err = errors.Join(err, merr)
		out[fmt.Sprintf("%s %s/%s", kind, obj.GetNamespace(), obj.GetName())] = string(js)
	})
	return out, err
}

// DeepCopy returns a copy that shares nothing with m, to change freely.
func (m *Manifests) DeepCopy() *Manifests {
	out := &Manifests{}
	src, dst := reflect.ValueOf(m).Elem(), reflect.ValueOf(out).Elem()
	for i := range src.NumField() {
		list := src.Field(i)
		cp := reflect.MakeSlice(list.Type(), list.Len(), list.Len())
		for j := range list.Len() {
			cp.Index(j).Set(list.Index(j).MethodByName("DeepCopy").Call(nil)[0])
		}
		dst.Field(i).Set(cp)
	}
	return out
}
