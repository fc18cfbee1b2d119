package imatrix

import (
	"context"
	"errors"
	"math"
	"os"
	"slices"
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
		_, err := forward.RunStreamed(src, tokens[i*chunkSize:(i+1)*chunkSize], forward.StreamOptions{
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
