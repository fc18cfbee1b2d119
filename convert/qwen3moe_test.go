package convert

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/forward"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/model"
	"github.com/mxq-dev/mxq/quant"
	"github.com/mxq-dev/mxq/tokenizer"
)

const tinyQwen3MoE = "../testdata/tiny-qwen3-moe"

// The F32 GGUF of tiny-qwen3-moe carries llama.cpp's qwen3moe metadata,
// the byte-level vocabulary and every tensor exactly as stored in the
// checkpoint: experts stacked, q and k rows in Hugging Face order.
func TestQwen3MoEGGUFLayout(t *testing.T) {
	src := stOpen(t, tinyQwen3MoE)
	out := writeGGUF(t, src, GGUFOptions{FileType: ggml.FileTypeAllF32})
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	for _, c := range []struct {
		key  string
		want any
	}{
		{"general.architecture", "qwen3moe"},
		{"qwen3moe.block_count", uint64(2)},
		{"qwen3moe.context_length", uint64(40960)},
		{"qwen3moe.embedding_length", uint64(256)},
		{"qwen3moe.feed_forward_length", uint64(768)},
		{"qwen3moe.expert_feed_forward_length", uint64(256)},
		{"qwen3moe.attention.head_count", uint64(4)},
		{"qwen3moe.attention.head_count_kv", uint64(2)},
		{"qwen3moe.attention.key_length", uint64(64)},
		{"qwen3moe.attention.value_length", uint64(64)},
		{"qwen3moe.expert_count", uint64(16)},
		{"qwen3moe.expert_used_count", uint64(4)},
		{"qwen3moe.rope.freq_base", 1e6},
		{"qwen3moe.attention.layer_norm_rms_epsilon", 1e-6},
		{"tokenizer.ggml.model", "gpt2"},
		{"tokenizer.ggml.pre", "qwen2"},
		{"tokenizer.ggml.bos_token_id", uint64(8192)},     // config.json bos_token_id
		{"tokenizer.ggml.eos_token_id", uint64(8194)},     // <|im_end|>
		{"tokenizer.ggml.padding_token_id", uint64(8192)}, // <|endoftext|>
		{"tokenizer.ggml.add_bos_token", false},
	} {
		v, ok := f.Lookup(c.key)
		if !ok {
			t.Errorf("%s missing", c.key)
			continue
		}
		var got any
		switch c.want.(type) {
		case string:
			got, _ = v.AsString()
		case uint64:
			got, _ = v.AsUint()
		case bool:
			got, _ = v.AsBool()
		case float64:
			x, _ := v.AsFloat()
			got = float64(float32(x))
			c.want = float64(float32(c.want.(float64)))
		}
		if got != c.want {
			t.Errorf("%s = %v, want %v", c.key, got, c.want)
		}
	}
	for _, k := range []string{"llama.block_count", "qwen3moe.rope.dimension_count"} {
		if _, ok := f.Lookup(k); ok {
			t.Errorf("%s written for qwen3moe", k)
		}
	}
	tokens, _ := mustLookup(t, f, "tokenizer.ggml.tokens").AsStrings()
	merges, _ := mustLookup(t, f, "tokenizer.ggml.merges").AsStrings()
	types := mustLookup(t, f, "tokenizer.ggml.token_type")
	if len(tokens) != 8256 || types.Len() != 8256 || len(merges) != 8192-256 {
		t.Fatalf("%d tokens, %d types, %d merges; want 8256, 8256, 7936", len(tokens), types.Len(), len(merges))
	}
	if tokens[0] != "!" || tokens[8194] != "<|im_end|>" || tokens[8255] != "[PAD8255]" || merges[0] != "Ġ Ġ" {
		t.Errorf("tokens %q %q %q, first merge %q", tokens[0], tokens[8194], tokens[8255], merges[0])
	}
	tt := types.V.([]int32)
	// NORMAL, CONTROL (special), USER_DEFINED (<think>), CONTROL (looks
	// special: <|fim_prefix|>), UNUSED padding.
	if tt[100] != 1 || tt[8194] != 3 || tt[8216] != 4 || tt[8208] != 3 || tt[8255] != 5 {
		t.Errorf("token types %d %d %d %d %d", tt[100], tt[8194], tt[8216], tt[8208], tt[8255])
	}
	if tmpl, _ := mustLookup(t, f, "tokenizer.chat_template").AsString(); len(tmpl) < 1000 {
		t.Errorf("chat template of %d bytes", len(tmpl))
	}

	expected := src.Config.GGUFTensors()
	if len(f.Tensors) != len(expected) {
		t.Fatalf("%d tensors, want %d", len(f.Tensors), len(expected))
	}
	for _, e := range expected {
		ti, raw := readGGUFTensor(t, f, e.Name)
		if ti.Type != ggml.F32 {
			t.Fatalf("%s: type %s", e.Name, ti.Type)
		}
		got := make([]float32, len(raw)/4)
		if err := quant.Dequantize(ggml.F32, raw, got); err != nil {
			t.Fatal(err)
		}
		var want []float32
		if e.Role.Expert == model.AllExperts {
			for x := range src.Config.NumExperts {
				r := e.Role
				r.Expert = x
				want = append(want, hfFloats(t, src, r)...)
			}
		} else {
			want = hfFloats(t, src, e.Role)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: data differs from the checkpoint", e.Name)
		}
	}
}

