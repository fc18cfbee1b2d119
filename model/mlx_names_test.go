package model

import "testing"

func TestMLXExpertModule(t *testing.T) {
	for _, r := range []Role{RoleExpertGate, RoleExpertDown, RoleExpertUp} {
		name := MLXExpertModule(7, r)
		layer, got, ok := ClassifyMLXExpertModule(name)
		if !ok || layer != 7 || got != r {
			t.Errorf("%s: classified as layer %d role %v %v", name, layer, got, ok)
		}
	}
	if n := MLXExpertModule(0, RoleAttnQ); n != "" {
		t.Errorf("attention named %q", n)
	}
	for _, bad := range []string{"model.layers.0.block_sparse_moe.switch_mlp.gate_proj.weight", "model.layers.x.block_sparse_moe.switch_mlp.up_proj", "model.layers.0.mlp.switch_mlp.up_proj"} {
		if _, _, ok := ClassifyMLXExpertModule(bad); ok {
			t.Errorf("%s classified", bad)
		}
	}
}
