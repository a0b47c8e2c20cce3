// Package searchclient calls the gateway's public REST API (docs/api.md):
// search, embed, ingest, delete, get a paper and describe the deployment.
// Calls refused for load (429, 503) are retried a bounded number of times,
// after the server's Retry-After.
package searchclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Mode is a search mode as the REST API spells it.
type Mode string

// The search modes.
const (
	Dense   Mode = "SEARCH_MODE_DENSE"
	Lexical Mode = "SEARCH_MODE_LEXICAL"
	Hybrid  Mode = "SEARCH_MODE_HYBRID"
)

// ParseMode reads a mode's short name (dense, lexical, hybrid) or its API
// name.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "dense", strings.ToLower(string(Dense)):
		return Dense, nil
	case "lexical", strings.ToLower(string(Lexical)):
		return Lexical, nil
	case "hybrid", strings.ToLower(string(Hybrid)):
		return Hybrid, nil
	}
	return "", fmt.Errorf("unknown search mode %q (want dense, lexical or hybrid)", s)
}

// Short is the mode's short name ("dense").
func (m Mode) Short() string {
	return strings.ToLower(strings.TrimPrefix(string(m), "SEARCH_MODE_"))
}

// Limits of the API (docs/api.md, Limits).
const (
	MaxK            = 100
	MaxEmbedTexts   = 128
	MaxIngestPapers = 256
)

// Client calls one gateway.
type Client struct {
	base string
	http *http.Client
	// Token is sent as a bearer token with writes (ingest, delete).
	Token string
	// Attempts is how many times a call refused with 429 or 503 is made
	// in all (default 8).
	Attempts int
	// MaxWait caps the wait before a retry, whatever Retry-After says
	// (default 2s).
	MaxWait time.Duration
}

// New returns a client of the gateway at base (http:// or https:// URL),
// keeping up to conns connections open for concurrent calls.
func New(base string, conns int) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("gateway URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gateway URL %q: want http://host:port or https://host:port", base)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = max(conns, 2), max(conns, 2)
	return &Client{
		base: strings.TrimRight(u.String(), "/"),
		http: &http.Client{
			Transport: t,
			// A redirect could lead to another host; report it instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Attempts: 8,
		MaxWait:  2 * time.Second,
	}, nil
}

// URL is the gateway's base URL.
func (c *Client) URL() string { return c.base }

// Error is an answer other than 2xx: the HTTP status and the API's
// {"code", "message"} body.
type Error struct {
	Method, Path string
	Status       int
	Code         int    // gRPC status code, when the body had one
	Message      string // the body's message, or the raw body
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Message)
}

// IsNotFound reports whether err is a 404 answer.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// SearchRequest is POST /v1/search's body.
type SearchRequest struct {
	Query      string   `json:"query"`
	K          int      `json:"k,omitempty"`
	Nprobe     int      `json:"nprobe,omitempty"`
	Categories []string `json:"categories,omitempty"`
	Mode       Mode     `json:"mode,omitempty"`
}

// SearchResponse is what the evaluation reads of a search's answer.
type SearchResponse struct {
	Results       []Result `json:"results"`
	TookMs        float64  `json:"took_ms"`
	Partial       bool     `json:"partial"`
	MissingShards []int    `json:"missing_shards"`
	Mode          Mode     `json:"mode"`
}

// Result is one found paper (the fields the evaluation uses).
type Result struct {
	Rank            int     `json:"rank"`
	Score           float64 `json:"score"`
	ID              string  `json:"id"`
	PrimaryCategory string  `json:"primary_category"`
}