// mxq's forward pass over its GGUF of tiny-qwen3-moe computes what it
// computes over the Hugging Face folder.
func TestQwen3MoEGGUFForwardMatchesHF(t *testing.T) {
	src := stOpen(t, tinyQwen3MoE)
	out := writeGGUF(t, src, GGUFOptions{FileType: ggml.FileTypeAllF32})
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gg, err := forward.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	hf, err := forward.FromSafetensors(src.Checkpoint(), src.Config)
	if err != nil {
		t.Fatal(err)
	}
	if gg.Dims() != hf.Dims() {
		t.Fatalf("GGUF dims %+v, HF %+v", gg.Dims(), hf.Dims())
	}
	// "Hello world, 12345 — café 😀 def f(x):\n    return x**2" as the
	// Qwen3 tokenizer encodes it.
	tokens := []int{39, 4791, 1879, 11, 220, 16, 17, 18, 19, 20, 1959, 2162, 69, 963, 220, 172, 253, 246,
		222, 707, 282, 2075, 982, 262, 470, 856, 334, 17, 8194, 8192}
	a, err := forward.Run(hf, tokens, forward.Options{Router: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := forward.Run(gg, tokens, forward.Options{Router: true})
	if err != nil {
		t.Fatal(err)
	}
	var worst float64
	for p := range a.Logits {
		for i := range a.Logits[p] {
			worst = max(worst, math.Abs(float64(a.Logits[p][i]-b.Logits[p][i])))
		}
	}
	t.Logf("max |Δ logit| GGUF vs HF over %d positions: %.3g", len(tokens), worst)
	if worst > 1e-4 {
		t.Errorf("max |Δ logit| %.3g > 1e-4", worst)
	}
	for l := range a.TopK {
		for p := range a.TopK[l] {
			if !slices.Equal(a.TopK[l][p], b.TopK[l][p]) {
				t.Fatalf("layer %d position %d: experts %v, HF %v", l, p, b.TopK[l][p], a.TopK[l][p])
			}
			var sum float32
			for _, w := range a.TopKWeights[l][p] {
				sum += w
			}
			if math.Abs(float64(sum-1)) > 1e-6 {
				t.Fatalf("layer %d position %d: routing weights sum to %v with norm_topk_prob", l, p, sum)
			}
		}
	}
}

func mustLookup(t *testing.T, f *gguf.File, key string) gguf.Value {
	t.Helper()
	v, ok := f.Lookup(key)
	if !ok {
		t.Fatalf("%s missing", key)
	}
	return v
}

// Converted to GGUF and back to a BF16 Hugging Face folder, tiny-qwen3-moe
// is itself again: the same config, bit-identical tensors under
// transformers' names, and a tokenizer that loads as the same vocabulary.
func TestQwen3MoEGGUFBackToHF(t *testing.T) {
	orig := stOpen(t, tinyQwen3MoE)
	gg := writeGGUF(t, orig, GGUFOptions{FileType: ggml.FileTypeAllF32})
	out, _ := stWrite(t, stOpen(t, gg), SafetensorsOptions{Bits: 16, DType: safetensors.BF16})
	back := stOpen(t, out)
	a, b := *orig.Config, *back.Config
	a.Defaulted, b.Defaulted = nil, nil
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("config %+v, want %+v", b, a)
	}
	for _, e := range orig.Config.HFTensors() {
		want, _ := orig.Checkpoint().Lookup(e.Name)
		got, ok := back.Checkpoint().Lookup(e.Name)
		if !ok || got.DType != want.DType {
			t.Fatalf("%s missing or of another dtype", e.Name)
		}
		wb, gb := make([]byte, want.ByteSize()), make([]byte, got.ByteSize())
		if err := want.ReadRaw(wb); err != nil {
			t.Fatal(err)
		}
		if err := got.ReadRaw(gb); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(wb, gb) {
			t.Fatalf("%s differs", e.Name)
		}
	}
	v1, err := tokenizer.Load(tinyQwen3MoE, 8256)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := tokenizer.Load(out, 8256)
	if err != nil {
		t.Fatal(err)
	}
	if m1, m2 := fmt.Sprint(v1.GGUFMetadata()), fmt.Sprint(v2.GGUFMetadata()); m1 != m2 {
		t.Error("the tokenizer written back loads as another vocabulary")
	}
}

// A config that contradicts tiny-qwen3-moe's tensors is refused with the
// tensor named, before anything is written.
func TestQwen3MoEConfigContradictsTensors(t *testing.T) {
	weights, err := os.ReadFile(filepath.Join(tinyQwen3MoE, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(tinyQwen3MoE, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, to, want string }{
		{`"num_experts": 16`, `"num_experts": 17`, "model.layers.0.mlp.gate.weight"},
		{`"moe_intermediate_size": 256`, `"moe_intermediate_size": 128`, "model.layers.0.mlp.experts.0.gate_proj.weight"},
		{`"head_dim": 64`, `"head_dim": 32`, "model.layers.0.self_attn.q_proj.weight"},
	} {
		dir := t.TempDir()
		edited := strings.Replace(string(cfg), c.from, c.to, 1)
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(edited), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), weights, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out.gguf")
		src, err := OpenSource(dir)
		if err == nil {
			var p *GGUFPlan
			if p, err = PlanGGUF(src, GGUFOptions{FileType: ggml.FileTypeAllF32}); err == nil {
				_, err = p.Write(context.Background(), out)
			}
			src.Close()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %s", c.to, err, c.want)
		}
		if _, statErr := os.Stat(out); statErr == nil {
			t.Errorf("%s: output written", c.to)
		}
	}
}
