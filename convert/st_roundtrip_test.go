package convert

import (
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/x448/float16"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/model"
	"github.com/mxq-dev/mxq/quant"
	"github.com/mxq-dev/mxq/tokenizer"
)

// TestGGUFRoundTripExact: HF (bf16) → GGUF F32, F16 or BF16 → HF bf16
// reproduces every tensor bit for bit, with experts unmerged and q/k rows
// unpermuted; config.json, generation_config.json and the tokenizer are
// rebuilt from the metadata.
func TestGGUFRoundTripExact(t *testing.T) {
	orig := stOpen(t, tinyDir)
	origVocab, err := tokenizer.Load(tinyDir, orig.Config.VocabSize)
	if err != nil {
		t.Fatal(err)
	}
	for _, ft := range []ggml.FileType{ggml.FileTypeAllF32, ggml.FileTypeMostlyF16, ggml.FileTypeBF16} {
		t.Run(ft.String(), func(t *testing.T) {
			src := stOpen(t, stTinyGGUF(t, ft))
			out, r := stWrite(t, src, SafetensorsOptions{Bits: 16})
			tensors := stReadCheckpoint(t, out)
			if ft == ggml.FileTypeMostlyF16 {
				// The F16 GGUF itself cannot hold bf16 values below fp16's
				// normal range; every other value must come back exactly.
				sameThroughF16(t, orig, tensors)
			} else {
				stSameTensors(t, orig, tensors)
			}
			if r.Target != "bf16" {
				t.Errorf("target %s, want bf16 (the default for a GGUF)", r.Target)
			}

			cfg, err := model.LoadConfig(filepath.Join(out, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			want := *orig.Config
			got := *cfg
			want.Defaulted, got.Defaulted = nil, nil
			if got.TorchDType != "bfloat16" {
				t.Errorf("torch_dtype %q", got.TorchDType)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("config.json rebuilt as\n%+v\nwant\n%+v", got, want)
			}
			gen := stReadJSON(t, filepath.Join(out, "generation_config.json"))
			if gen["bos_token_id"] != 1.0 || gen["eos_token_id"] != 2.0 {
				t.Errorf("generation_config.json %v", gen)
			}
			v, err := tokenizer.Load(out, cfg.VocabSize)
			if err != nil {
				t.Fatal(err)
			}
			sameVocab(t, v, origVocab)
		})
	}
}

// TestGGUFRoundTripQuantized: from a quantized GGUF, the F32 output
// holds exactly the dequantized GGUF values, taken apart by a reading of
// the layout written here from the format description (slab e of a merged
// expert tensor; GGUF row h·hd+2i+j holding HF row h·hd+j·hd/2+i of q/k),
// and the BF16 output holds those values rounded to bf16.
func TestGGUFRoundTripQuantized(t *testing.T) {
	for _, ft := range []ggml.FileType{ggml.FileTypeQ8_0, ggml.FileTypeQ4_K_M, ggml.FileTypeIQ4_XS, ggml.FileTypeMXFP4_MOE} {
		t.Run(ft.String(), func(t *testing.T) {
			path := stTinyGGUF(t, ft)
			f, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			src := stOpen(t, path)
			cfg := src.Config
			out32, r := stWrite(t, src, SafetensorsOptions{Bits: 16, DType: safetensors.F32})
			got32 := stReadCheckpoint(t, out32)
			out16, _ := stWrite(t, src, SafetensorsOptions{Bits: 16, DType: safetensors.BF16})
			got16 := stReadCheckpoint(t, out16)

			quantized := 0
			for _, e := range cfg.HFTensors() {
				want := dequantizedHF(t, f, cfg, e)
				g := stFloats(t, e.Name, got32[e.Name])
				if !slices.Equal(got32[e.Name].Shape, e.Shape) || len(g) != len(want) {
					t.Fatalf("%s: shape %v, want %v", e.Name, got32[e.Name].Shape, e.Shape)
				}
				for i := range want {
					if math.Float32bits(g[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s[%d] = %g, want the dequantized %g", e.Name, i, g[i], want[i])
					}
				}
				h := stFloats(t, e.Name, got16[e.Name])
				for i := range want {
					if h[i] != quant.BF16ToF32(quant.F32ToBF16(want[i])) {
						t.Fatalf("%s[%d] = %g in bf16, want bf16 of %g", e.Name, i, h[i], want[i])
					}
				}
				name := model.GGUFName(ggufRole(e.Role))
				if ti, _ := f.Tensor(name); ti.Type.IsQuantized() {
					quantized++
				}
			}
			if quantized == 0 {
				t.Error("no quantized tensor was checked")
			}
			// Reading a GGUF's values is lossless, and the report says so.
			for _, rt := range r.Tensors {
				if rt.Metrics.RMSE != 0 {
					t.Errorf("%s: F32 output reports error %g", rt.Name, rt.Metrics.RMSE)
				}
			}
		})
	}
}

func ggufRole(r model.TensorRole) model.TensorRole {
	if r.Role.PerExpert() {
		r.Expert = model.AllExperts
	}
	return r
}

// dequantizedHF is HF tensor e's values from the GGUF f.
func dequantizedHF(t *testing.T, f *gguf.File, cfg *model.Config, e model.ExpectedTensor) []float32 {
	t.Helper()
	name := model.GGUFName(ggufRole(e.Role))
	ti, ok := f.Tensor(name)
	if !ok {
		t.Fatalf("GGUF has no %s", name)
	}
	raw := make([]byte, ti.Size())
	if _, err := f.Section(ti).ReadAt(raw, 0); err != nil {
		t.Fatal(err)
	}
	all := make([]float32, ti.NumElements())
	if err := quant.Dequantize(ti.Type, raw, all); err != nil {
		t.Fatal(err)
	}
	n := int(e.NumElements())
	vals := all
	if e.Role.Role.PerExpert() {
		vals = all[e.Role.Expert*n : (e.Role.Expert+1)*n]
	}
	if e.Role.Role != model.RoleAttnQ && e.Role.Role != model.RoleAttnK {
		return vals
	}
	cols, hd := int(e.Shape[1]), cfg.HeadDim
	out := make([]float32, n)
	for h := 0; h < int(e.Shape[0])/hd; h++ {
		for i := 0; i < hd/2; i++ {
			for j := 0; j < 2; j++ {
				g, hf := h*hd+2*i+j, h*hd+j*hd/2+i
				copy(out[hf*cols:(hf+1)*cols], vals[g*cols:(g+1)*cols])
			}
		}
	}
	return out
}

// sameThroughF16 checks a bf16 checkpoint that went through fp16: each
// value is the source's rounded to fp16 and back, which is the source
// itself wherever fp16 holds it.
func sameThroughF16(t *testing.T, src *Source, got map[string]stTensorData) {
	t.Helper()
	lost, total := 0, 0
	for _, st := range src.Checkpoint().Tensors() {
		want := make([]float32, st.NumElements())
		if err := st.ReadFloat32(want); err != nil {
			t.Fatal(err)
		}
		g := got[st.Name]
		if g.DType != st.DType || !slices.Equal(g.Shape, st.Shape) {
			t.Fatalf("tensor %s is %s %v, want %s %v", st.Name, g.DType, g.Shape, st.DType, st.Shape)
		}
		for i, v := range stFloats(t, st.Name, g) {
			through := float16.Fromfloat32(want[i]).Float32()
			if through != want[i] {
				lost++
			}
			if math.Float32bits(v) != math.Float32bits(quant.BF16ToF32(quant.F32ToBF16(through))) {
				t.Fatalf("%s[%d] = %g, want %g through fp16", st.Name, i, v, want[i])
			}
			total++
		}
	}
	// tiny-mixtral has a few hundred weights below 2^-14.
	if lost > total/1000 {
		t.Errorf("%d of %d values changed through fp16", lost, total)
	}
}

// sameVocab compares a tokenizer rebuilt from GGUF metadata with the
// source's. The rebuilt tokenizer_config.json lists the special tokens in
// added_tokens_decoder, as transformers writes it, and llama.cpp's reading
// of that marks them CONTROL; every other token must be unchanged, and
// both must tokenize text alike.
func sameVocab(t *testing.T, got, want *tokenizer.Vocab) {
	t.Helper()
	if !slices.Equal(got.Tokens, want.Tokens) || got.BOS != want.BOS || got.EOS != want.EOS || got.UNK != want.UNK {
		t.Fatalf("rebuilt tokenizer: %d tokens, bos %d eos %d unk %d; want %d, %d %d %d",
			len(got.Tokens), got.BOS, got.EOS, got.UNK, len(want.Tokens), want.BOS, want.EOS, want.UNK)
	}
	for id := range want.Tokens {
		if id == want.BOS || id == want.EOS || id == want.UNK {
			continue
		}
		if got.Scores[id] != want.Scores[id] || got.Types[id] != want.Types[id] {
			t.Errorf("token %d %q: score %g type %d, want %g %d", id, want.Tokens[id], got.Scores[id], got.Types[id], want.Scores[id], want.Types[id])
		}
	}
	const text = "Hello world! Mixtral routes each token to 2 of 8 experts: über-fast, 東京."
	if a, b := got.Encode(text, true), want.Encode(text, true); !slices.Equal(a, b) {
		t.Errorf("rebuilt tokenizer encodes %v, source %v", a, b)
	}
}
