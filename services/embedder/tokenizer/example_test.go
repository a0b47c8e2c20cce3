package tokenizer_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/arxivsearch/arxivsearch/services/embedder/tokenizer"
)

func Example() {
	tok, err := tokenizer.Load("testdata/bert-small")
	if err != nil {
		log.Fatal(err)
	}
	e := tok.Encode("Schrödinger's café", 8)
	var pieces []string
	for _, id := range e.IDs {
		s, _ := tok.Token(id)
		pieces = append(pieces, s)
	}
	fmt.Println(strings.Join(pieces, " "))
	fmt.Printf("%d of %d ids, truncated: %v\n", e.Len(), e.Untruncated, e.Truncated)
	// Output:
	// [CLS] sc ##hr ##od ##inger ' s [SEP]
	// 8 of 9 ids, truncated: true
}

func ExampleTokenizer_EncodeBatch() {
	tok, err := tokenizer.Load("testdata/bert-small")
	if err != nil {
		log.Fatal(err)
	}
	var batch *tokenizer.Batch // reused across calls in a real loop
	batch = tok.EncodeBatch(batch, []string{"hello world", "null"}, 256)
	for i := range batch.Size {
		ids, mask, _ := batch.Row(i)
		fmt.Println(len(ids), mask)
	}
	// Output:
	// 4 [1 1 1 1]
	// 4 [1 1 1 0]
}
