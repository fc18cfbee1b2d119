package convert

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/model"
	"github.com/mxq-dev/mxq/quant"
	"github.com/mxq-dev/mxq/report"
)

// decoded is one weight decoded from the written tensors by the test's own
// reading of the layout, with the largest error each element may have.
type decoded struct {
	vals  []float32
	bound []float64
}

// layoutCase is a layout as the tests read it back, written from the
// format description in the shared formats reference (section 6), not from
// quant/intq.
type layoutCase struct {
	name string
	opts SafetensorsOptions
	// decode reads the out×in weight (expert e of a stack, or e = -1) of
	// module from the checkpoint, marking the tensors it used.
	decode func(t *testing.T, got map[string]stTensorData, used map[string]bool, module string, e, out, in int) decoded
}

// take returns tensor name with the given dtype and shape, sliced to
// expert e when the tensor is stacked (e >= 0).
func take(t *testing.T, got map[string]stTensorData, used map[string]bool, name string, dtype safetensors.DType, e int, shape ...int64) stTensorData {
	t.Helper()
	g, ok := got[name]
	if !ok {
		t.Fatalf("tensor %s missing", name)
	}
	used[name] = true
	want := shape
	if e >= 0 {
		want = append([]int64{g.Shape[0]}, shape...)
	}
	if g.DType != dtype || !slices.Equal(g.Shape, want) {
		t.Fatalf("tensor %s is %s %v, want %s %v", name, g.DType, g.Shape, dtype, want)
	}
	if e >= 0 {
		n := len(g.Data) / int(g.Shape[0])
		g.Data = g.Data[e*n : (e+1)*n]
		g.Shape = shape
	}
	return g
}

// uintAt is the bits-wide unsigned field k (LSB first) of 32-bit word w.
func uintAt(w uint32, bits, k int) int { return int(w >> (bits * k) & (1<<bits - 1)) }

// decodeCT reads compressed-tensors pack-quantized (symmetric): weight_packed
// I32 [out, in/(32/bits)] holding q+2^(bits-1) LSB first along the input,
// weight_scale [out, groups], weight_shape I64 [out, in]; w = q·scale.
func decodeCT(bits, group int, dtype safetensors.DType) func(*testing.T, map[string]stTensorData, map[string]bool, string, int, int, int) decoded {
	return func(t *testing.T, got map[string]stTensorData, used map[string]bool, module string, e, out, in int) decoded {
		pf, gs := 32/bits, group
		if gs == -1 {
			gs = in
		}
		packed := stWords(take(t, got, used, module+".weight_packed", safetensors.I32, e, int64(out), int64(in/pf)).Data)
		scales := stFloats(t, module, take(t, got, used, module+".weight_scale", dtype, e, int64(out), int64(in/gs)))
		shape := take(t, got, used, module+".weight_shape", safetensors.I64, e, 2).Data
		if binary.LittleEndian.Uint64(shape) != uint64(out) || binary.LittleEndian.Uint64(shape[8:]) != uint64(in) {
			t.Fatalf("%s.weight_shape = %v", module, shape)
		}
		d := decoded{vals: make([]float32, out*in), bound: make([]float64, out*in)}
		for r := 0; r < out; r++ {
			for c := 0; c < in; c++ {
				q := uintAt(packed[r*(in/pf)+c/pf], bits, c%pf) - 1<<(bits-1)
				s := scales[r*(in/gs)+c/gs]
				d.vals[r*in+c] = float32(q) * s
				d.bound[r*in+c] = scaleBound(bits, dtype) * float64(s)
			}
		}
		return d
	}
}

// scaleBound is the error of a symmetric grid in units of its scale:
// half a step, plus the clipping a scale rounded down to dtype can cause at
// the ends of the range.
func scaleBound(bits int, dtype safetensors.DType) float64 {
	rel := 1.0 / 256 // unit roundoff: bf16 keeps 8 significant bits
	if dtype == safetensors.F16 {
		rel = 1.0 / 2048 // fp16 keeps 11
	}
	return 0.5 + float64(int(1)<<(bits-1))*rel + 1e-6
}

