package forward

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/internal/testutil"
	"github.com/mxq-dev/mxq/model"
	"github.com/mxq-dev/mxq/quant/intq"
)

// qSpec describes a quantized checkpoint to build from tiny-mixtral.
type qSpec struct {
	name   string
	layout intq.Layout
	scheme intq.Scheme
	// quantize chooses the modules to quantize (by HF tensor name).
	quantize func(name string) bool
	// stacked writes MLX's switch_mlp tensors instead of per-expert ones.
	stacked bool
	// floatStacked leaves the stacked up_proj unquantized (float).
	floatStacked bool
}

// linearsOnly is the GPTQ/llm-compressor convention: attention and expert
// matrices, not the router, embeddings or head.
func linearsOnly(name string) bool {
	return strings.Contains(name, "_proj.") || strings.Contains(name, ".experts.")
}

func everything2D(string) bool { return true }

// buildQuantized writes tiny-mixtral with the spec's quantization to a temp
// folder, with the quantization config intq provides, and returns the
// folder and a memSource holding exactly the dequantized weights.
func buildQuantized(t *testing.T, spec qSpec) (string, *memSource) {
	t.Helper()
	st, cfg := openTiny(t)
	d := st.Dims()
	ckpt, err := safetensors.OpenCheckpoint(tinyDir)
	if err != nil {
		t.Fatal(err)
	}
	defer ckpt.Close()

	data := map[string][]byte{}
	var infos []safetensors.TensorInfo
	add := func(name, dtype string, shape []int64, b []byte) {
		infos = append(infos, safetensors.TensorInfo{Name: name, DType: safetensors.DType(dtype), Shape: shape})
		data[name] = b
	}
	values := map[string][]float32{} // what the model decodes, by HF name
	type slab struct {
		stored []intq.Stored
	}
	stacks := map[string][]slab{} // switch_mlp module -> per-expert tensors
	for _, e := range cfg.HFTensors() {
		tt, _ := ckpt.Lookup(e.Name)
		w := make([]float32, tt.NumElements())
		if err := tt.ReadFloat32(w); err != nil {
			t.Fatal(err)
		}
		module := strings.TrimSuffix(e.Name, ".weight")
		stackedName := ""
		if spec.stacked && e.Role.Expert >= 0 {
			stackedName = model.MLXExpertModule(e.Role.Layer, e.Role.Role)
		}
		if len(e.Shape) != 2 || !spec.quantize(e.Name) || (spec.floatStacked && e.Role.Role == model.RoleExpertUp) {
			values[e.Name] = w
			if stackedName != "" {
				b := make([]byte, 4*len(w))
				for i, v := range w {
					binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
				}
				stacks[stackedName] = append(stacks[stackedName], slab{[]intq.Stored{{Suffix: "weight", DType: "F32", Shape: e.Shape, Data: b}}})
				continue
			}
			b := make([]byte, 4*len(w))
			for i, v := range w {
				binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
			}
			add(e.Name, "F32", e.Shape, b)
			continue
		}
		stored, deq, err := spec.layout.Quantize(w, int(e.Shape[0]), int(e.Shape[1]), spec.scheme)
		if err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		values[e.Name] = deq
		if stackedName != "" {
			stacks[stackedName] = append(stacks[stackedName], slab{stored})
			continue
		}
		for _, s := range stored {
			add(module+"."+s.Suffix, s.DType, s.Shape, s.Data)
		}
	}
	for module, slabs := range stacks {
		if len(slabs) != d.Experts {
			t.Fatalf("%s: %d experts", module, len(slabs))
		}
		for i, first := range slabs[0].stored {
			var b []byte
			for _, s := range slabs {
				b = append(b, s.stored[i].Data...)
			}
			add(module+"."+first.Suffix, first.DType, append([]int64{int64(d.Experts)}, first.Shape...), b)
		}
	}

	dir := t.TempDir()
	layout, err := safetensors.NewLayout(map[string]string{"format": "pt"}, infos)
	if err != nil {
		t.Fatal(err)
	}
	err = safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), layout, func(name string, w io.Writer) error {
		_, err := w.Write(data[name])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(tinyDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var conf map[string]any
	if err := json.Unmarshal(raw, &conf); err != nil {
		t.Fatal(err)
	}
	var qc map[string]any
	switch spec.layout {
	case intq.CompressedTensors:
		qc, err = intq.CompressedTensorsConfig(spec.scheme, []string{"lm_head", "re:.*block_sparse_moe.gate"})
	case intq.GPTQ:
		qc, err = intq.GPTQConfig(spec.scheme)
	case intq.MLX:
		qc, err = intq.MLXConfig(spec.scheme, nil)
		conf["quantization"] = qc
	}
	if err != nil {
		t.Fatal(err)
	}
	conf["quantization_config"] = qc
	raw, _ = json.Marshal(conf)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}

	get := func(r model.TensorRole) ([]float32, error) {
		v, ok := values[model.HFName(r)]
		if !ok {
			return nil, fmt.Errorf("no %s", model.HFName(r))
		}
		return v, nil
	}
	m := &memSource{dims: d}
	m.emb, _ = get(globalRole(model.RoleEmbedding))
	m.norm, _ = get(globalRole(model.RoleOutputNorm))
	m.outW, _ = get(globalRole(model.RoleOutput))
	layers := &roleSource{dims: d, get: get}
	for l := range d.Layers {
		lw, err := layers.Layer(l)
		if err != nil {
			t.Fatal(err)
		}
		m.layers = append(m.layers, lw)
	}
	return dir, m
}

