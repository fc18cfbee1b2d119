package forward

import (
	"strings"
	"testing"
)

func smallDims() Dims {
	return Dims{Hidden: 16, Intermediate: 24, Layers: 2, Heads: 2, KVHeads: 1, HeadDim: 8, Experts: 4, TopK: 2, Vocab: 10, RopeTheta: 1e4, RMSEps: 1e-5}
}

func smallModel() *memSource {
	d := smallDims()
	r := &rng{s: 99}
	m := &memSource{dims: d, emb: r.vec(d.Vocab*d.Hidden, 1), norm: r.vec(d.Hidden, 1), outW: r.vec(d.Vocab*d.Hidden, 1)}
	for range d.Layers {
		m.layers = append(m.layers, randomLayer(d, r))
	}
	return m
}

// TestBadInputs checks that malformed dimensions, weights and tokens are
// reported as errors naming the problem, never panics.
func TestBadInputs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(m *memSource)
		tokens []int
		want   string
	}{
		{"token too large", nil, []int{1, 10}, "token 10 at position 1"},
		{"negative token", nil, []int{-1}, "token -1"},
		{"no tokens", nil, []int{}, "no tokens"},
		{"odd head dim", func(m *memSource) { m.dims.HeadDim = 7 }, []int{1}, "head dim"},
		{"heads not grouped", func(m *memSource) { m.dims.KVHeads = 3 }, []int{1}, "kv heads"},
		{"top-k beyond experts", func(m *memSource) { m.dims.TopK = 5 }, []int{1}, "top-k"},
		{"short embedding", func(m *memSource) { m.emb = m.emb[1:] }, []int{1}, "embedding"},
		{"short q", func(m *memSource) { m.layers[1].Q = m.layers[1].Q[:3] }, []int{1}, "layer 1: forward: q has 3"},
		{"missing expert", func(m *memSource) { m.layers[0].Experts = m.layers[0].Experts[:3] }, []int{1}, "3 experts, want 4"},
		{"short down", func(m *memSource) { m.layers[0].Experts[2].Down = nil }, []int{1}, "expert 2 down"},
		{"short router", func(m *memSource) { m.layers[0].Router = m.layers[0].Router[:5] }, []int{1}, "router"},
		{"short head", func(m *memSource) { m.outW = m.outW[:9] }, []int{1}, "output has 9"},
		{"short final norm", func(m *memSource) { m.norm = nil }, []int{1}, "output norm"},
	} {
		m := smallModel()
		if tc.edit != nil {
			tc.edit(m)
		}
		_, err := Run(m, tc.tokens, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	m := smallModel()
	if _, err := Run(m, []int{0, 9, 3}, Options{Router: true}); err != nil {
		t.Errorf("valid model: %v", err)
	}
	if _, _, _, err := MoEBlock(m.layers[0], m.dims, [][]float32{make([]float32, 15)}); err == nil {
		t.Error("MoEBlock accepted a 15-wide input for hidden 16")
	}
	if _, err := DecoderLayer(m.layers[0], m.dims, nil, 0); err == nil {
		t.Error("DecoderLayer accepted no input")
	}
}
