package validate

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/internal/synth"
	"github.com/mxq-dev/mxq/internal/testutil"
)

// BenchmarkEndToEndTiny is `mxq validate tiny-mixtral tiny-Q4_K_M.gguf`
// on the 30 reference tokens: both models read from disk and run, then
// compared. tokens/s counts compared positions.
func BenchmarkEndToEndTiny(b *testing.B) {
	tokens := testutil.TinyReference(b).InputIDs
	ref, cand := open(b, tinyDir), open(b, writeGGUF(b, tinyDir, ggml.FileTypeQ4_K_M))
	for b.Loop() {
		if _, err := EndToEnd(context.Background(), ref, cand, tokens, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(tokens)*b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkLayerWiseFullWidth compares one full-width Mixtral-8x7B layer
// (synthetic BF16 weights, 1.4 B parameters) with its Q4_K_M GGUF, layer
// by layer, as `mxq validate --layer-wise` does for the full model. Setup
// writes about 4 GB to the temporary folder and takes minutes; run it with
// -benchtime 1x. Memory stays near one expert of each model (0.7 GB in
// float32) plus the embeddings during the reference run.
func BenchmarkLayerWiseFullWidth(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "layer")
	if err := synth.Write(context.Background(), dir, synth.FullWidthLayer, "../testdata/mixtral-8x7b-meta", 1); err != nil {
		b.Fatal(err)
	}
	ref, cand := open(b, dir), open(b, writeGGUF(b, dir, ggml.FileTypeQ4_K_M))
	vocab, err := ref.Tokenizer()
	if err != nil {
		b.Fatal(err)
	}
	tokens := vocab.Encode(DefaultPrompt, true)[:32]
	for _, bc := range []struct {
		name   string
		states string
	}{{"reference-states/tokens=32", "reference"}, {"random-states/samples=32", "random"}} {
		b.Run(bc.name, func(b *testing.B) {
			var r *Report
			for b.Loop() {
				if r, err = LayerWise(context.Background(), ref, cand, LayerWiseOptions{States: bc.states, Tokens: tokens, Samples: 32}); err != nil {
					b.Fatal(err)
				}
			}
			s := r.Layers[0]
			b.Logf("rel error %.4g, cosine %.6f, routing agreement %.3f", s.RelError, s.Cosine, s.Agreement)
			b.ReportMetric(float64(32*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
