package app

import (
	"bytes"
	"os"
	"testing"

	"github.com/arxivsearch/arxivsearch/platform/service"
)

// TestSettingsDocumented keeps docs/configuration.md, the one reference of
// every setting, complete for this daemon.
func TestSettingsDocumented(t *testing.T) {
	fs, _ := service.NewFlagSet("gateway", "GATEWAY")
	DefineFlags(fs)
	doc, err := os.ReadFile("../../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	if missing := fs.Undocumented(string(doc)); len(missing) > 0 {
		var rows bytes.Buffer
		fs.MarkdownRows(&rows)
		t.Errorf("docs/configuration.md lacks %d gateway settings; its gateway table should read:\n%s", len(missing), rows.String())
	}
}
