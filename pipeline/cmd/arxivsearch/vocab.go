package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/assets"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/progress"
	"github.com/arxivsearch/arxivsearch/pipeline/internal/vocab"
)

func runVocab(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, lf := newFlagSet(stderr, "vocab", "-data DIR -out DIR [-words N] [-min-df N]", `
Learns vocabulary from the training split: the words that the BERT uncased
WordPiece vocabulary splits into several pieces ("multimodal" is
multi ##mo ##dal) and that occur in at least -min-df training papers, the
-words most frequent, are appended to the vocabulary as whole-word
tokens. Writes a tokenizer directory (vocab.txt, tokenizer.json, ...)
for train -tokenizer; every other word tokenizes as before, and the model
directory ships these files so the embedder uses the same tokenizer.`)
	data := fs.String("data", "", "prepared directory (required)")
	out := fs.String("out", "", "tokenizer directory to write (required)")
	words := fs.Int("words", 8000, "most words to add")
	minDF := fs.Int("min-df", 10, "fewest training papers a word must occur in")
	text := fs.String("text", string(dataset.TitleAbstract), "text of a paper: title+abstract or abstract")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "data", "out"); err != nil {
		return err
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	rule, err := dataset.ParseTextRule(*text)
	if err != nil {
		return err
	}
	papers, err := dataset.ReadSplit(*data, dataset.Train)
	if err != nil {
		return err
	}
	tok, err := assets.LoadTokenizer("")
	if err != nil {
		return err
	}
	found, err := vocab.SplitWords(ctx, tok, rule.Texts(papers), *minDF, *words, runtime.GOMAXPROCS(0), progress.WithWriter(stderr))
	if err != nil {
		return err
	}
	base, err := os.MkdirTemp("", "arxivsearch-vocab-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	if err := assets.WriteTokenizer(base); err != nil {
		return err
	}
	notice, err := os.ReadFile(base + "/NOTICE.tokenizer")
	if err != nil {
		return err
	}
	note := fmt.Sprintf("%s\nModified by arxivsearch vocab: %d words that occur in at least %d training papers were appended to vocab.txt and tokenizer.json (ids %d and up).\n",
		notice, len(found), *minDF, tok.VocabSize())
	if err := vocab.Write(base, *out, found, note); err != nil {
		return err
	}
	log.Info("vocabulary written", "out", *out, "added", len(found), "vocab_size", tok.VocabSize()+len(found))
	fmt.Fprintf(stdout, "wrote %s: %d words added to the %d-token vocabulary\n", *out, len(found), tok.VocabSize())
	return nil
}
