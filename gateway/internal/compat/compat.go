// Package compat serves the REST routes of the system this project
// replaces (a FastAPI service; see docs/api.md, "Seed-compatible routes"),
// so its clients keep working: GET /health, POST /embed and POST /search,
// with the same JSON shapes, ranges, status codes and {"detail": ...}
// error bodies, 422 validation errors included. The handlers call the
// gateway's own SearchService, so they pass the same limits, auth and
// metrics as every other call.
package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	searchv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/search/v1"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Client is the part of the SearchService the routes use.
type Client interface {
	Search(ctx context.Context, in *searchv1.SearchRequest, opts ...grpc.CallOption) (*searchv1.SearchResponse, error)
	Embed(ctx context.Context, in *searchv1.EmbedRequest, opts ...grpc.CallOption) (*searchv1.EmbedResponse, error)
	GetInfo(ctx context.Context, in *searchv1.GetInfoRequest, opts ...grpc.CallOption) (*searchv1.GetInfoResponse, error)
}

// Seed limits: k is 1..100 (default 10), nprobe 1..1024 or null.
const (
	defaultK  = 10
	maxK      = 100
	maxNprobe = 1024
)

// emptyAbstract is the seed's 400 detail for an empty or blank abstract.
const emptyAbstract = "Abstract must not be empty"

// Health answers GET /health: {"status": "ok", "device": "cpu"|"cuda"}
// once the embedder answers, else 503 with a detail.
func Health(c Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, err := c.GetInfo(r.Context(), &searchv1.GetInfoRequest{})
		if err != nil {
			st := status.Convert(err)
			writeJSON(w, runtime.HTTPStatusFromCode(st.Code()), map[string]any{"status": "unavailable", "device": nil, "detail": st.Message()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "device": seedDevice(info.GetDevice())})
	})
}

// seedDevice writes a device as the seed did: "cpu" or "cuda".
func seedDevice(d string) string {
	if strings.HasPrefix(d, "cuda") {
		return "cuda"
	}
	return d
}

// Embed answers POST /embed {"abstract": str} with
// {"embedding_dim": int, "embedding": [float]}.
func Embed(c Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, errs := decodeObject(r)
		var abstract string
		if errs == nil {
			abstract, errs = stringField(body, "abstract")
		}
		if errs != nil {
			writeValidation(w, errs)
			return
		}
		if strings.TrimSpace(abstract) == "" {
			writeDetail(w, http.StatusBadRequest, emptyAbstract)
			return
		}
		resp, err := c.Embed(r.Context(), &searchv1.EmbedRequest{Texts: []string{abstract}})
		if err != nil {
			writeError(w, err)
			return
		}
		v := resp.GetEmbeddings()[0].GetVector()
		writeJSON(w, http.StatusOK, map[string]any{"embedding_dim": len(v), "embedding": v})
	})
}

// searchHit is one result in the seed's shape.
type searchHit struct {
	Score          float32  `json:"score"`
	Title          string   `json:"title"`
	Abstract       string   `json:"abstract"`
	PrimarySubject string   `json:"primary_subject"`
	Subjects       []string `json:"subjects"`
	ArxivID        *string  `json:"arxiv_id"`
}

// Search answers POST /search {"abstract": str, "k": 1..100 = 10,
// "nprobe": 1..1024 | null} with {"results": [...]}, best first, in dense
// mode. The whole collection must be searchable: a shard without a live
// replica is a 503, as the seed answered without an index.
func Search(c Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, errs := decodeObject(r)
		var (
			abstract string
			k        = int64(defaultK)
			nprobe   int64
		)
		if errs == nil {
			var e []fieldError
			abstract, e = stringField(body, "abstract")
			errs = append(errs, e...)
			if kv, ok, e := intField(body, "k", false, 1, maxK); ok {
				k = kv
			} else {
				errs = append(errs, e...)
			}
			if nv, ok, e := intField(body, "nprobe", true, 1, maxNprobe); ok {
				nprobe = nv
			} else {
				errs = append(errs, e...)
			}
		}
		if errs != nil {
			writeValidation(w, errs)
			return
		}
		if strings.TrimSpace(abstract) == "" {
			writeDetail(w, http.StatusBadRequest, emptyAbstract)
			return
		}
		resp, err := c.Search(r.Context(), &searchv1.SearchRequest{
			Query: abstract, K: int32(k), Nprobe: int32(nprobe), Mode: searchv1.SearchMode_SEARCH_MODE_DENSE,
		})
		if err != nil {
			writeError(w, err)
			return
		}
		hits := make([]searchHit, len(resp.GetResults()))
		for i, res := range resp.GetResults() {
			id := res.GetId()
			subjects := res.GetCategories()
			if subjects == nil {
				subjects = []string{}
			}
			hits[i] = searchHit{Score: res.GetScore(), Title: res.GetTitle(), Abstract: res.GetAbstract(),
				PrimarySubject: res.GetPrimaryCategory(), Subjects: subjects, ArxivID: &id}
		}
		writeJSON(w, http.StatusOK, map[string]any{"results": hits})
	})
}

