package kube

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/arxivsearch/arxivsearch/deploy/internal/dockerfile"
	"github.com/arxivsearch/arxivsearch/deploy/internal/settings"
)

// Image is what a target of deploy/Dockerfile sets that running it in
// Kubernetes depends on.
type Image struct {
	Env        map[string]string
	Volumes    []string
	User       string
	Entrypoint []string
}

// Project is what the manifests are checked against: the daemons'
// settings (docs/configuration.md) and the images (deploy/Dockerfile, one
// target per image, named as the image: arxivsearch/index is --target
// index).
type Project struct {
	Settings settings.Config
	Images   map[string]Image // by repository, e.g. "arxivsearch/index"
}

// LoadProject reads the settings and the images from the repository.
func LoadProject() (Project, error) {
	cfg, err := settings.Load()
	if err != nil {
		return Project{}, err
	}
	root, err := settings.RepoRoot()
	if err != nil {
		return Project{}, err
	}
	imgs, err := LoadImages(filepath.Join(root, "deploy", "Dockerfile"))
	if err != nil {
		return Project{}, err
	}
	return Project{Settings: cfg, Images: imgs}, nil
}

// LoadImages reads the target of every project image from a Dockerfile.
func LoadImages(path string) (map[string]Image, error) {
	f, err := dockerfile.Load(path)
	if err != nil {
		return nil, err
	}
	out := map[string]Image{}
	for repo := range images {
		target := strings.TrimPrefix(repo, "arxivsearch/")
		var img Image
		if img.Env, err = f.Env(target); err != nil {
			return nil, fmt.Errorf("%s, target %s: %w", path, target, err)
		}
		if img.Volumes, err = f.Volumes(target); err != nil {
			return nil, fmt.Errorf("%s, target %s: %w", path, target, err)
		}
		if img.User, err = f.User(target); err != nil {
			return nil, fmt.Errorf("%s, target %s: %w", path, target, err)
		}
		if img.Entrypoint, _, err = f.Command(target); err != nil {
			return nil, fmt.Errorf("%s, target %s: %w", path, target, err)
		}
		out[repo] = img
	}
	return out, nil
}
