// Package kube renders the Kubernetes manifests of deploy/k8s and checks
// them without a cluster: every object decodes strictly into its
// Kubernetes API type, and the objects agree with each other and with the
// daemons' settings (docs/configuration.md) — ports, probes, the index's
// shard plan against the gateway's index addresses, Secret references,
// security settings. The tests run the checks on every overlay.
package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Renderer builds a kustomization directory into a YAML stream.
type Renderer interface {
	Render(ctx context.Context, dir string) ([]byte, error)
	Name() string
}

// Kubectl renders with `kubectl kustomize`, the build operators apply.
type Kubectl struct{ Path string }

// Name says which renderer this is.
func (k Kubectl) Name() string { return "kubectl kustomize" }

// Render runs kubectl kustomize dir.
func (k Kubectl) Render(ctx context.Context, dir string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, k.Path, "kustomize", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("kubectl kustomize %s: %w: %s", dir, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}

// GoAPI renders in process with the kustomize Go API, for machines
// without kubectl.
type GoAPI struct{}

// Name says which renderer this is.
func (GoAPI) Name() string { return "kustomize Go API" }

// Render builds dir with krusty and kubectl's defaults (files only from
// inside the kustomization root).
func (GoAPI) Render(_ context.Context, dir string) ([]byte, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return out, nil
}

// ErrNoKubectl reports that kubectl is not installed.
var ErrNoKubectl = errors.New("kubectl not found on PATH")

// FindKubectl returns the kubectl renderer, or ErrNoKubectl.
func FindKubectl() (Kubectl, error) {
	path, err := exec.LookPath("kubectl")
	if err != nil {
		return Kubectl{}, ErrNoKubectl
	}
	return Kubectl{Path: path}, nil
}
