package model

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/arch"
)

// Qwen3-MoE configs describe the same tensors and counts in package model
// as package arch declares, under transformers' names, and every name maps
// to its role and back.
func TestQwen3MoEMatchesArch(t *testing.T) {
	for _, path := range []string{
		filepath.Join("..", "testdata", "tiny-qwen3-moe", "config.json"),
		filepath.Join("..", "testdata", "arch", "qwen3-30b-a3b", "config.json"),
		filepath.Join("..", "testdata", "arch", "qwen3-235b-a22b", "config.json"),
	} {
		t.Run(filepath.Base(filepath.Dir(path)), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			c, err := ParseConfig(data)
			if err != nil {
				t.Fatal(err)
			}
			if c.Family != FamilyQwen3MoE || !c.QKNorm || c.TopKUnnormalized || c.GGUFArch() != "qwen3moe" || c.PermutesQK() {
				t.Fatalf("family %q, qk norm %v, unnormalised %v, GGUF %q, permuted %v", c.Family, c.QKNorm, c.TopKUnnormalized, c.GGUFArch(), c.PermutesQK())
			}
			ac, err := arch.ParseConfig(data, path)
			if err != nil {
				t.Fatal(err)
			}
			m, err := ac.Model()
			if err != nil {
				t.Fatal(err)
			}
			ours, theirs := c.HFTensors(), m.HFTensors()
			names := map[string][]int64{}
			for _, e := range theirs {
				names[e.Name] = e.Shape
			}
			if len(ours) != len(theirs) {
				t.Fatalf("%d tensors, package arch declares %d", len(ours), len(theirs))
			}
			for _, e := range ours {
				shape, ok := names[e.Name]
				if !ok || !slices.Equal(shape, e.Shape) {
					t.Fatalf("%s %v: package arch has %v", e.Name, e.Shape, shape)
				}
				if r := ClassifyHF(e.Name); r != e.Role || c.HFName(r) != e.Name {
					t.Fatalf("%s classifies as %+v, named back %q", e.Name, r, c.HFName(r))
				}
			}
			p, cnt := c.Params(), m.Count()
			if p.Total != cnt.Total || p.Active != cnt.Active || p.Experts != cnt.Experts {
				t.Errorf("total %d, active %d, experts %d; package arch counts %d, %d, %d", p.Total, p.Active, p.Experts, cnt.Total, cnt.Active, cnt.Experts)
			}
		})
	}
}

func TestQwen3MoEConfigErrors(t *testing.T) {
	base := `"model_type":"qwen3_moe","hidden_size":64,"intermediate_size":96,"num_hidden_layers":2,"num_attention_heads":4,"head_dim":16,"vocab_size":100,"num_experts":4,"num_experts_per_tok":2`
	for _, c := range []struct {
		name, json, key string
	}{
		{"dense layers", `{` + base + `,"moe_intermediate_size":32,"mlp_only_layers":[1]}`, "mlp_only_layers"},
		{"attention bias", `{` + base + `,"moe_intermediate_size":32,"attention_bias":true}`, "attention_bias"},
		{"no expert width", `{` + base + `}`, "moe_intermediate_size"},
		{"top-k above experts", strings.Replace(`{`+base+`,"moe_intermediate_size":32}`, `"num_experts_per_tok":2`, `"num_experts_per_tok":5`, 1), "num_experts_per_tok"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(c.json))
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != c.key {
				t.Fatalf("error %v, want one naming %q", err, c.key)
			}
		})
	}
}
