package tokenizer

import (
	"cmp"
	"slices"
)

// addedTokens finds HF "added tokens" ([CLS], [SEP], [MASK], …) in text.
// HF splits the input on them before anything else, with an Aho-Corasick
// automaton in leftmost-longest mode; with a handful of tokens a scan for
// their first bytes does the same job.
type addedTokens struct {
	tokens []addedToken // longest first, so the first hit at a position is the longest
	first  [256]bool    // first bytes of the tokens
}

type addedToken struct {
	content string
	id      int32
}

func newAddedTokens(tokens []addedToken) *addedTokens {
	a := &addedTokens{tokens: slices.Clone(tokens)}
	slices.SortStableFunc(a.tokens, func(x, y addedToken) int {
		return cmp.Compare(len(y.content), len(x.content))
	})
	for _, t := range a.tokens {
		a.first[t.content[0]] = true
	}
	return a
}

// findAdded returns the leftmost, then longest, token of a in s: its byte
// span and id. start is -1 when there is none.
func findAdded[S string | []byte](a *addedTokens, s S) (start, end int, id int32) {
	if len(a.tokens) == 0 {
		return -1, -1, 0
	}
	for i := 0; i < len(s); i++ {
		if !a.first[s[i]] {
			continue
		}
		for _, t := range a.tokens {
			if len(s)-i >= len(t.content) && string(s[i:i+len(t.content)]) == t.content {
				return i, i + len(t.content), t.id
			}
		}
	}
	return -1, -1, 0
}
