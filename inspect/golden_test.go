package inspect

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The golden files pin the text and JSON renderings; run
// go test ./inspect -update to rewrite them after an intended change.
func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		path string
		opts Options
	}{
		{"tiny-mixtral", tinyDir, Options{Layers: true}},
		{"mixtral-8x7b-config", fullConfig, Options{}},
		{"mixtral-8x7b-sparse", sparseDir, Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustInspect(t, tt.path, tt.opts)
			// The sparse checkpoint lives in a temporary folder.
			stable := func(b []byte) []byte { return []byte(strings.ReplaceAll(string(b), sparseDir, "$SPARSE")) }
			checkGolden(t, tt.name+".txt.golden", stable(renderText(t, r)))
			js := renderJSON(t, r)
			checkGolden(t, tt.name+".json.golden", stable(js))

			// The JSON decodes back into the same report.
			var back Report
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatal(err)
			}
			if again := renderJSON(t, &back); !bytes.Equal(again, js) {
				t.Error("JSON does not round-trip through Report")
			}
		})
	}
}

func TestTextUnits(t *testing.T) {
	r := mustInspect(t, fullConfig, Options{})
	txt := string(renderText(t, r))
	for _, want := range []string{
		"MEMORY (1 GB = 10^9 bytes",
		"46,702,792,704",
		"12,879,925,248",
		"12,748,853,248",
		"57,942,245,376",
		"28.45 GB",
		"--n-cpu-moe",
	} {
		if !strings.Contains(txt, want) {
			t.Errorf("text lacks %q", want)
		}
	}
	if strings.Contains(txt, "PER LAYER") {
		t.Error("per-layer table shown without Layers")
	}
	r.Settings.Layers = true
	if !strings.Contains(string(renderText(t, r)), "PER LAYER") {
		t.Error("per-layer table missing with Layers")
	}
}