// openQuantized opens a folder the way mxq does: config.json, its
// quantization section, the checkpoint.
func openQuantized(t *testing.T, dir string) ExpertSource {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := model.ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	q, err := intq.ParseQuantization(raw, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	ckpt, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ckpt.Close() })
	src, err := FromQuantizedSafetensors(ckpt, cfg, q)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

var quantizedSpecs = []qSpec{
	{name: "compressed-tensors int4 g128", layout: intq.CompressedTensors, scheme: intq.Scheme{Bits: 4, GroupSize: 128, Symmetric: true, ScaleDType: "BF16"}, quantize: linearsOnly},
	{name: "compressed-tensors int8 channel asym", layout: intq.CompressedTensors, scheme: intq.Scheme{Bits: 8, GroupSize: -1, ScaleDType: "F32"}, quantize: linearsOnly},
	{name: "gptq int4 g128", layout: intq.GPTQ, scheme: intq.Scheme{Bits: 4, GroupSize: 128, Symmetric: true}, quantize: linearsOnly},
	{name: "gptq int8 channel", layout: intq.GPTQ, scheme: intq.Scheme{Bits: 8, GroupSize: -1, Symmetric: true}, quantize: linearsOnly},
	{name: "mlx int4 g64 stacked", layout: intq.MLX, scheme: intq.Scheme{Bits: 4, GroupSize: 64, ScaleDType: "BF16"}, quantize: everything2D, stacked: true},
	{name: "mlx int8 g32 per expert", layout: intq.MLX, scheme: intq.Scheme{Bits: 8, GroupSize: 32, ScaleDType: "F16"}, quantize: everything2D},
	{name: "mlx int4 stacked, up_proj float", layout: intq.MLX, scheme: intq.Scheme{Bits: 4, GroupSize: 128, ScaleDType: "F32"}, quantize: linearsOnly, stacked: true, floatStacked: true},
}

// TestQuantizedSafetensors expects FromQuantizedSafetensors to yield
// exactly the dequantized weights: its logits equal, bit for bit, those of
// a run over the decoded values in memory.
func TestQuantizedSafetensors(t *testing.T) {
	ref := testutil.TinyReference(t)
	tokens := ref.InputIDs[:12]
	for _, spec := range quantizedSpecs {
		t.Run(spec.name, func(t *testing.T) {
			dir, want := buildQuantized(t, spec)
			src := openQuantized(t, dir)
			got, err := RunStreamed(context.Background(), src, tokens, StreamOptions{Options: Options{Router: true}})
			if err != nil {
				t.Fatal(err)
			}
			exp, err := Run(want, tokens, Options{Router: true})
			if err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(got.Logits, exp.Logits); d != 0 {
				t.Errorf("logits differ from the decoded weights' by %g", d)
			}
			t.Logf("max abs diff from transformers' float32 logits: %.3g", maxDiff64(got.Logits, ref.Logits[:len(tokens)]))
		})
	}
}

// TestQuantizedLayerMatchesPieces checks Layer against the streamed pieces
// for the stacked MLX layout, whose expert slabs are cut from one tensor.
func TestQuantizedLayerMatchesPieces(t *testing.T) {
	dir, want := buildQuantized(t, quantizedSpecs[4])
	src := openQuantized(t, dir)
	lw, err := src.Layer(1)
	if err != nil {
		t.Fatal(err)
	}
	for e := range lw.Experts {
		w := want.layers[1].Experts[e]
		if !slices.Equal(lw.Experts[e].Gate, w.Gate) || !slices.Equal(lw.Experts[e].Down, w.Down) || !slices.Equal(lw.Experts[e].Up, w.Up) {
			t.Errorf("expert %d differs from the decoded weights", e)
		}
	}
	if !slices.Equal(lw.Router, want.layers[1].Router) {
		t.Error("quantized router differs from the decoded weights")
	}
}

func TestQuantizedErrors(t *testing.T) {
	dir, _ := buildQuantized(t, quantizedSpecs[0])
	for _, tc := range []struct {
		name string
		edit func(dir string)
		want string
	}{
		{"missing packed tensor", func(dir string) {
			renameTensor(t, dir, "model.layers.1.block_sparse_moe.experts.3.w2.weight_packed", "model.layers.1.block_sparse_moe.experts.3.w2.weight_packeX")
		}, "model.layers.1.block_sparse_moe.experts.3.w2.weight_packed"},
		{"wrong weight_shape", func(dir string) {
			renameTensor(t, dir, "model.layers.0.self_attn.q_proj.weight_shape", "model.layers.0.self_attn.q_proj.weight_shapX")
			renameTensor(t, dir, "model.layers.0.self_attn.k_proj.weight_shape", "model.layers.0.self_attn.q_proj.weight_shape")
		}, "weight_shape"},
		{"group size", func(dir string) {
			editConfigJSON(t, dir, `"group_size":128`, `"group_size":64`)
		}, "weight_scale"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			for _, f := range []string{"config.json", "model.safetensors"} {
				b, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(filepath.Join(d, f), b, 0o644)
			}
			tc.edit(d)
			_, err := Run(openQuantized(t, d), []int{1, 2}, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// renameTensor renames a tensor in place: the header holds the name once.
func renameTensor(t *testing.T, dir, from, to string) {
	t.Helper()
	if len(from) != len(to) {
		t.Fatal("names must have equal length")
	}
	editFile(t, filepath.Join(dir, "model.safetensors"), `"`+from+`"`, `"`+to+`"`)
}

func editConfigJSON(t *testing.T, dir, from, to string) {
	t.Helper()
	editFile(t, filepath.Join(dir, "config.json"), from, to)
}

func editFile(t *testing.T, path, from, to string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), from) {
		t.Fatalf("%s has no %q", path, from)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), from, to, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}