// fieldError is one entry of a 422 body, as FastAPI (pydantic 2) writes it.
type fieldError struct {
	Type  string         `json:"type"`
	Loc   []any          `json:"loc"`
	Msg   string         `json:"msg"`
	Input any            `json:"input"`
	Ctx   map[string]any `json:"ctx,omitempty"`
}

// decodeObject reads the body as one JSON object.
func decodeObject(r *http.Request) (map[string]json.RawMessage, []fieldError) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, []fieldError{{Type: "json_invalid", Loc: []any{"body", 0}, Msg: "JSON decode error", Input: map[string]any{}, Ctx: map[string]any{"error": err.Error()}}}
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, []fieldError{{Type: "missing", Loc: []any{"body"}, Msg: "Field required", Input: nil}}
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil || dec.More() {
		pos, msg := 0, "Extra data"
		if err != nil {
			msg = err.Error()
			var se *json.SyntaxError
			if errors.As(err, &se) {
				pos = int(se.Offset)
			}
		}
		return nil, []fieldError{{Type: "json_invalid", Loc: []any{"body", pos}, Msg: "JSON decode error", Input: map[string]any{}, Ctx: map[string]any{"error": msg}}}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, []fieldError{{Type: "model_attributes_type", Loc: []any{"body"}, Msg: "Input should be a valid dictionary or object to extract fields from", Input: v}}
	}
	out := make(map[string]json.RawMessage, len(obj))
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, []fieldError{{Type: "json_invalid", Loc: []any{"body", 0}, Msg: "JSON decode error", Input: map[string]any{}, Ctx: map[string]any{"error": err.Error()}}}
	}
	return out, nil
}

func inputOf(raw json.RawMessage) any {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&v)
	return v
}

// stringField reads a required string field.
func stringField(body map[string]json.RawMessage, name string) (string, []fieldError) {
	raw, ok := body[name]
	if !ok {
		all := map[string]any{}
		for k, v := range body {
			all[k] = inputOf(v)
		}
		return "", []fieldError{{Type: "missing", Loc: []any{"body", name}, Msg: "Field required", Input: all}}
	}
	var s string
	// null decodes into a string without error; pydantic refuses it.
	if err := json.Unmarshal(raw, &s); err != nil || string(bytes.TrimSpace(raw)) == "null" {
		return "", []fieldError{{Type: "string_type", Loc: []any{"body", name}, Msg: "Input should be a valid string", Input: inputOf(raw)}}
	}
	return s, nil
}

// intField reads an optional integer field in [lo, hi] as pydantic's lax
// mode does: integers, whole floats, numeric strings and booleans are
// integers; null is allowed when nullable. ok is false when the field is
// absent (or null) or invalid; errs says which.
func intField(body map[string]json.RawMessage, name string, nullable bool, lo, hi int64) (v int64, ok bool, errs []fieldError) {
	raw, present := body[name]
	if !present {
		return 0, false, nil
	}
	in := inputOf(raw)
	loc := []any{"body", name}
	switch x := in.(type) {
	case nil:
		if nullable {
			return 0, false, nil
		}
		return 0, false, []fieldError{{Type: "int_type", Loc: loc, Msg: "Input should be a valid integer", Input: nil}}
	case bool:
		if x {
			v = 1
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			v = i
		} else if f, err := x.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			v = int64(f)
		} else {
			return 0, false, []fieldError{{Type: "int_from_float", Loc: loc, Msg: "Input should be a valid integer, got a number with a fractional part", Input: in}}
		}
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, false, []fieldError{{Type: "int_parsing", Loc: loc, Msg: "Input should be a valid integer, unable to parse string as an integer", Input: in}}
		}
		v = i
	default:
		return 0, false, []fieldError{{Type: "int_type", Loc: loc, Msg: "Input should be a valid integer", Input: in}}
	}
	switch {
	case v < lo:
		return 0, false, []fieldError{{Type: "greater_than_equal", Loc: loc, Msg: "Input should be greater than or equal to " + strconv.FormatInt(lo, 10), Input: in, Ctx: map[string]any{"ge": lo}}}
	case v > hi:
		return 0, false, []fieldError{{Type: "less_than_equal", Loc: loc, Msg: "Input should be less than or equal to " + strconv.FormatInt(hi, 10), Input: in, Ctx: map[string]any{"le": hi}}}
	}
	return v, true, nil
}

func writeValidation(w http.ResponseWriter, errs []fieldError) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": errs})
}

func writeDetail(w http.ResponseWriter, code int, detail string) {
	writeJSON(w, code, map[string]any{"detail": detail})
}

// writeError maps a SearchService error to the HTTP status grpc-gateway
// would give it (INVALID_ARGUMENT 400, UNAVAILABLE 503,
// RESOURCE_EXHAUSTED 429, ...) with the message as the detail.
func writeError(w http.ResponseWriter, err error) {
	st := status.Convert(err)
	code := runtime.HTTPStatusFromCode(st.Code())
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeDetail(w, code, st.Message())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