// decodeGPTQ reads AutoGPTQ v1: qweight I32 [in/(32/bits), out] packed along
// the input, qzeros I32 [groups, out/(32/bits)] packed along the output and
// holding zero−1, scales F16 [groups, out], g_idx I32 [in];
// w = scale·(q − (qzero+1)).
func decodeGPTQ(bits, group int, dtype safetensors.DType) func(*testing.T, map[string]stTensorData, map[string]bool, string, int, int, int) decoded {
	return func(t *testing.T, got map[string]stTensorData, used map[string]bool, module string, e, out, in int) decoded {
		pf, gs := 32/bits, group
		if gs == -1 {
			gs = in
		}
		groups := in / gs
		qweight := stWords(take(t, got, used, module+".qweight", safetensors.I32, e, int64(in/pf), int64(out)).Data)
		qzeros := stWords(take(t, got, used, module+".qzeros", safetensors.I32, e, int64(groups), int64(out/pf)).Data)
		scales := stFloats(t, module, take(t, got, used, module+".scales", safetensors.F16, e, int64(groups), int64(out)))
		gidx := stWords(take(t, got, used, module+".g_idx", safetensors.I32, e, int64(in)).Data)
		d := decoded{vals: make([]float32, out*in), bound: make([]float64, out*in)}
		for i := 0; i < in; i++ {
			g := int(gidx[i])
			if g != i/gs {
				t.Fatalf("%s.g_idx[%d] = %d, want %d", module, i, g, i/gs)
			}
			for o := 0; o < out; o++ {
				q := uintAt(qweight[(i/pf)*out+o], bits, i%pf)
				z := uintAt(qzeros[g*(out/pf)+o/pf], bits, o%pf) + 1
				if z != 1<<(bits-1) {
					t.Fatalf("%s: zero point %d of a symmetric weight", module, z)
				}
				s := scales[g*out+o]
				d.vals[o*in+i] = s * float32(q-z)
				d.bound[o*in+i] = scaleBound(bits, dtype) * float64(s)
			}
		}
		return d
	}
}

// decodeMLX reads mlx affine: weight U32 [out, in·bits/32] packed LSB first
// along the input, scales and biases [out, groups] in the model dtype;
// w = scale·q + bias.
func decodeMLX(bits, group int, dtype safetensors.DType) func(*testing.T, map[string]stTensorData, map[string]bool, string, int, int, int) decoded {
	return func(t *testing.T, got map[string]stTensorData, used map[string]bool, module string, e, out, in int) decoded {
		pf, groups := 32/bits, in/group
		words := stWords(take(t, got, used, module+".weight", safetensors.U32, e, int64(out), int64(in/pf)).Data)
		scales := stFloats(t, module, take(t, got, used, module+".scales", dtype, e, int64(out), int64(groups)))
		biases := stFloats(t, module, take(t, got, used, module+".biases", dtype, e, int64(out), int64(groups)))
		d := decoded{vals: make([]float32, out*in), bound: make([]float64, out*in)}
		for r := 0; r < out; r++ {
			for c := 0; c < in; c++ {
				q := float32(uintAt(words[r*(in/pf)+c/pf], bits, c%pf))
				s, b := scales[r*groups+c/group], biases[r*groups+c/group]
				d.vals[r*in+c] = float32(s*q) + b
				// mlx puts the larger-magnitude end of a group exactly on
				// the grid and rounds the step to fit it, which can clip the
				// other end by up to one step; plus the rounding of scale
				// and bias to bf16.
				d.bound[r*in+c] = math.Abs(float64(s)) + (math.Abs(float64(b))+math.Abs(float64(s))*float64(int(1)<<bits))/256 + 1e-6
			}
		}
		return d
	}
}

// errMetrics computes what the report states from original and decoded values.
func errMetrics(orig, deq []float32) quant.Metrics {
	var sse, sw float64
	var m quant.Metrics
	for i := range orig {
		e := float64(orig[i]) - float64(deq[i])
		sse += e * e
		sw += float64(orig[i]) * float64(orig[i])
		m.MaxAbsError = max(m.MaxAbsError, math.Abs(e))
	}
	m.RMSE = math.Sqrt(sse / float64(len(orig)))
	m.RelFrobenius = math.Sqrt(sse / sw)
	return m
}

func closeRel(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }

