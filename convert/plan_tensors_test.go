package convert

import (
	"slices"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/model"
)

// Tensors, TensorBytes and ReadRows describe the plan as the engine writes
// it: expert tensors in parts of one expert each, the tensor data of the
// report, and each part's rows as the checkpoint stores them.
func TestPlanTensorsAndRows(t *testing.T) {
	src := openTiny(t)
	p, err := PlanGGUF(src, GGUFOptions{FileType: ggml.FileTypeQ4_K_M})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.TensorBytes(), p.Report("").TensorBytes; got != want {
		t.Errorf("TensorBytes %d, report %d", got, want)
	}
	pts := p.Tensors()
	found := false
	for i, pt := range pts {
		if pt.Role.Role != model.RoleExpertUp || pt.Role.Layer != 1 {
			continue
		}
		found = true
		if pt.Parts != src.Config.NumExperts || pt.PartRows != int(pt.Dims[1]) {
			t.Fatalf("%s: %d parts of %d rows", pt.Name, pt.Parts, pt.PartRows)
		}
		r := pt.Role
		r.Expert = 3
		want := hfFloats(t, src, r)
		cols := int(pt.Dims[0])
		rows := []int{5, 0, pt.PartRows - 1}
		got := make([]float32, len(rows)*cols)
		if err := p.ReadRows(i, 3, rows, got); err != nil {
			t.Fatal(err)
		}
		for k, row := range rows {
			if !slices.Equal(got[k*cols:(k+1)*cols], want[row*cols:(row+1)*cols]) {
				t.Errorf("expert 3 row %d differs from the checkpoint", row)
			}
		}
		if err := p.ReadRows(i, 3, []int{pt.PartRows}, got); err == nil {
			t.Error("a row past the end was read")
		}
		if err := p.ReadRows(i, pt.Parts, rows, got); err == nil {
			t.Error("a part past the end was read")
		}
	}
	if !found {
		t.Fatal("no blk.1.ffn_up_exps")
	}
}
