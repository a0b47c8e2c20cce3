package compat_test

import (
	"slices"
	"testing"

	"github.com/arxivsearch/arxivsearch/gateway/internal/app"
	"github.com/arxivsearch/arxivsearch/gateway/internal/gatewaytest"
	indexv1 "github.com/arxivsearch/arxivsearch/proto/arxivsearch/index/v1"
)

// TestSearchStaysDenseWhateverTheDefaultMode runs a whole gateway whose
// -default-mode is not dense: the seed-compatible POST /search, whose
// clients cannot name a mode, must still run dense searches, while
// /v1/search follows the default unless the request names a mode. What
// counts is the mode the index instances are asked for.
func TestSearchStaysDenseWhateverTheDefaultMode(t *testing.T) {
	for _, def := range []string{"lexical", "hybrid"} {
		t.Run(def, func(t *testing.T) {
			g := gatewaytest.Start(t, gatewaytest.Options{Config: func(c *app.Config) { c.DefaultMode = def }})
			g.Ingest(t, []gatewaytest.Paper{
				{ID: "2503.00001", Title: "Sparse attention for long documents", Abstract: "Attention over long inputs.", Categories: []string{"cs.CL"}},
				{ID: "2503.00002", Title: "Dark matter halos", Abstract: "Simulations of galaxy formation.", Categories: []string{"astro-ph.CO"}},
			})
			// modesSince lists the modes of the searches every index
			// instance received since it had seen `since` (each gets every
			// search: it owns shards). A hybrid search is a dense and a
			// lexical search of the whole collection, fused by the gateway.
			modesSince := func(t *testing.T, since int) []indexv1.SearchMode {
				t.Helper()
				var modes []indexv1.SearchMode
				for i, x := range g.Indexes {
					var got []indexv1.SearchMode
					for _, r := range x.Searches()[since:] {
						got = append(got, r.GetMode())
					}
					slices.Sort(got)
					if i > 0 && !slices.Equal(got, modes) {
						t.Fatalf("the index instances were asked for different modes: %v, %v", modes, got)
					}
					modes = got
				}
				return modes
			}
			dense := []indexv1.SearchMode{indexv1.SearchMode_SEARCH_MODE_DENSE}
			for _, tt := range []struct {
				path string
				body map[string]any
				want []indexv1.SearchMode
			}{
				{"/search", map[string]any{"abstract": "sparse attention", "k": 2}, dense},
				{"/v1/search", map[string]any{"query": "sparse attention", "k": 2}, map[string][]indexv1.SearchMode{
					"lexical": {indexv1.SearchMode_SEARCH_MODE_LEXICAL},
					"hybrid":  {indexv1.SearchMode_SEARCH_MODE_DENSE, indexv1.SearchMode_SEARCH_MODE_LEXICAL}}[def]},
				{"/v1/search", map[string]any{"query": "sparse attention", "k": 2, "mode": "SEARCH_MODE_DENSE"}, dense},
				{"/search", map[string]any{"abstract": "sparse attention", "k": 2}, dense},
			} {
				since := len(g.Indexes[0].Searches())
				r := g.Do(t, "POST", tt.path, tt.body)
				if r.Code != 200 {
					t.Fatalf("POST %s %v = %d %s", tt.path, tt.body, r.Code, r.Body)
				}
				if got := modesSince(t, since); !slices.Equal(got, tt.want) {
					t.Errorf("POST %s %v: the index was asked for %v, want %v", tt.path, tt.body, got, tt.want)
				}
			}
		})
	}
}
