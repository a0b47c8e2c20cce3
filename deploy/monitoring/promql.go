// Package monitoring holds the Prometheus and Grafana configuration of the
// deployment as data: the scrape configuration (deploy/prometheus), the
// dashboard (deploy/grafana) and the metric names its PromQL queries use.
// Its tests run a real Prometheus against locally started services.
package monitoring

import (
	"fmt"
	"slices"
	"strings"
)

// keywords that take a parenthesised list of label names.
var labelListKeywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}

// keywords, aggregation operators (which may be followed by "by (...)"
// rather than "(") and literals: never metric names.
var plainKeywords = []string{"and", "or", "unless", "bool", "offset", "inf", "nan",
	"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
	"bottomk", "topk", "quantile", "limitk", "limit_ratio"}

// MetricNames returns the metric names a PromQL expression selects, in
// order of first use. Grafana variables ($__rate_interval, $job) are
// allowed. It is a lexer, not a full parser: Prometheus itself checks the
// syntax when the monitoring test runs each query.
func MetricNames(expr string) ([]string, error) {
	var names []string
	add := func(n string) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	s := expr
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(s, i)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", expr, err)
			}
			i = end
		case c == '{':
			end, name, err := skipMatchers(s, i)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", expr, err)
			}
			if name != "" {
				add(name)
			}
			i = end
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("%q: unclosed [", expr)
			}
			i += end + 1
		case c == '$':
			i++
			for i < len(s) && isIdentChar(s[i]) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			for i < len(s) && (isIdentChar(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			start := i
			for i < len(s) && isIdentChar(s[i]) {
				i++
			}
			ident := s[start:i]
			next := i
			for next < len(s) && (s[next] == ' ' || s[next] == '\t' || s[next] == '\n') {
				next++
			}
			followedByParen := next < len(s) && s[next] == '('
			lower := strings.ToLower(ident)
			switch {
			case slices.Contains(labelListKeywords, lower):
				if followedByParen {
					end := strings.IndexByte(s[next:], ')')
					if end < 0 {
						return nil, fmt.Errorf("%q: unclosed label list after %s", expr, ident)
					}
					i = next + end + 1
				}
			case followedByParen, slices.Contains(plainKeywords, lower):
				// A function or aggregation, or an operator keyword.
			default:
				add(ident)
			}
		default:
			i++
		}
	}
	return names, nil
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// skipString returns the index after the string literal starting at i.
func skipString(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string at %d", i)
}

// skipMatchers returns the index after the label matchers starting at i,
// and the metric name when they select one with __name__="...".
func skipMatchers(s string, i int) (end int, name string, err error) {
	j := i + 1
	for j < len(s) {
		switch c := s[j]; {
		case c == '}':
			return j + 1, name, nil
		case c == '"' || c == '\'' || c == '`':
			if j, err = skipString(s, j); err != nil {
				return 0, "", err
			}
		case strings.HasPrefix(s[j:], "__name__") && !isIdentChar(s[j-1]):
			rest := strings.TrimLeft(s[j+len("__name__"):], " ")
			if !strings.HasPrefix(rest, "=") || strings.HasPrefix(rest, "=~") {
				return 0, "", fmt.Errorf("only __name__=\"...\" selects a metric name this check can follow")
			}
			rest = strings.TrimLeft(rest[1:], " ")
			k := len(s) - len(rest)
			if k >= len(s) || (s[k] != '"' && s[k] != '\'') {
				return 0, "", fmt.Errorf("__name__ needs a quoted name")
			}
			e, err := skipString(s, k)
			if err != nil {
				return 0, "", err
			}
			name = s[k+1 : e-1]
			j = e
		default:
			j++
		}
	}
	return 0, "", fmt.Errorf("unclosed { at %d", i)
}
