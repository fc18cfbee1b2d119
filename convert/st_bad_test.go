package convert

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/internal/output"
	"github.com/mxq-dev/mxq/internal/testutil"
	"github.com/mxq-dev/mxq/model"
	"github.com/mxq-dev/mxq/quant"
)

// stMicro writes a one-layer, two-expert Mixtral whose hidden size (96) and
// expert width (160) are multiples of 32 but not of 64 or 128.
func stMicro(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "micro")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := `{"architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 96,
  "intermediate_size": 160, "num_hidden_layers": 1, "num_attention_heads": 3, "num_key_value_heads": 1,
  "num_local_experts": 2, "num_experts_per_tok": 1, "vocab_size": 64, "max_position_embeddings": 128,
  "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16"}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := model.ParseConfig(src)
	if err != nil {
		t.Fatal(err)
	}
	var infos []safetensors.TensorInfo
	for _, e := range c.HFTensors() {
		infos = append(infos, safetensors.TensorInfo{Name: e.Name, DType: safetensors.BF16, Shape: e.Shape})
	}
	l, err := safetensors.NewLayout(map[string]string{"format": "pt"}, infos)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	err = safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), l, func(name string, w io.Writer) error {
		ti, _ := l.Lookup(name)
		buf := make([]byte, ti.End-ti.Begin)
		for i := 0; i < len(buf); i += 2 {
			binary.LittleEndian.PutUint16(buf[i:], quant.F32ToBF16(float32(rng.NormFloat64()*0.02)))
		}
		_, err := w.Write(buf)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSafetensorsBadOptions: every unsupported combination is refused at
// planning, before anything is written, with an error naming the problem.
func TestSafetensorsBadOptions(t *testing.T) {
	tiny := stOpen(t, tinyDir)
	micro := stOpen(t, stMicro(t))
	for _, tc := range []struct {
		name string
		src  *Source
		opts SafetensorsOptions
		want string
	}{
		{"16 bits with a layout", tiny, SafetensorsOptions{Bits: 16, Layout: LayoutGPTQ}, "8- and 4-bit"},
		{"16 bits with a group", tiny, SafetensorsOptions{Bits: 16, GroupSize: 64}, "group size"},
		{"16 bits quantizing the head", tiny, SafetensorsOptions{Bits: 16, QuantizeHead: true}, "8 or 4 bits"},
		{"3 bits", tiny, SafetensorsOptions{Bits: 3}, "bits must be 16, 8 or 4"},
		{"no bits", tiny, SafetensorsOptions{}, "bits must be 16, 8 or 4"},
		{"unknown layout", tiny, SafetensorsOptions{Bits: 4, Layout: "awq"}, `layout "awq"`},
		{"odd group", tiny, SafetensorsOptions{Bits: 4, GroupSize: 96}, "group size must be 32, 64, 128"},
		{"mlx per channel", tiny, SafetensorsOptions{Bits: 4, Layout: LayoutMLX, GroupSize: -1}, "per-channel"},
		{"ct embeddings", tiny, SafetensorsOptions{Bits: 4, QuantizeEmbeddings: true}, "embeddings can be quantized in the mlx layout"},
		{"gptq embeddings", tiny, SafetensorsOptions{Bits: 8, Layout: LayoutGPTQ, QuantizeEmbeddings: true}, "Linear layers only"},
		{"fp32 scales", tiny, SafetensorsOptions{Bits: 4, DType: safetensors.F32}, "16-bit output only"},
		{"fp64", tiny, SafetensorsOptions{Bits: 16, DType: safetensors.F64}, "dtype F64"},
		{"group 128 over 96 inputs", micro, SafetensorsOptions{Bits: 4}, "does not divide 96"},
		{"group 64 over 96 inputs", micro, SafetensorsOptions{Bits: 4, Layout: LayoutMLX}, "does not divide 96"},
		{"group 64 over 160 inputs", micro, SafetensorsOptions{Bits: 8, Layout: LayoutGPTQ, GroupSize: 64}, "does not divide"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PlanSafetensors(tc.src, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
			// Only the shape problems are about the source, not the options.
			if errors.Is(err, ErrBadOptions) != (tc.src == tiny) {
				t.Errorf("errors.Is(%v, ErrBadOptions) = %v", err, !(tc.src == tiny))
			}
		})
	}
	// The micro model is fine where the group divides every row.
	out, _ := stWrite(t, micro, SafetensorsOptions{Bits: 4, Layout: LayoutGPTQ, GroupSize: 32})
	if _, err := os.Stat(filepath.Join(out, "model.safetensors")); err != nil {
		t.Error(err)
	}
}

// TestSafetensorsAtomic: a run that fails part-way (a NaN in the last
// weight, an fp16 overflow, cancellation) leaves neither the output nor a
// temporary folder behind; an existing output is refused without Replace
// and swapped whole with it.
func TestSafetensorsAtomic(t *testing.T) {
	nan := testutil.CopyTiny(t)
	poisonTensor(t, nan, "lm_head.weight", 1000, 0x7fc0)
	big := testutil.CopyTiny(t)
	poisonTensor(t, big, "model.norm.weight", 3, 0x47c3) // 99840, beyond fp16
	cancelled := errors.New("cancelled by the test")

	for _, tc := range []struct {
		name   string
		src    string
		opts   SafetensorsOptions
		cancel bool
		want   string
	}{
		{"NaN bf16", nan, SafetensorsOptions{Bits: 16, ShardSize: 4e6}, false, "lm_head.weight: element [3, 232] is NaN"},
		{"NaN int4", nan, SafetensorsOptions{Bits: 4}, false, "lm_head.weight: element [3, 232] is NaN"},
		{"NaN mlx", nan, SafetensorsOptions{Bits: 4, Layout: LayoutMLX}, false, "is NaN"},
		{"fp16 overflow", big, SafetensorsOptions{Bits: 16, DType: safetensors.F16}, false, "overflows F16 (max 65504); use --dtype bf16"},
		{"fp16 overflow int8", big, SafetensorsOptions{Bits: 8, DType: safetensors.F16}, false, "use --dtype bf16"},
		{"cancelled", tinyDir, SafetensorsOptions{Bits: 4, Layout: LayoutGPTQ}, true, cancelled.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := stOpen(t, tc.src)
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			opts := tc.opts
			if tc.cancel {
				opts.Progress = func(done, total int64) { cancel(cancelled) }
			}
			p, err := PlanSafetensors(src, opts)
			if err != nil {
				t.Fatal(err)
			}
			parent := t.TempDir()
			out := filepath.Join(parent, "out")
			_, err = p.Write(ctx, out)
			if tc.cancel && err != nil {
				err = fmt.Errorf("%w: %w", err, context.Cause(ctx))
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			stNoLeftovers(t, parent)
		})
	}

	t.Run("existing output", func(t *testing.T) {
		src := stOpen(t, tinyDir)
		parent := t.TempDir()
		out := filepath.Join(parent, "out")
		if err := os.Mkdir(out, 0o755); err != nil {
			t.Fatal(err)
		}
		marker := filepath.Join(out, "keep-me")
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := PlanSafetensors(src, SafetensorsOptions{Bits: 16})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Write(context.Background(), out); !errors.Is(err, ErrOutputExists) || !strings.Contains(err.Error(), "--force") {
			t.Errorf("error %v, want ErrOutputExists suggesting --force", err)
		}
		if _, err := os.Stat(marker); err != nil {
			t.Error("the existing output was touched")
		}
		stNoLeftovers(t, parent, "out")

		p, err = PlanSafetensors(src, SafetensorsOptions{Bits: 16, Replace: true})
		if err != nil {
			t.Fatal(err)
		}
		// Replace takes only an earlier checkpoint: a folder holding
		// anything else is refused and kept as it is.
		var refusal *output.Refusal
		if _, err := p.Write(context.Background(), out); !errors.As(err, &refusal) || !strings.Contains(err.Error(), "keep-me") {
			t.Fatalf("error %v, want a refusal naming keep-me", err)
		}
		if _, err := os.Stat(marker); err != nil {
			t.Error("a folder that is not a checkpoint was touched")
		}
		stNoLeftovers(t, parent, "out")
		if err := os.Remove(marker); err != nil {
			t.Fatal(err)
		}
		old := filepath.Join(out, "model.safetensors")
		if err := os.WriteFile(old, []byte("earlier output"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Write(context.Background(), out); err != nil {
			t.Fatal(err)
		}
		if data, err := os.ReadFile(old); err != nil || string(data) == "earlier output" {
			t.Error("the earlier output survived the replacement")
		}
		if _, err := os.Stat(filepath.Join(out, "model.safetensors")); err != nil {
			t.Error(err)
		}
		stNoLeftovers(t, parent, "out")
	})

	t.Run("quantized GGUF", func(t *testing.T) {
		src := stOpen(t, stTinyGGUF(t, ggml.FileTypeQ8_0))
		if _, err := PlanSafetensors(src, SafetensorsOptions{Bits: 4}); err == nil || !strings.Contains(err.Error(), "--allow-requantize") {
			t.Errorf("error %v, want one suggesting --allow-requantize", err)
		}
		if _, err := PlanSafetensors(src, SafetensorsOptions{Bits: 4, AllowRequantize: true}); err != nil {
			t.Error(err)
		}
	})
}
