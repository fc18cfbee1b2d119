package inspect

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSizesOverflow(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(*sizes) int64
		want int64
		over bool
	}{
		{"product", func(s *sizes) int64 { return s.mul(2, 3, 7) }, 42, false},
		{"largest product", func(s *sizes) int64 { return s.mul(math.MaxInt64, 1) }, math.MaxInt64, false},
		{"product past int64", func(s *sizes) int64 { return s.mul(1<<32, 1<<31) }, 0, true},
		{"product past uint64", func(s *sizes) int64 { return s.mul(1<<40, 1<<40) }, 0, true},
		{"product wrapping to a small value", func(s *sizes) int64 { return s.mul(1<<62, 4, 1) }, 0, true},
		{"negative factor", func(s *sizes) int64 { return s.mul(-1, 5) }, 0, true},
		{"sum", func(s *sizes) int64 { return s.add(1, 2, 3) }, 6, false},
		{"sum past int64", func(s *sizes) int64 { return s.add(math.MaxInt64, 1) }, 0, true},
		{"negative term", func(s *sizes) int64 { return s.add(5, -1) }, 0, true},
		{"overflow sticks", func(s *sizes) int64 { s.mul(1<<40, 1<<40); return s.add(1, 1) }, 0, true},
	} {
		var s sizes
		if got := tc.f(&s); got != tc.want || s.overflowed != tc.over {
			t.Errorf("%s: %d (overflowed %v), want %d (%v)", tc.name, got, s.overflowed, tc.want, tc.over)
		}
	}
}

// Settings outside llama.cpp's ranges are refused, not turned into
// wrapped (negative or tiny) sizes.
func TestOptionsOutOfRange(t *testing.T) {
	for _, o := range []Options{
		{Context: -5}, {Context: MaxContext + 1}, {Context: math.MaxInt64},
		{Batch: -1}, {Batch: MaxSequences + 1}, {Batch: 1 << 40},
		{UBatch: -1}, {UBatch: MaxUBatch + 1},
		{KVType: "q4_K"}, {GPUSizesGB: []float64{math.Inf(1)}}, {GPUSizesGB: []float64{2e6}},
	} {
		if _, err := Inspect(fullConfig, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	// The largest cache still gives exact, positive figures for Mixtral.
	r := mustInspect(t, fullConfig, Options{Context: MaxContext, Batch: MaxSequences})
	if want := int64(MaxContext) * MaxSequences * 131_072; r.Memory.KV.Bytes != want {
		t.Errorf("KV cache %d bytes, want %d", r.Memory.KV.Bytes, want)
	}
	for _, f := range r.Memory.Fit {
		for _, g := range f.GPUs {
			if g.Fits || g.Needed != 0 {
				t.Errorf("%s fits %v GB GPUs with a %d-byte KV cache", f.Weights, g.SizeGB, r.Memory.KV.Bytes)
			}
		}
	}
	// A micro-batch that large over that cache needs a score matrix of
	// more than 2^63 bytes: an error that says so.
	if _, err := Inspect(fullConfig, Options{Context: MaxContext, Batch: MaxSequences, UBatch: MaxUBatch}); err == nil || !strings.Contains(err.Error(), "compute buffer") {
		t.Errorf("error %v, want the compute buffer's overflow", err)
	}
}

// A config whose KV cache per token is huge makes the largest settings
// overflow int64: that is an error, never a wrapped size.
func TestKVCacheOverflowIsAnError(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(`{"architectures": ["MixtralForCausalLM"], "model_type": "mixtral",
		"hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1024, "num_attention_heads": 1024,
		"num_key_value_heads": 1024, "head_dim": 1024, "vocab_size": 8, "num_local_experts": 2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Inspect(cfg, Options{}); err != nil {
		t.Fatalf("default settings: %v", err)
	}
	_, err := Inspect(cfg, Options{Context: MaxContext, Batch: MaxSequences})
	if err == nil || !strings.Contains(err.Error(), "64 bits") {
		t.Fatalf("error %v, want an overflow error", err)
	}
}
