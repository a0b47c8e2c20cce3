package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// ErrIntegrity reports a downloaded file whose size or sha256 differs from
// what the listing says.
var ErrIntegrity = errors.New("integrity check failed")

// maxListingBytes bounds the listing the hub returns; a repository with
// thousands of files lists in well under a megabyte.
const maxListingBytes = 32 << 20

// listing is the JSON the hub answers a revision request with, reduced to
// the fields used here. With ?blobs=true every sibling has its size, and an
// LFS file the sha256 of its content.
type listing struct {
	SHA      string `json:"sha"`
	Siblings []struct {
		RFilename string `json:"rfilename"`
		Size      *int64 `json:"size"`
		LFS       *struct {
			SHA256 string `json:"sha256"`
			Size   int64  `json:"size"`
		} `json:"lfs"`
	} `json:"siblings"`
}

// revision resolves rev (a branch, tag or commit) of a repository to a
// commit and lists that commit's files. It refuses a listing that names a
// file outside the repository or lacks a size, rather than trusting it.
func (c *client) revision(ctx context.Context, repoID, rev string) (commit string, files []remoteFile, err error) {
	u := c.endpoint + "/api/models/" + repoID + "/revision/" + url.PathEscape(rev) + "?blobs=true"
	var l listing
	err = retry(ctx, func() error {
		resp, err := c.get(ctx, u, nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return c.statusError(resp, repoID, rev, "")
		}
		l = listing{}
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxListingBytes)).Decode(&l); err != nil {
			var t *transientError
			if errors.As(err, &t) {
				return err
			}
			return fmt.Errorf("hub: %s: unreadable listing from %s: %w", repoID, c.endpoint, err)
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	if !isCommit(l.SHA) {
		return "", nil, fmt.Errorf("hub: %s: the listing of revision %q has no commit hash (sha %q)", repoID, rev, l.SHA)
	}
	for _, s := range l.Siblings {
		if err := checkRelPath(s.RFilename); err != nil {
			return "", nil, fmt.Errorf("hub: %s: the listing names an unsafe file %q (%v): %w", repoID, s.RFilename, err, ErrInvalidName)
		}
		f := remoteFile{name: s.RFilename}
		switch {
		case s.LFS != nil:
			f.size, f.sha256 = s.LFS.Size, strings.ToLower(s.LFS.SHA256)
			if b, err := hex.DecodeString(f.sha256); err != nil || len(b) != sha256.Size {
				return "", nil, fmt.Errorf("hub: %s: the listing gives %s a malformed sha256 %q", repoID, f.name, s.LFS.SHA256)
			}
		case s.Size != nil:
			f.size = *s.Size
		default:
			return "", nil, fmt.Errorf("hub: %s: the listing gives no size for %s (does %s support ?blobs=true?)", repoID, f.name, c.endpoint)
		}
		if f.size < 0 {
			return "", nil, fmt.Errorf("hub: %s: the listing gives %s a negative size", repoID, f.name)
		}
		files = append(files, f)
	}
	return l.SHA, files, nil
}

// fileURL is where the hub serves a file of a commit.
func (c *client) fileURL(repoID, commit, name string) string {
	elems := strings.Split(name, "/")
	for i, e := range elems {
		elems[i] = url.PathEscape(e)
	}
	return c.endpoint + "/" + repoID + "/resolve/" + commit + "/" + strings.Join(elems, "/")
}

// fetch downloads file f of a commit into dst and verifies its size and,
// for an LFS file, its sha256. After a transient failure it resumes where
// it stopped with a Range request, since restarting a large model on a
// flaky link might never finish.
func (c *client) fetch(ctx context.Context, repoID, commit string, f remoteFile, dst string, progress func(string, int64, int64)) error {
	out, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	defer out.Close()
	d := &fileDownload{
		c: c, repoID: repoID, commit: commit, f: f, url: c.fileURL(repoID, commit, f.name),
		out: out, hash: sha256.New(), buf: make([]byte, 256<<10), progress: progress,
	}
	// A round of retries that got further into the file than any before
	// earns another round: a large model on a link that drops now and then
	// gets there, one that never moves fails after one round.
	for peak := int64(0); ; {
		err := retry(ctx, func() error { return d.attempt(ctx) })
		if err == nil {
			break
		}
		var t *transientError
		if !errors.As(err, &t) || d.peak <= peak {
			return err
		}
		peak = d.peak
	}
	if d.n != f.size {
		return fmt.Errorf("hub: %s: %s has %d bytes, the listing says %d: %w", repoID, f.name, d.n, f.size, ErrIntegrity)
	}
	if sum := hex.EncodeToString(d.hash.Sum(nil)); f.sha256 != "" && sum != f.sha256 {
		return fmt.Errorf("hub: %s: %s has sha256 %s, the listing says %s: %w", repoID, f.name, sum, f.sha256, ErrIntegrity)
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	return nil
}

// fileDownload is the state of one file's download across attempts: what
// has been written to out and hashed so far.
type fileDownload struct {
	c                   *client
	repoID, commit, url string
	f                   remoteFile
	out                 *os.File
	hash                hash.Hash
	n                   int64 // bytes in out
	peak                int64 // the most bytes out has held
	buf                 []byte
	progress            func(string, int64, int64)
}

// attempt requests the part of the file not yet written and appends it.
func (d *fileDownload) attempt(ctx context.Context) error {
	if d.n > 0 && d.n == d.f.size {
		return nil
	}
	var header http.Header
	if d.n > 0 {
		header = http.Header{"Range": {fmt.Sprintf("bytes=%d-", d.n)}}
	}
	resp, err := d.c.get(ctx, d.url, header)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		if d.n > 0 { // the server ignored the Range header
			if err := d.restart(); err != nil {
				return err
			}
		}
	case resp.StatusCode == http.StatusPartialContent && d.n > 0:
		if start, ok := rangeStart(resp.Header.Get("Content-Range")); !ok || start != d.n {
			if err := d.restart(); err != nil {
				return err
			}
			return &transientError{err: fmt.Errorf("hub: %s: resuming %s at byte %d got Content-Range %q",
				d.repoID, d.f.name, start, resp.Header.Get("Content-Range"))}
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && d.n > 0:
		if err := d.restart(); err != nil {
			return err
		}
		return &transientError{err: fmt.Errorf("hub: %s: resuming %s: %s", d.repoID, d.f.name, resp.Status)}
	default:
		return d.c.statusError(resp, d.repoID, d.commit, d.f.name)
	}
	d.report()
	for {
		k, rerr := resp.Body.Read(d.buf)
		if k > 0 {
			if d.n+int64(k) > d.f.size {
				return fmt.Errorf("hub: %s: %s is larger than the %d bytes the listing says: %w", d.repoID, d.f.name, d.f.size, ErrIntegrity)
			}
			if _, err := d.out.Write(d.buf[:k]); err != nil {
				return fmt.Errorf("hub: %w", err)
			}
			d.hash.Write(d.buf[:k])
			d.n += int64(k)
			d.peak = max(d.peak, d.n)
			d.report()
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// restart discards what was downloaded, for a server that will not resume.
func (d *fileDownload) restart() error {
	d.n = 0
	d.hash.Reset()
	if err := d.out.Truncate(0); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if _, err := d.out.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	return nil
}

func (d *fileDownload) report() {
	if d.progress != nil {
		d.progress(d.f.name, d.n, d.f.size)
	}
}

// rangeStart parses the first byte position of a Content-Range header
// ("bytes 100-199/200").
func rangeStart(s string) (int64, bool) {
	s, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return -1, false
	}
	s, _, ok = strings.Cut(s, "-")
	if !ok {
		return -1, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
