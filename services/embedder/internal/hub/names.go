package hub

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// ErrInvalidName reports a repository id, revision or file name that is not
// acceptable, either because the hub would not accept it or because it could
// escape the cache directory.
var ErrInvalidName = errors.New("invalid name")

// maxNamePart is the hub's limit on the length of an organisation or
// repository name.
const maxNamePart = 96

// ParseRepoID splits a hub repository id "org/name" into its two parts. It
// applies the hub's own rules (huggingface_hub's validate_repo_id: letters,
// digits, '_', '-' and '.', at most 96 of them, starting and ending with a
// letter, digit or '_', no "--" or "..", no ".git" suffix), which also keep
// the id from naming anything outside the cache directory. Ids without an
// organisation, which the hub still redirects for a few legacy models, are
// refused: the cache layout needs both parts.
func ParseRepoID(s string) (org, name string, err error) {
	org, name, ok := strings.Cut(s, "/")
	if !ok || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("hub: repository id %q: want org/name: %w", s, ErrInvalidName)
	}
	if strings.Contains(s, "--") || strings.Contains(s, "..") || strings.HasSuffix(s, ".git") {
		return "", "", fmt.Errorf("hub: repository id %q: \"--\", \"..\" and a .git suffix are not allowed: %w", s, ErrInvalidName)
	}
	for _, part := range []string{org, name} {
		if err := checkNamePart(part); err != nil {
			return "", "", fmt.Errorf("hub: repository id %q: %v: %w", s, err, ErrInvalidName)
		}
	}
	return org, name, nil
}

func checkNamePart(s string) error {
	if s == "" || len(s) > maxNamePart {
		return fmt.Errorf("each part must have 1 to %d characters", maxNamePart)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		word := c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !word && c != '-' && c != '.' {
			return fmt.Errorf("character %q is not allowed", c)
		}
		if !word && (i == 0 || i == len(s)-1) {
			return fmt.Errorf("%q must start and end with a letter, digit or '_'", s)
		}
	}
	return nil
}

// checkRelPath accepts a slash-separated relative path that stays inside the
// directory it is joined to: no absolute path, no "." or ".." element, no
// empty element, no backslash (a separator on Windows) and no NUL. The hub
// never lists such names, so one in a listing means a broken or hostile
// server, and the download stops rather than skipping it.
func checkRelPath(p string) error {
	if p == "" || len(p) > 1024 {
		return errors.New("empty or too long")
	}
	if strings.ContainsAny(p, "\\\x00") {
		return errors.New("contains a backslash or NUL")
	}
	if path.IsAbs(p) || path.Clean(p) != p {
		return errors.New("not a clean relative path")
	}
	for elem := range strings.SplitSeq(p, "/") {
		if elem == ".." || elem == "." {
			return errors.New("has a . or .. element")
		}
	}
	return nil
}

// checkRevision accepts a branch, tag or commit name. Revisions name files
// under refs/ in the cache, so they follow the rules of repository-relative
// paths ("refs/pr/1" is a valid revision).
func checkRevision(rev string) error {
	if err := checkRelPath(rev); err != nil {
		return fmt.Errorf("hub: revision %q: %v: %w", rev, err, ErrInvalidName)
	}
	return nil
}

// isCommit reports whether s is a full git commit hash, the form the hub
// returns and the only form used as a snapshot directory name.
func isCommit(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
