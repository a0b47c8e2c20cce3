package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/arxivsearch/arxivsearch/pipeline/internal/dataset"
)

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// inputFlags are the flags that say how to read an input file, shared by
// every command that reads one.
type inputFlags struct {
	format, columns *string
}

func addInputFlags(fs *flag.FlagSet) inputFlags {
	return inputFlags{
		format:  fs.String("format", string(dataset.FormatAuto), "input format: auto, jsonl, parquet or csv"),
		columns: fs.String("columns", "", `CSV column mapping "field=header,..." (fields: id, title, abstract, authors, categories, primary_category, update_date, comments)`),
	}
}

// options parses the flags into dataset options.
func (f inputFlags) options() (dataset.Options, error) {
	format, err := dataset.ParseFormat(*f.format)
	if err != nil {
		return dataset.Options{}, err
	}
	cols, err := dataset.ParseColumns(*f.columns)
	if err != nil {
		return dataset.Options{}, err
	}
	return dataset.Options{Format: format, Columns: cols}, nil
}