// Search runs one search.
func (c *Client) Search(ctx context.Context, req SearchRequest) (*SearchResponse, error) {
	var out SearchResponse
	if err := c.do(ctx, http.MethodPost, "/v1/search", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// EmbedResponse is POST /v1/embed's answer.
type EmbedResponse struct {
	Embeddings []struct {
		Vector     []float32 `json:"vector"`
		TokenCount int       `json:"token_count"`
		Truncated  bool      `json:"truncated"`
	} `json:"embeddings"`
	Model     string `json:"model"`
	Dimension int    `json:"dimension"`
}

// Embed embeds at most MaxEmbedTexts texts as the index stores them.
func (c *Client) Embed(ctx context.Context, texts []string) (*EmbedResponse, error) {
	var out EmbedResponse
	if err := c.do(ctx, http.MethodPost, "/v1/embed", map[string]any{"texts": texts}, &out); err != nil {
		return nil, err
	}
	if len(out.Embeddings) != len(texts) {
		return nil, fmt.Errorf("POST /v1/embed: %d embeddings for %d texts", len(out.Embeddings), len(texts))
	}
	return &out, nil
}

// Paper is an ingested paper (POST /v1/papers).
type Paper struct {
	ID         string   `json:"id"`
	Title      string   `json:"title"`
	Abstract   string   `json:"abstract"`
	Authors    []string `json:"authors,omitempty"`
	Categories []string `json:"categories,omitempty"`
	UpdateDate string   `json:"update_date,omitempty"`
	Comments   string   `json:"comments,omitempty"`
}

// IngestResponse is POST /v1/papers' answer.
type IngestResponse struct {
	Inserted int     `json:"inserted"`
	Replaced int     `json:"replaced"`
	TookMs   float64 `json:"took_ms"`
}

// Ingest stores at most MaxIngestPapers papers (needs the write token).
func (c *Client) Ingest(ctx context.Context, papers []Paper) (*IngestResponse, error) {
	var out IngestResponse
	if err := c.do(ctx, http.MethodPost, "/v1/papers", map[string]any{"papers": papers}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete removes a paper (needs the write token); a paper that is not
// stored is reported by IsNotFound.
func (c *Client) Delete(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/papers/"+url.PathEscape(id), nil, nil)
}

// Has reports whether the deployment stores the paper.
func (c *Client) Has(ctx context.Context, id string) (bool, error) {
	err := c.do(ctx, http.MethodGet, "/v1/papers/"+url.PathEscape(id), nil, nil)
	if IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// Info is GET /v1/info's answer.
type Info struct {
	Model         string `json:"model"`
	Dimension     int    `json:"dimension"`
	MaxSeqLength  int    `json:"max_seq_length"`
	Device        string `json:"device"`
	PapersIndexed int64  `json:"papers_indexed,string"`
	TotalShards   int    `json:"total_shards"`
	Shards        []struct {
		Shard    int `json:"shard"`
		Replicas []struct {
			Address string `json:"address"`
			Serving bool   `json:"serving"`
			Papers  int64  `json:"papers,string"`
		} `json:"replicas"`
	} `json:"shards"`
	Version     string `json:"version"`
	DefaultMode Mode   `json:"default_mode"`
}

// Info describes the deployment: model, papers, shards and where they live.
func (c *Client) Info(ctx context.Context) (*Info, error) {
	var out Info
	if err := c.do(ctx, http.MethodGet, "/v1/info", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// do sends one call, retrying 429 and 503 answers, and decodes a 2xx JSON
// answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	attempts := max(c.Attempts, 1)
	for i := 0; ; i++ {
		retryAfter, err := c.once(ctx, method, path, payload, out)
		if err == nil || retryAfter < 0 || i == attempts-1 {
			if err != nil && retryAfter >= 0 {
				return fmt.Errorf("%w (gave up after %d attempts)", err, attempts)
			}
			return err
		}
		// Exponential backoff from 50ms, at least what the server asks,
		// at most MaxWait.
		wait := max(time.Duration(50<<min(i, 10))*time.Millisecond, retryAfter)
		if c.MaxWait > 0 {
			wait = min(wait, c.MaxWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// once makes one request. retryAfter >= 0 means the error is worth
// retrying after that long (0: no Retry-After given).
func (c *Client) once(ctx context.Context, method, path string, payload []byte, out any) (retryAfter time.Duration, err error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return -1, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// Only writes need the token; searches do not carry it.
	if c.Token != "" && (method == http.MethodDelete || path == "/v1/papers") {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return -1, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		if out == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			return -1, err
		}
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return -1, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
		return -1, nil
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{Method: method, Path: path, Status: resp.StatusCode, Message: strings.TrimSpace(string(raw))}
	var body struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Message != "" {
		e.Code, e.Message = body.Code, body.Message
	}
	retryAfter = -1
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		retryAfter = 0
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			retryAfter = time.Duration(s) * time.Second
		}
	}
	return retryAfter, e
}
