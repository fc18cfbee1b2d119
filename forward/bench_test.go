package forward

import (
	"sync"
	"testing"

	"github.com/mxq-dev/mxq/internal/testutil"
)

// BenchmarkForwardTiny runs the 30-token reference prompt through the tiny
// checkpoint held in memory.
func BenchmarkForwardTiny(b *testing.B) {
	ref := testutil.TinyReference(b)
	src, _ := openTiny(b)
	m := loadAll(b, src)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Run(m, ref.InputIDs, Options{Router: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(ref.InputIDs)*b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// fullWidthDims is one Mixtral-8x7B layer.
var fullWidthDims = Dims{
	Hidden: 4096, Intermediate: 14336, Layers: 1, Heads: 32, KVHeads: 8, HeadDim: 128,
	Experts: 8, TopK: 2, Vocab: 32000, RopeTheta: 1e6, RMSEps: 1e-5,
}

// fullWidthLayer holds random weights for one full-width layer. All eight
// experts share one set of w1/w2/w3 matrices (704 MB in float32) so the
// layer takes about 0.9 GB instead of 5.8 GB; every expert matrix is still
// far larger than the caches, so each one is streamed from memory exactly
// as distinct weights would be, and the router (distinct per expert) still
// spreads tokens over all eight.
var fullWidthLayer = sync.OnceValue(func() *LayerWeights {
	d := fullWidthDims
	r := &rng{s: 0x853c49e6748fea9b}
	h, q, kv, in := d.Hidden, d.Heads*d.HeadDim, d.KVHeads*d.HeadDim, d.Intermediate
	lw := &LayerWeights{
		AttnNorm: r.vec(h, 1), FFNNorm: r.vec(h, 1),
		Q: r.vec(q*h, 0.02), K: r.vec(kv*h, 0.02), V: r.vec(kv*h, 0.02), O: r.vec(h*q, 0.02),
		Router: r.vec(d.Experts*h, 0.05),
	}
	shared := Expert{Gate: r.vec(in*h, 0.02), Down: r.vec(h*in, 0.02), Up: r.vec(in*h, 0.02)}
	for range d.Experts {
		lw.Experts = append(lw.Experts, shared)
	}
	return lw
})

// BenchmarkMoELayerFullWidth runs one full-width Mixtral decoder layer
// (attention and the top-2 of 8 MoE block) on a batch of tokens.
func BenchmarkMoELayerFullWidth(b *testing.B) {
	lw := fullWidthLayer()
	for _, bc := range []struct {
		name   string
		tokens int
	}{{"tokens=1", 1}, {"tokens=32", 32}, {"tokens=512", 512}} {
		b.Run(bc.name, func(b *testing.B) {
			h := (&rng{s: 5}).matrix(bc.tokens, fullWidthDims.Hidden, 1)
			b.ResetTimer()
			for b.Loop() {
				if _, err := DecoderLayer(lw, fullWidthDims, h, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(bc.tokens*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
