package validate

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestWriteText renders fixed reports of both modes against golden files.
func TestWriteText(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	ref := ModelInfo{Path: "models/mixtral", Format: "safetensors", Params: 46702792704, BitsPerWeight: 16}
	cand := ModelInfo{Path: "models/mixtral-Q4_K_M.gguf", Format: "gguf", Params: 46702792704, BitsPerWeight: 4.87}
	endToEnd := &Report{
		Mode: "end-to-end", Reference: ref, Candidate: cand, Arithmetic: "float32", Tokens: 120, Seconds: 12.5,
		Logits: &LogitStats{Positions: 120, KLD: Distribution{Mean: 0.0123, P99: 0.0871, Max: 0.1502},
			Top1Agreement: 0.95, Top1Same: 114, PerplexityReference: 4.125, PerplexityCandidate: 4.2},
		Routing: []RoutingStats{
			{Layer: 0, Tokens: 120, Agreement: 0.975, Same: 117, Overlap: 0.9875, WeightL1: 0.0312},
			{Layer: 1, Tokens: 120, Agreement: 0.9, Same: 108, Overlap: 0.95, WeightL1: 0.0625},
		},
	}
	endToEnd.Check(Thresholds{MaxKLD: f(0.01), MinRoutingAgreement: f(0.8)})
	layerWise := &Report{
		Mode: "layer-wise", Reference: ref, Candidate: cand, Arithmetic: "bf16", Tokens: 64, Seconds: 40,
		States: &StatesInfo{Source: "random", Seed: 7},
		Layers: []LayerStats{
			{RoutingStats: RoutingStats{Layer: 31, Tokens: 64, Agreement: 0.953125, Same: 61, Overlap: 0.9765625, WeightL1: 0.04}, RelError: 0.0812, Cosine: 0.99671, MaxAbsError: 0.25},
		},
	}
	layerWise.Check(Thresholds{MaxMoEError: f(0.1)})
	for name, r := range map[string]*Report{"end-to-end.txt": endToEnd, "layer-wise.txt": layerWise} {
		var b bytes.Buffer
		if err := r.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%s differs from the golden file:\n%s", name, b.String())
		}
	}
}