// TestSafetensorsLayouts writes tiny-mixtral in each layout and decodes
// every quantized weight from the files: each element lies within the
// grid's error bound of the source, the error measured from the decoded
// values is the one the report states (so the report validated what was
// written), unquantized tensors are the source in the model dtype, no
// other tensor is stored, and config.json carries the layout's
// quantization config.
func TestSafetensorsLayouts(t *testing.T) {
	src := stOpen(t, tinyDir)
	orig := map[string][]float32{}
	for _, st := range src.Checkpoint().Tensors() {
		v := make([]float32, st.NumElements())
		if err := st.ReadFloat32(v); err != nil {
			t.Fatal(err)
		}
		orig[st.Name] = v
	}
	bf, f16 := safetensors.BF16, safetensors.F16
	cases := []layoutCase{
		{"ct-w4a16", SafetensorsOptions{Bits: 4}, decodeCT(4, 128, bf)},
		{"ct-w8a16-fp16-head", SafetensorsOptions{Bits: 8, DType: f16, QuantizeHead: true}, decodeCT(8, 128, f16)},
		{"ct-w4a16-channel", SafetensorsOptions{Bits: 4, GroupSize: -1}, decodeCT(4, -1, bf)},
		{"gptq-4bit", SafetensorsOptions{Bits: 4, Layout: LayoutGPTQ}, decodeGPTQ(4, 128, bf)},
		{"gptq-8bit-fp16-g32", SafetensorsOptions{Bits: 8, Layout: LayoutGPTQ, DType: f16, GroupSize: 32}, decodeGPTQ(8, 32, f16)},
		{"mlx-4bit", SafetensorsOptions{Bits: 4, Layout: LayoutMLX}, decodeMLX(4, 64, bf)},
		{"mlx-8bit-g128-all", SafetensorsOptions{Bits: 8, Layout: LayoutMLX, GroupSize: 128, QuantizeEmbeddings: true, QuantizeHead: true}, decodeMLX(8, 128, bf)},
	}
	for _, lc := range cases {
		t.Run(lc.name, func(t *testing.T) {
			out, r := stWrite(t, src, lc.opts)
			got := stReadCheckpoint(t, out)
			used := map[string]bool{}
			reported := map[string]report.Tensor{}
			for _, rt := range r.Tensors {
				reported[rt.Name] = rt
			}
			dtype := lc.opts.DType
			if dtype == "" {
				dtype = bf
			}
			mlx := lc.opts.Layout == LayoutMLX
			quantized := 0
			for _, e := range src.Config.HFTensors() {
				if !layoutQuantizes(lc.opts, e.Role.Role) {
					g := got[e.Name]
					used[e.Name] = true
					if g.DType != dtype || !slices.Equal(g.Shape, e.Shape) {
						t.Fatalf("unquantized %s is %s %v, want %s %v", e.Name, g.DType, g.Shape, dtype, e.Shape)
					}
					for i, v := range stFloats(t, e.Name, g) {
						if w := roundTo(dtype, orig[e.Name][i]); v != w {
							t.Fatalf("%s[%d] = %g, want %g", e.Name, i, v, w)
						}
					}
					continue
				}
				quantized++
				module, unit, expert := strings.TrimSuffix(e.Name, ".weight"), e.Name, -1
				if mlx && e.Role.Role.PerExpert() {
					proj := map[model.Role]string{model.RoleExpertGate: "gate_proj", model.RoleExpertDown: "down_proj", model.RoleExpertUp: "up_proj"}[e.Role.Role]
					module = fmt.Sprintf("model.layers.%d.block_sparse_moe.switch_mlp.%s", e.Role.Layer, proj)
					unit, expert = module+".weight", e.Role.Expert
				}
				d := lc.decode(t, got, used, module, expert, int(e.Shape[0]), int(e.Shape[1]))
				o := orig[e.Name]
				for i := range o {
					if err := math.Abs(float64(o[i]) - float64(d.vals[i])); err > d.bound[i] {
						t.Fatalf("%s[%d]: decoded %g, source %g: error %g above the bound %g", e.Name, i, d.vals[i], o[i], err, d.bound[i])
					}
				}
				rt, ok := reported[unit]
				if !ok {
					t.Fatalf("report has no %s", unit)
				}
				want := rt.Metrics
				if expert >= 0 {
					want = rt.Experts[expert]
				}
				m := errMetrics(o, d.vals)
				if m.MaxAbsError != want.MaxAbsError || !closeRel(m.RMSE, want.RMSE) || !closeRel(m.RelFrobenius, want.RelFrobenius) {
					t.Fatalf("%s: decoded error %+v, report says %+v", e.Name, m, want)
				}
			}
			if quantized == 0 {
				t.Fatal("nothing was quantized")
			}
			for name := range got {
				if !used[name] {
					t.Errorf("unexpected tensor %s", name)
				}
			}
			checkQuantConfig(t, out, lc.opts, dtype)
		})
	}
}

