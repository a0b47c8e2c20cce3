// Package webui serves the search page and the API documentation page:
// plain HTML, CSS and JavaScript embedded in the binary, with no external
// resources (no CDN, no fonts), under a strict Content-Security-Policy.
package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"time"
)

//go:embed static
var static embed.FS

// Pages maps URL paths to the files they serve.
var Pages = map[string]string{
	"/":         "index.html",
	"/app.js":   "app.js",
	"/app.css":  "app.css",
	"/docs":     "docs.html",
	"/docs.js":  "docs.js",
	"/docs.css": "docs.css",
}

// csp allows the pages nothing but their own origin: scripts and styles
// come from files served here, never inline, so injected markup could not
// run even if it reached the page.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

type file struct {
	name string
	body []byte
	etag string
}

// Handler serves one page of Pages.
type Handler struct{ f file }

// Files returns a handler per entry of Pages.
func Files() (map[string]http.Handler, error) {
	out := map[string]http.Handler{}
	for route, name := range Pages {
		body, err := fs.ReadFile(static, path.Join("static", name))
		if err != nil {
			return nil, fmt.Errorf("webui: %w", err)
		}
		sum := sha256.Sum256(body)
		out[route] = Handler{file{name: name, body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}}
	}
	return out, nil
}

func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	hd.Set("X-Frame-Options", "DENY")
	// Revalidate every time (cheap with the ETag), so a new gateway
	// version's UI is never mixed with an old cached script.
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", h.f.etag)
	http.ServeContent(w, r, h.f.name, time.Time{}, bytes.NewReader(h.f.body))
}
