package imatrix

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/forward"
	"github.com/mxq-dev/mxq/validate"
)

// chunkByChunk collects the matrix the plain way: each chunk through the
// whole model with forward.RunStreamed and the collector as its Observer.
func chunkByChunk(t *testing.T, src forward.ExpertSource, tokens []int, chunkSize int) *Matrix {
	t.Helper()
	d := src.Dims()
	c := NewCollector(d)
	stop := errors.New("stop")
	n := len(tokens) / chunkSize
	for i := range n {
		_, err := forward.RunStreamed(context.Background(), src, tokens[i*chunkSize:(i+1)*chunkSize], forward.StreamOptions{
			Options: forward.Options{Observe: c.Observe},
			OnLayer: func(l int, _ *forward.LayerResult) error {
				if l == d.Layers-1 {
					return stop
				}
				return nil
			},
		})
		if !errors.Is(err, stop) {
			t.Fatal(err)
		}
	}
	return c.Matrix(nil, n, chunkSize)
}

// TestComputeLayerByLayer checks that Compute's layer-major run, in memory
// or with its states spilled to a file and its MoE groups cut to one chunk,
// gives bit for bit the statistics of running chunk after chunk.
func TestComputeLayerByLayer(t *testing.T) {
	m, err := validate.Open(fixture(t, "../tiny-mixtral"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	raw, err := os.ReadFile(fixture(t, "ids.txt"))
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := validate.ParseTokens(raw, "ids.txt")
	if err != nil {
		t.Fatal(err)
	}
	tokens = tokens[:200]
	const chunkSize = 40
	want := chunkByChunk(t, m.Source, tokens, chunkSize)
	for _, c := range []struct {
		name   string
		budget int64
	}{{"in memory", 0}, {"spilled, one chunk per group", 1}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			var last, total int64
			coll, chunks, err := Compute(context.Background(), m.Source, tokens, ComputeOptions{
				ChunkSize: chunkSize, BOS: -1, Budget: c.budget, TempDir: dir,
				Progress: func(done, all int64) { last, total = done, all },
			})
			if err != nil {
				t.Fatal(err)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
			if chunks != 5 || last != total || total != 2*200 {
				t.Errorf("%d chunks, progress %d of %d", chunks, last, total)
			}
			got := coll.Matrix(nil, chunks, chunkSize)
			if len(got.Entries) != len(want.Entries) {
				t.Fatalf("%d entries, want %d", len(got.Entries), len(want.Entries))
			}
			for i, w := range want.Entries {
				g := got.Entries[i]
				if g.Name != w.Name || !slices.Equal(g.Counts, w.Counts) || !slices.EqualFunc(g.InSum2, w.InSum2, func(a, b float32) bool {
					return math.Float32bits(a) == math.Float32bits(b)
				}) {
					t.Errorf("entry %s differs from the chunk-by-chunk run (counts %v, want %v)", g.Name, g.Counts, w.Counts)
				}
			}
		})
	}
}

func TestComputeCancelled(t *testing.T) {
	m, err := validate.Open(fixture(t, "../tiny-mixtral"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Compute(ctx, m.Source, make([]int, 64), ComputeOptions{ChunkSize: 32, BOS: -1}); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

// memSource is a small model held in memory with seeded random weights.
type memSource struct {
	d               forward.Dims
	emb, norm, outW []float32
	layers          []forward.LayerWeights
}

func newMemSource(d forward.Dims, seed uint64) *memSource {
	r := rand.New(rand.NewPCG(seed, 7))
	vec := func(n int, scale, offset float32) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = offset + scale*float32(r.NormFloat64())
		}
		return v
	}
	h, q, kv, in := d.Hidden, d.Heads*d.HeadDim, d.KVHeads*d.HeadDim, d.Intermediate
	m := &memSource{d: d, emb: vec(d.Vocab*h, 1, 0), norm: vec(h, 0.1, 1), outW: vec(d.Vocab*h, 0.2, 0)}
	for range d.Layers {
		lw := forward.LayerWeights{AttnNorm: vec(h, 0.1, 1), FFNNorm: vec(h, 0.1, 1),
			Q: vec(q*h, 0.2, 0), K: vec(kv*h, 0.2, 0), V: vec(kv*h, 0.2, 0), O: vec(h*q, 0.2, 0)}
		experts := 1
		if !d.Dense() {
			lw.Router, experts = vec(d.Experts*h, 0.5, 0), d.Experts
		}
		for range experts {
			lw.Experts = append(lw.Experts, forward.Expert{Gate: vec(in*h, 0.2, 0), Down: vec(h*in, 0.2, 0), Up: vec(in*h, 0.2, 0)})
		}
		m.layers = append(m.layers, lw)
	}
	return m
}

func (m *memSource) Dims() forward.Dims                         { return m.d }
func (m *memSource) Embedding() ([]float32, error)              { return m.emb, nil }
func (m *memSource) OutputNorm() ([]float32, error)             { return m.norm, nil }
func (m *memSource) Output() ([]float32, error)                 { return m.outW, nil }
func (m *memSource) Layer(i int) (*forward.LayerWeights, error) { return &m.layers[i], nil }
func (m *memSource) Expert(i, e int) (*forward.Expert, error)   { return &m.layers[i].Experts[e], nil }
func (m *memSource) LayerShared(i int) (*forward.LayerWeights, error) {
	lw := m.layers[i]
	lw.Experts = nil
	return &lw, nil
}

// TestComputeRowRulePerChunk checks, for a MoE and a dense model and chunk
// sizes below llama.cpp's 16-row minimum, between it and a physical batch,
// and above a 512-token batch, that Compute, which runs the router and a
// dense MLP over several chunks at once, applies the row rule per chunk
// exactly as running chunk after chunk does.
func TestComputeRowRulePerChunk(t *testing.T) {
	base := forward.Dims{Hidden: 16, Intermediate: 24, Layers: 2, Heads: 2, KVHeads: 1, HeadDim: 8, Vocab: 50, RopeTheta: 1e4, RMSEps: 1e-5}
	moe, dense := base, base
	moe.Experts, moe.TopK = 4, 2
	dense.Experts, dense.TopK = 1, 1
	for _, d := range []forward.Dims{moe, dense} {
		src := newMemSource(d, 3)
		for _, chunkSize := range []int{8, 20, 520} {
			tokens := make([]int, 3*chunkSize)
			for i := range tokens {
				tokens[i] = (i*7 + 3) % d.Vocab
			}
			want := chunkByChunk(t, src, tokens, chunkSize)
			coll, chunks, err := Compute(context.Background(), src, tokens, ComputeOptions{ChunkSize: chunkSize, BOS: -1})
			if err != nil {
				t.Fatal(err)
			}
			got := coll.Matrix(nil, chunks, chunkSize)
			var names []string
			for _, e := range got.Entries {
				names = append(names, e.Name)
			}
			if len(got.Entries) != len(want.Entries) {
				t.Fatalf("experts %d, chunk %d: entries %v, want %d", d.Experts, chunkSize, names, len(want.Entries))
			}
			for i, w := range want.Entries {
				g := got.Entries[i]
				if g.Name != w.Name || !slices.Equal(g.Counts, w.Counts) || !slices.Equal(g.InSum2, w.InSum2) {
					t.Errorf("experts %d, chunk %d: %s counts %v, want %s counts %v (or sums differ)", d.Experts, chunkSize, g.Name, g.Counts, w.Name, w.Counts)
				}
			}
			if chunkSize == 8 && slices.ContainsFunc(names, func(n string) bool { return !strings.Contains(n, "_exps") }) {
				t.Errorf("experts %d, chunk 8: a plain product was collected: %v", d.Experts, names)
			}
		}
	}
}
