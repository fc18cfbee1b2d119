package imatrix

import (
	"slices"
	"testing"

	"github.com/mxq-dev/mxq/forward"
	"github.com/mxq-dev/mxq/model"
)

func rows(n, cols int, v float32) [][]float32 {
	x := make([][]float32, n)
	for i := range x {
		x[i] = make([]float32, cols)
		for j := range x[i] {
			x[i][j] = v * float32(j+1)
		}
	}
	return x
}

// TestCollectorRules checks llama-imatrix's rules: plain products with
// fewer than 16 rows (per 512-row physical batch) are skipped, expert
// products never are and count per expert, and names are GGUF names.
func TestCollectorRules(t *testing.T) {
	moe := forward.Dims{Experts: 4, TopK: 2}
	dense := forward.Dims{Experts: 1, TopK: 1}
	q := model.TensorRole{Role: model.RoleAttnQ, Layer: 3, Expert: -1}
	for _, c := range []struct {
		name   string
		dims   forward.Dims
		role   model.TensorRole
		rows   int
		entry  string
		nMat   int
		counts []float32
	}{
		{"15 rows skipped", moe, q, 15, "", 0, nil},
		{"16 rows", moe, q, 16, "blk.3.attn_q.weight", 1, []float32{16}},
		{"520 rows: the 8-row tail batch is skipped", moe, q, 520, "blk.3.attn_q.weight", 1, []float32{512}},
		{"528 rows: two batches", moe, q, 528, "blk.3.attn_q.weight", 1, []float32{528}},
		{"router", moe, model.TensorRole{Role: model.RoleRouter, Layer: 0, Expert: -1}, 20, "blk.0.ffn_gate_inp.weight", 1, []float32{20}},
		{"one expert row", moe, model.TensorRole{Role: model.RoleExpertDown, Layer: 1, Expert: 2}, 1, "blk.1.ffn_down_exps.weight", 4, []float32{0, 0, 1, 0}},
		{"dense MLP", dense, model.TensorRole{Role: model.RoleFFNUp, Layer: 0, Expert: -1}, 16, "blk.0.ffn_up.weight", 1, []float32{16}},
		{"dense MLP, short", dense, model.TensorRole{Role: model.RoleFFNUp, Layer: 0, Expert: -1}, 4, "", 0, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			col := NewCollector(c.dims)
			col.Observe(c.role, rows(c.rows, 3, 0.5))
			m := col.Matrix([]string{"d"}, 1, c.rows)
			if c.entry == "" {
				if len(m.Entries) != 0 {
					t.Fatalf("collected %v", m.Entries)
				}
				return
			}
			if len(m.Entries) != 1 {
				t.Fatalf("entries %v", m.Entries)
			}
			e := m.Entries[0]
			if e.Name != c.entry || e.NMat != c.nMat || e.NPerRow != 3 || !slices.Equal(e.Counts, c.counts) {
				t.Fatalf("entry %s %d × %d counts %v, want %s %d × 3 counts %v", e.Name, e.NMat, e.NPerRow, e.Counts, c.entry, c.nMat, c.counts)
			}
			for mat, n := range c.counts {
				for j := range 3 {
					want := n * 0.25 * float32((j+1)*(j+1))
					if got := e.InSum2[mat*3+j]; got != want {
						t.Errorf("matrix %d column %d: %v, want %v", mat, j, got, want)
					}
				}
			}
		})
	}
}