func layoutQuantizes(o SafetensorsOptions, r model.Role) bool {
	switch r {
	case model.RoleRouter, model.RoleAttnNorm, model.RoleFFNNorm, model.RoleOutputNorm:
		return false
	case model.RoleEmbedding:
		return o.QuantizeEmbeddings
	case model.RoleOutput:
		return o.QuantizeHead
	}
	return true
}

func roundTo(d safetensors.DType, v float32) float32 {
	if d == safetensors.F16 {
		return quant.F16ToF32(quant.F32ToF16(v))
	}
	return quant.BF16ToF32(quant.F32ToBF16(v))
}

// checkQuantConfig checks config.json's quantization keys for the layout.
func checkQuantConfig(t *testing.T, out string, o SafetensorsOptions, dtype safetensors.DType) {
	t.Helper()
	cfg := stReadJSON(t, filepath.Join(out, "config.json"))
	if cfg["torch_dtype"] != torchDType(dtype) {
		t.Errorf("torch_dtype %v", cfg["torch_dtype"])
	}
	qc, _ := cfg["quantization_config"].(map[string]any)
	group := float64(o.GroupSize)
	switch o.Layout {
	case "":
		if group == 0 {
			group = 128
		}
		w := qc["config_groups"].(map[string]any)["group_0"].(map[string]any)["weights"].(map[string]any)
		ignore := fmt.Sprint(qc["ignore"])
		if qc["quant_method"] != "compressed-tensors" || qc["format"] != "pack-quantized" || w["num_bits"] != float64(o.Bits) ||
			w["symmetric"] != true || w["type"] != "int" || strings.Contains(ignore, "lm_head") == o.QuantizeHead ||
			!strings.Contains(ignore, "re:.*block_sparse_moe.gate") {
			t.Errorf("quantization_config %v", qc)
		}
		if (group == -1 && (w["strategy"] != "channel" || w["group_size"] != nil)) || (group != -1 && (w["strategy"] != "group" || w["group_size"] != group)) {
			t.Errorf("weights %v", w)
		}
	case LayoutGPTQ:
		if group == 0 {
			group = 128
		}
		if qc["quant_method"] != "gptq" || qc["bits"] != float64(o.Bits) || qc["group_size"] != group || qc["desc_act"] != false ||
			qc["sym"] != true || qc["checkpoint_format"] != "gptq" || qc["lm_head"] != o.QuantizeHead {
			t.Errorf("quantization_config %v", qc)
		}
		if qz := stReadJSON(t, filepath.Join(out, "quantize_config.json")); fmt.Sprint(qz) != fmt.Sprint(qc) {
			t.Errorf("quantize_config.json %v", qz)
		}
	case LayoutMLX:
		if group == 0 {
			group = 64
		}
		q, _ := cfg["quantization"].(map[string]any)
		if q["bits"] != float64(o.Bits) || q["group_size"] != group || q["mode"] != "affine" || fmt.Sprint(q) != fmt.Sprint(qc) {
			t.Errorf("quantization %v, quantization_config %v", q, qc)
		}
		if q["model.layers.1.block_sparse_moe.gate"] != false || (q["lm_head"] == false) == o.QuantizeHead || (q["model.embed_tokens"] == false) == o.QuantizeEmbeddings {
			t.Errorf("unquantized modules in quantization: %v", q)
		}
		if _, err := os.Stat(filepath.Join(out, "quantize_config.json")); err == nil {
			t.Error("quantize_config.json written for mlx")
		}
	}
}

// TestSafetensorsLayoutsDeterministic: the packed bytes and the report do
// not depend on how many workers quantize the rows.
func TestSafetensorsLayoutsDeterministic(t *testing.T) {
	src := stOpen(t, tinyDir)
	for _, o := range []SafetensorsOptions{{Bits: 4, Layout: LayoutMLX}, {Bits: 8, Layout: LayoutGPTQ}} {
		var digests []string
		var reports []string
		for _, workers := range []int{1, 3} {
			o.Workers = workers
			_, r := stWrite(t, src, o)
			var d []string
			for _, f := range r.Files {
				d = append(d, filepath.Base(f.Path)+" "+f.SHA256)
			}
			digests = append(digests, strings.Join(d, "\n"))
			reports = append(reports, fmt.Sprint(r.Tensors))
		}
		if digests[0] != digests[1] || reports[0] != reports[1] {
			t.Errorf("%s %d-bit: output differs between 1 and 3 workers", o.Layout, o.Bits)
		}
	}
}
