package model

import (
	"encoding/json"
	"reflect"
	"testing"
)

func load(t testing.TB, file string) *Config {
	t.Helper()
	c, err := LoadConfig("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClassifyHF(t *testing.T) {
	tests := []struct {
		name string
		want TensorRole
	}{
		{"model.embed_tokens.weight", TensorRole{RoleEmbedding, -1, -1}},
		{"model.layers.0.self_attn.q_proj.weight", TensorRole{RoleAttnQ, 0, -1}},
		{"model.layers.31.self_attn.k_proj.weight", TensorRole{RoleAttnK, 31, -1}},
		{"model.layers.7.self_attn.v_proj.weight", TensorRole{RoleAttnV, 7, -1}},
		{"model.layers.7.self_attn.o_proj.weight", TensorRole{RoleAttnOutput, 7, -1}},
		{"model.layers.2.input_layernorm.weight", TensorRole{RoleAttnNorm, 2, -1}},
		{"model.layers.2.post_attention_layernorm.weight", TensorRole{RoleFFNNorm, 2, -1}},
		{"model.layers.3.block_sparse_moe.gate.weight", TensorRole{RoleRouter, 3, -1}},
		{"model.layers.3.block_sparse_moe.experts.5.w1.weight", TensorRole{RoleExpertGate, 3, 5}},
		{"model.layers.3.block_sparse_moe.experts.5.w2.weight", TensorRole{RoleExpertDown, 3, 5}},
		{"model.layers.3.block_sparse_moe.experts.5.w3.weight", TensorRole{RoleExpertUp, 3, 5}},
		{"model.layers.4.mlp.gate_proj.weight", TensorRole{RoleFFNGate, 4, -1}},
		{"model.layers.4.mlp.up_proj.weight", TensorRole{RoleFFNUp, 4, -1}},
		{"model.layers.4.mlp.down_proj.weight", TensorRole{RoleFFNDown, 4, -1}},
		{"model.norm.weight", TensorRole{RoleOutputNorm, -1, -1}},
		{"lm_head.weight", TensorRole{RoleOutput, -1, -1}},
		// Not tensors of these models, or not canonical names.
		{"model.layers.0.self_attn.q_proj.bias", Unknown},
		{"model.layers.00.self_attn.q_proj.weight", Unknown},
		{"model.layers.-1.self_attn.q_proj.weight", Unknown},
		{"model.layers.x.self_attn.q_proj.weight", Unknown},
		{"model.layers.99999999.self_attn.q_proj.weight", Unknown},
		{"model.layers.0.self_attn.q_proj.weight.extra", Unknown},
		{"model.layers.0.self_attn.rotary_emb.inv_freq", Unknown},
		{"model.layers.0.block_sparse_moe.experts.w1.weight", Unknown},
		{"blk.0.attn_q.weight", Unknown},
		{"", Unknown},
	}
	for _, tt := range tests {
		if got := ClassifyHF(tt.name); got != tt.want {
			t.Errorf("ClassifyHF(%q) = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestClassifyGGUF(t *testing.T) {
	tests := []struct {
		name string
		want TensorRole
	}{
		{"token_embd.weight", TensorRole{RoleEmbedding, -1, -1}},
		{"blk.0.attn_norm.weight", TensorRole{RoleAttnNorm, 0, -1}},
		{"blk.0.attn_q.weight", TensorRole{RoleAttnQ, 0, -1}},
		{"blk.0.attn_k.weight", TensorRole{RoleAttnK, 0, -1}},
		{"blk.0.attn_v.weight", TensorRole{RoleAttnV, 0, -1}},
		{"blk.0.attn_output.weight", TensorRole{RoleAttnOutput, 0, -1}},
		{"blk.9.ffn_norm.weight", TensorRole{RoleFFNNorm, 9, -1}},
		{"blk.9.ffn_gate_inp.weight", TensorRole{RoleRouter, 9, -1}},
		{"blk.9.ffn_gate_exps.weight", TensorRole{RoleExpertGate, 9, AllExperts}},
		{"blk.9.ffn_down_exps.weight", TensorRole{RoleExpertDown, 9, AllExperts}},
		{"blk.9.ffn_up_exps.weight", TensorRole{RoleExpertUp, 9, AllExperts}},
		{"blk.9.ffn_gate.3.weight", TensorRole{RoleExpertGate, 9, 3}},
		{"blk.9.ffn_down.3.weight", TensorRole{RoleExpertDown, 9, 3}},
		{"blk.9.ffn_up.3.weight", TensorRole{RoleExpertUp, 9, 3}},
		{"blk.9.ffn_gate.weight", TensorRole{RoleFFNGate, 9, -1}},
		{"blk.9.ffn_down.weight", TensorRole{RoleFFNDown, 9, -1}},
		{"blk.9.ffn_up.weight", TensorRole{RoleFFNUp, 9, -1}},
		{"output_norm.weight", TensorRole{RoleOutputNorm, -1, -1}},
		{"output.weight", TensorRole{RoleOutput, -1, -1}},
		{"rope_freqs.weight", Unknown},
		{"blk.0.attn_q.bias", Unknown},
		{"model.embed_tokens.weight", Unknown},
	}
	for _, tt := range tests {
		if got := ClassifyGGUF(tt.name); got != tt.want {
			t.Errorf("ClassifyGGUF(%q) = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// Every expected name must classify to its role and name back to itself.
func TestNamesRoundTrip(t *testing.T) {
	for _, file := range []string{"mixtral-8x7b.config.json", "tiny-mixtral.config.json", "mistral-7b-v0.1.config.json"} {
		c := load(t, file)
		for _, e := range c.HFTensors() {
			if got := ClassifyHF(e.Name); got != e.Role {
				t.Errorf("%s: ClassifyHF(%q) = %+v, want %+v", file, e.Name, got, e.Role)
			}
			if got := HFName(e.Role); got != e.Name {
				t.Errorf("%s: HFName(%+v) = %q, want %q", file, e.Role, got, e.Name)
			}
			if shape, ok := c.ExpectedHF(e.Role); !ok || !reflect.DeepEqual(shape, e.Shape) {
				t.Errorf("%s: ExpectedHF(%+v) = %v %v, want %v", file, e.Role, shape, ok, e.Shape)
			}
		}
		for _, e := range c.GGUFTensors() {
			if got := ClassifyGGUF(e.Name); got != e.Role {
				t.Errorf("%s: ClassifyGGUF(%q) = %+v, want %+v", file, e.Name, got, e.Role)
			}
			if got := GGUFName(e.Role); got != e.Name {
				t.Errorf("%s: GGUFName(%+v) = %q, want %q", file, e.Role, got, e.Name)
			}
			if dims, ok := c.ExpectedGGUF(e.Role); !ok || !reflect.DeepEqual(dims, e.Shape) {
				t.Errorf("%s: ExpectedGGUF(%+v) = %v %v, want %v", file, e.Role, dims, ok, e.Shape)
			}
		}
	}
}

func TestInverseNamesRejectMisplacedIndices(t *testing.T) {
	for _, r := range []TensorRole{
		Unknown,
		{RoleAttnQ, -1, -1},           // layer role without a layer
		{RoleEmbedding, 0, -1},        // model role with a layer
		{RoleExpertGate, 0, -1},       // expert role without an expert
		{RoleAttnQ, 0, 0},             // layer role with an expert
		{Role(99), 0, 0},              // no such role
		{RoleExpertUp, 1, AllExperts}, // no single HF tensor
	} {
		if got := HFName(r); got != "" {
			t.Errorf("HFName(%+v) = %q, want empty", r, got)
		}
	}
	if got := GGUFName(TensorRole{RoleExpertUp, 1, 4}); got != "blk.1.ffn_up.4.weight" {
		t.Errorf("per-expert GGUF name %q", got)
	}
	if got := GGUFName(TensorRole{RoleAttnQ, -1, -1}); got != "" {
		t.Errorf("GGUFName without layer = %q", got)
	}
}

func TestExpectedTensorsMixtral(t *testing.T) {
	c := load(t, "mixtral-8x7b.config.json")
	hf := c.HFTensors()
	if len(hf) != 995 {
		t.Errorf("%d HF tensors, want 995", len(hf))
	}
	gg := c.GGUFTensors()
	if len(gg) != 323 {
		t.Errorf("%d GGUF tensors, want 323", len(gg))
	}
	wantHF := map[string][]int64{
		"model.embed_tokens.weight":                            {32000, 4096},
		"model.layers.0.self_attn.q_proj.weight":               {4096, 4096},
		"model.layers.0.self_attn.k_proj.weight":               {1024, 4096},
		"model.layers.0.self_attn.v_proj.weight":               {1024, 4096},
		"model.layers.0.self_attn.o_proj.weight":               {4096, 4096},
		"model.layers.0.block_sparse_moe.gate.weight":          {8, 4096},
		"model.layers.0.block_sparse_moe.experts.7.w1.weight":  {14336, 4096},
		"model.layers.0.block_sparse_moe.experts.7.w2.weight":  {4096, 14336},
		"model.layers.31.block_sparse_moe.experts.0.w3.weight": {14336, 4096},
		"model.layers.31.post_attention_layernorm.weight":      {4096},
		"model.norm.weight":                                    {4096},
		"lm_head.weight":                                       {32000, 4096},
	}
	checkShapes(t, hf, wantHF)
	wantGGUF := map[string][]int64{
		"token_embd.weight":          {4096, 32000},
		"blk.0.attn_k.weight":        {4096, 1024},
		"blk.0.ffn_gate_inp.weight":  {4096, 8},
		"blk.0.ffn_gate_exps.weight": {4096, 14336, 8},
		"blk.0.ffn_down_exps.weight": {14336, 4096, 8},
		"blk.0.ffn_up_exps.weight":   {4096, 14336, 8},
		"output.weight":              {4096, 32000},
	}
	checkShapes(t, gg, wantGGUF)
	// State-dict order inside a layer: attention, router, experts by
	// expert, then the norms.
	order := []string{
		"model.embed_tokens.weight",
		"model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
		"model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.o_proj.weight",
		"model.layers.0.block_sparse_moe.gate.weight",
		"model.layers.0.block_sparse_moe.experts.0.w1.weight", "model.layers.0.block_sparse_moe.experts.0.w2.weight",
		"model.layers.0.block_sparse_moe.experts.0.w3.weight", "model.layers.0.block_sparse_moe.experts.1.w1.weight",
	}
	for i, n := range order {
		if hf[i].Name != n {
			t.Errorf("HFTensors()[%d] = %s, want %s", i, hf[i].Name, n)
		}
	}
	if hf[len(hf)-1].Name != "lm_head.weight" || hf[len(hf)-2].Name != "model.norm.weight" {
		t.Errorf("tail %s, %s", hf[len(hf)-2].Name, hf[len(hf)-1].Name)
	}
	if gg[0].Name != "token_embd.weight" || gg[3].Name != "blk.0.attn_norm.weight" {
		t.Errorf("GGUF order starts %s ... %s", gg[0].Name, gg[3].Name)
	}
}

func TestExpectedTensorsDense(t *testing.T) {
	c := load(t, "llama-2-7b.config.json")
	hf := c.HFTensors()
	if len(hf) != 3+32*9 {
		t.Errorf("%d tensors, want %d", len(hf), 3+32*9)
	}
	for _, e := range hf {
		if e.Role.Role.Group() == GroupExperts || e.Role.Role == RoleRouter {
			t.Errorf("dense model lists %s", e.Name)
		}
	}
	if _, ok := c.ExpectedHF(TensorRole{RoleRouter, 0, -1}); ok {
		t.Error("dense model expects a router")
	}
	if _, ok := c.ExpectedHF(TensorRole{RoleAttnQ, 32, -1}); ok {
		t.Error("layer 32 expected in a 32-layer model")
	}
	checkShapes(t, c.GGUFTensors(), map[string][]int64{"blk.0.ffn_down.weight": {11008, 4096}, "blk.0.ffn_up.weight": {4096, 11008}})
}

func checkShapes(t *testing.T, list []ExpectedTensor, want map[string][]int64) {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range list {
		if seen[e.Name] {
			t.Errorf("%s listed twice", e.Name)
		}
		seen[e.Name] = true
		if w, ok := want[e.Name]; ok && !reflect.DeepEqual(e.Shape, w) {
			t.Errorf("%s: shape %v, want %v", e.Name, e.Shape, w)
		}
	}
	for n := range want {
		if !seen[n] {
			t.Errorf("%s not listed", n)
		}
	}
}

func TestRoleText(t *testing.T) {
	for _, r := range append(Roles(), RoleUnknown) {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back Role
		if err := json.Unmarshal(b, &back); err != nil || back != r {
			t.Errorf("%v: round trip %s -> %v (%v)", r, b, back, err)
		}
	}
	var r Role
	if err := r.UnmarshalText([]byte("nope")); err == nil {
		t.Error("unknown role name accepted")
	}
}

func FuzzClassify(f *testing.F) {
	c, err := LoadConfig("testdata/tiny-mixtral.config.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range c.HFTensors() {
		f.Add(e.Name)
	}
	for _, e := range c.GGUFTensors() {
		f.Add(e.Name)
	}
	f.Add("blk.1.ffn_gate.3.weight")
	f.Fuzz(func(t *testing.T, name string) {
		if r := ClassifyHF(name); r.Role != RoleUnknown && HFName(r) != name {
			t.Fatalf("ClassifyHF(%q) = %+v names back as %q", name, r, HFName(r))
		}
		if r := ClassifyGGUF(name); r.Role != RoleUnknown && GGUFName(r) != name {
			t.Fatalf("ClassifyGGUF(%q) = %+v names back as %q", name, r, GGUFName(r))
		}
	})
}
