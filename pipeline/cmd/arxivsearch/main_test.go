package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestHelpForEveryCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, c := range commands {
		if !strings.Contains(out.String(), c.name) {
			t.Errorf("top-level help lacks %s", c.name)
		}
		for _, help := range []string{"-help", "--help", "-h"} {
			err := run(context.Background(), []string{c.name, help}, &out, &out)
			if !errors.Is(err, flag.ErrHelp) {
				t.Errorf("%s %s: %v, want flag.ErrHelp", c.name, help, err)
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"prepare", "-out", "x"}, "-input is required"},
		{[]string{"train", "-data", "x"}, "-out is required"},
		{[]string{"prepare", "-input", "a", "-out", "b", "extra"}, "unexpected argument"},
		{[]string{"prepare", "-input", "a", "-out", "b", "-on-error", "maybe"}, "-on-error"},
		{[]string{"train", "-data", "a", "-out", "b", "-negatives", "none"}, "negatives"},
		{[]string{"export", "-model", "a", "-out", "b", "-dtype", "int4"}, "dtype"},
		{[]string{"eval", "-data", "a", "-tasks", "old,new"}, "-tasks"},
		{[]string{"eval", "-data", "/nonexistent"}, "run arxivsearch prepare first"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		err := run(context.Background(), tt.args, &out, &out)
		if err == nil || !strings.Contains(err.Error()+out.String(), tt.want) {
			t.Errorf("%q: %v, want an error mentioning %q", tt.args, err, tt.want)
		}
	}
}
