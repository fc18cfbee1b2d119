package imatrix_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxq-dev/mxq/imatrix"
	"github.com/mxq-dev/mxq/internal/testutil"
	"github.com/mxq-dev/mxq/validate"
)

// TestAgreesWithLlamaImatrix computes the importance matrix of tiny-mixtral
// with the Go forward pass on the ids llama-imatrix was given, cut the same
// way, and compares it entry by entry with llama-imatrix's file: the same
// entries and counts exactly, the sums within 1e-4 relative (the two forward
// passes round differently; see compareMatrices).
func TestAgreesWithLlamaImatrix(t *testing.T) {
	m, err := validate.Open(testutil.Testdata(t, "tiny-mixtral"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, c := range []struct {
		ids, want string
		chunkSize int
	}{
		{"ids.txt", "tiny-mixtral.imatrix.gguf", 128},
		{"ids.partial.txt", "tiny-mixtral.partial.imatrix.gguf", 16},
	} {
		t.Run(c.ids, func(t *testing.T) {
			dir := testutil.Testdata(t, "tiny-mixtral-imatrix")
			raw, err := os.ReadFile(filepath.Join(dir, c.ids))
			if err != nil {
				t.Fatal(err)
			}
			tokens, err := validate.ParseTokens(raw, c.ids)
			if err != nil {
				t.Fatal(err)
			}
			coll, chunks, err := imatrix.Compute(context.Background(), m.Source, tokens, imatrix.ComputeOptions{ChunkSize: c.chunkSize, BOS: -1})
			if err != nil {
				t.Fatal(err)
			}
			got := coll.Matrix([]string{c.ids}, chunks, c.chunkSize)
			want, err := imatrix.Read(filepath.Join(dir, c.want))
			if err != nil {
				t.Fatal(err)
			}
			compareMatrices(t, got, want, 1e-4)
		})
	}
}

// compareMatrices checks entries, counts (exactly) and sums within tol
// relative to the value, or to the mean value of its matrix for a value
// below that mean: both forward passes round each activation to about 1e-7
// of its vector's scale, so a component far below the others (in a matrix
// that saw a single token) has a larger relative error that says nothing
// about the collection. It logs the largest plain relative difference too.
func compareMatrices(t *testing.T, got, want *imatrix.Matrix, tol float64) {
	t.Helper()
	if got.ChunkCount != want.ChunkCount || got.ChunkSize != want.ChunkSize || len(got.Entries) != len(want.Entries) {
		t.Fatalf("%d chunks of %d, %d entries; want %d of %d, %d", got.ChunkCount, got.ChunkSize, len(got.Entries),
			want.ChunkCount, want.ChunkSize, len(want.Entries))
	}
	var worst, scaled float64
	var worstAt string
	for i, w := range want.Entries {
		g := got.Entries[i]
		if g.Name != w.Name || g.NPerRow != w.NPerRow || g.NMat != w.NMat {
			t.Fatalf("entry %d: %s %d × %d, want %s %d × %d", i, g.Name, g.NMat, g.NPerRow, w.Name, w.NMat, w.NPerRow)
		}
		for j := range w.Counts {
			if g.Counts[j] != w.Counts[j] {
				t.Errorf("%s: counts %v, want %v", g.Name, g.Counts, w.Counts)
				break
			}
		}
		for j, wv := range w.InSum2 {
			gv := g.InSum2[j]
			diff := math.Abs(float64(gv) - float64(wv))
			if rel := diff / math.Abs(float64(wv)); diff > 0 && rel > worst {
				worst, worstAt = rel, g.Name
			}
			mat := j / g.NPerRow
			var mean float64
			for _, v := range w.InSum2[mat*g.NPerRow : (mat+1)*g.NPerRow] {
				mean += float64(v) / float64(g.NPerRow)
			}
			var rel float64
			if diff != 0 || math.IsNaN(float64(gv)) {
				rel = diff / math.Max(math.Abs(float64(wv)), mean)
			}
			scaled = max(scaled, rel)
			if !(rel <= tol) {
				t.Errorf("%s: value %d (matrix %d): %v, want %v (relative %.2g)", g.Name, j, mat, gv, wv, rel)
				break
			}
		}
	}
	t.Logf("largest difference relative to the value or its matrix's mean %.3g; to the value alone %.3g (%s)", scaled, worst, worstAt)
}
