package monitoring

import (
	"reflect"
	"testing"
)

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`up{job=~"embedder|index"}`, []string{"up"}},
		{`sum by (route) (rate(http_requests_total{job="gateway", route!~"GET /(metrics|healthz)"}[$__rate_interval]))`, []string{"http_requests_total"}},
		{`histogram_quantile(0.99, sum by (le, mode) (rate(index_search_seconds_bucket[5m])))`, []string{"index_search_seconds_bucket"}},
		{`sum(rate(a_sum[1m])) / sum(rate(a_count[1m]))`, []string{"a_sum", "a_count"}},
		{`sum(rate(x_total[1m])) without (instance) > on (job) group_left (version) arxivsearch_build_info`, []string{"x_total", "arxivsearch_build_info"}},
		{`rate(x[5m] offset 1h) and bool y or z unless w`, []string{"x", "y", "z", "w"}},
		{`sum(x) by (le)`, []string{"x"}},
		{`count_values("version", arxivsearch_build_info)`, []string{"arxivsearch_build_info"}},
		{`max_over_time(deriv(g[10m])[1h:1m])`, []string{"g"}},
		{`{__name__="process_resident_memory_bytes", job="index"}`, []string{"process_resident_memory_bytes"}},
		{`a:recorded:rate5m * 1e3 + 0.5 - .25`, []string{"a:recorded:rate5m"}},
		{`label_replace(up, "x", "$1", "instance", "(.*):.*")`, []string{"up"}},
		{`vector(1) + $threshold`, nil},
		{`x{label="has } brace and \" quote"}`, []string{"x"}},
		{`x{my__name__="y"}`, []string{"x"}},
		{`inf + nan`, nil},
	} {
		got, err := MetricNames(tc.expr)
		if err != nil {
			t.Errorf("MetricNames(%s): %v", tc.expr, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("MetricNames(%s) = %q, want %q", tc.expr, got, tc.want)
		}
	}
	for _, bad := range []string{`x{a="b"`, `rate(x[5m)`, `x{a="b}`, `sum by (le x`, `{__name__=~"x.*"}`} {
		if got, err := MetricNames(bad); err == nil {
			t.Errorf("MetricNames(%s) = %q, want an error", bad, got)
		}
	}
}
