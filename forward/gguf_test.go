package forward

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/internal/testutil"
	"github.com/mxq-dev/mxq/quant"
)

// The tests build GGUF files by hand, byte by byte after docs/formats.md §1,
// so they do not depend on mxq's own GGUF writer.

type kvPair struct {
	key string
	val any // string, uint32 or float32
}

type rawTensor struct {
	name string
	dims []uint64 // ne, fastest first
	typ  ggml.Type
	data []byte
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

func encodeGGUF(kvs []kvPair, tensors []rawTensor) []byte {
	const align = 32
	b := []byte("GGUF")
	b = binary.LittleEndian.AppendUint32(b, 3)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(tensors)))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(kvs)))
	for _, kv := range kvs {
		b = appendString(b, kv.key)
		switch v := kv.val.(type) {
		case string:
			b = binary.LittleEndian.AppendUint32(b, 8)
			b = appendString(b, v)
		case uint32:
			b = binary.LittleEndian.AppendUint32(b, 4)
			b = binary.LittleEndian.AppendUint32(b, v)
		case float32:
			b = binary.LittleEndian.AppendUint32(b, 6)
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		default:
			panic(fmt.Sprintf("unsupported test value %T", v))
		}
	}
	var off uint64
	for _, t := range tensors {
		b = appendString(b, t.name)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(t.dims)))
		for _, d := range t.dims {
			b = binary.LittleEndian.AppendUint64(b, d)
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(t.typ))
		b = binary.LittleEndian.AppendUint64(b, off)
		off += (uint64(len(t.data)) + align - 1) / align * align
	}
	for len(b)%align != 0 {
		b = append(b, 0)
	}
	for _, t := range tensors {
		b = append(b, t.data...)
		for len(b)%align != 0 {
			b = append(b, 0)
		}
	}
	return b
}

// ggufTypes picks the storage type of each kind of tensor.
type ggufTypes struct {
	embd, attn, qk, gate, down, up, output ggml.Type
	// splitExperts stores one tensor per expert (blk.N.ffn_gate.E.weight),
	// as GGUFs from before llama.cpp merged them do.
	splitExperts bool
}

var allF32 = ggufTypes{ggml.F32, ggml.F32, ggml.F32, ggml.F32, ggml.F32, ggml.F32, ggml.F32, false}

// quantized returns w stored as t and the float32 values the stored bytes
// decode to. Quantization works row by row, so row permutations and expert
// slabs commute with it.
func quantized(t testing.TB, typ ggml.Type, w []float32) ([]byte, []float32) {
	t.Helper()
	n, err := typ.RowSize(int64(len(w)))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, n)
	if err := quant.Quantize(typ, w, b); err != nil {
		t.Fatal(err)
	}
	deq := make([]float32, len(w))
	if err := quant.Dequantize(typ, b, deq); err != nil {
		t.Fatal(err)
	}
	return b, deq
}

// buildGGUF lays m out as llama.cpp's converter does (formats.md §2):
// permuted q/k, merged experts [in, out, E], F32 norms and router. It
// returns the file and a memSource holding the weights the file decodes to,
// in Hugging Face orientation and unpermuted.
func buildGGUF(t testing.TB, m *memSource, ty ggufTypes) ([]byte, *memSource) {
	t.Helper()
	d := m.dims
	h, in, q, kv, E := uint64(d.Hidden), uint64(d.Intermediate), uint64(d.Heads*d.HeadDim), uint64(d.KVHeads*d.HeadDim), uint64(d.Experts)
	kvs := []kvPair{
		{"general.architecture", "llama"},
		{"general.name", "tiny"},
		{"llama.context_length", uint32(4096)},
		{"llama.embedding_length", uint32(h)},
		{"llama.feed_forward_length", uint32(in)},
		{"llama.block_count", uint32(d.Layers)},
		{"llama.attention.head_count", uint32(d.Heads)},
		{"llama.attention.head_count_kv", uint32(d.KVHeads)},
		{"llama.rope.freq_base", float32(d.RopeTheta)},
		{"llama.attention.layer_norm_rms_epsilon", float32(d.RMSEps)},
		{"llama.expert_count", uint32(E)},
		{"llama.expert_used_count", uint32(d.TopK)},
		{"llama.rope.dimension_count", uint32(d.HeadDim)},
	}
	want := &memSource{dims: d}
	want.dims.RopeStyle = RopeNeoX
	var tensors []rawTensor
	add := func(name string, typ ggml.Type, w []float32, dims ...uint64) []float32 {
		data, deq := quantized(t, typ, w)
		tensors = append(tensors, rawTensor{name, dims, typ, data})
		return deq
	}
	// addPermuted stores the permuted rows and returns the unpermuted
	// decoded matrix.
	addPermuted := func(name string, typ ggml.Type, w []float32, nHead int, dims ...uint64) []float32 {
		_, deq := quantized(t, typ, w)
		p := permuteQK(w, nHead, d.HeadDim, d.Hidden)
		data, _ := quantized(t, typ, p)
		tensors = append(tensors, rawTensor{name, dims, typ, data})
		return deq
	}
	merge := func(name string, typ ggml.Type, part func(e int) []float32, rows, cols uint64) [][]float32 {
		out := make([][]float32, d.Experts)
		if ty.splitExperts {
			base := strings.TrimSuffix(name, "_exps.weight")
			for e := range out {
				out[e] = add(fmt.Sprintf("%s.%d.weight", base, e), typ, part(e), cols, rows)
			}
			return out
		}
		var all []float32
		for e := range d.Experts {
			all = append(all, part(e)...)
		}
		deq := add(name, typ, all, cols, rows, E)
		for e := range out {
			out[e] = deq[uint64(e)*rows*cols : uint64(e+1)*rows*cols]
		}
		return out
	}
	want.emb = add("token_embd.weight", ty.embd, m.emb, h, uint64(d.Vocab))
	for l, lw := range m.layers {
		p := fmt.Sprintf("blk.%d.", l)
		wl := &LayerWeights{}
		wl.AttnNorm = add(p+"attn_norm.weight", ggml.F32, lw.AttnNorm, h)
		wl.Q = addPermuted(p+"attn_q.weight", ty.qk, lw.Q, d.Heads, h, q)
		wl.K = addPermuted(p+"attn_k.weight", ty.qk, lw.K, d.KVHeads, h, kv)
		wl.V = add(p+"attn_v.weight", ty.attn, lw.V, h, kv)
		wl.O = add(p+"attn_output.weight", ty.attn, lw.O, q, h)
		wl.FFNNorm = add(p+"ffn_norm.weight", ggml.F32, lw.FFNNorm, h)
		wl.Router = add(p+"ffn_gate_inp.weight", ggml.F32, lw.Router, h, E)
		gate := merge(p+"ffn_gate_exps.weight", ty.gate, func(e int) []float32 { return lw.Experts[e].Gate }, in, h)
		down := merge(p+"ffn_down_exps.weight", ty.down, func(e int) []float32 { return lw.Experts[e].Down }, h, in)
		up := merge(p+"ffn_up_exps.weight", ty.up, func(e int) []float32 { return lw.Experts[e].Up }, in, h)
		for e := range d.Experts {
			wl.Experts = append(wl.Experts, Expert{Gate: gate[e], Down: down[e], Up: up[e]})
		}
		want.layers = append(want.layers, wl)
	}
	want.norm = add("output_norm.weight", ggml.F32, m.norm, h)
	want.outW = add("output.weight", ty.output, m.outW, h, uint64(d.Vocab))
	return encodeGGUF(kvs, tensors), want
}

func openGGUF(t testing.TB, b []byte) Source {
	t.Helper()
	f, err := gguf.NewFile(bytes.NewReader(b), int64(len(b)), "tiny.gguf")
	if err != nil {
		t.Fatal(err)
	}
	src, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestGGUFMatchesTransformers stores the tiny model as llama.cpp's converter
// would, in F32, and expects transformers' logits from FromGGUF: the
// permuted q/k with adjacent-pair RoPE and the split expert slabs.
func TestGGUFMatchesTransformers(t *testing.T) {
	ref := testutil.TinyReference(t)
	st, _ := openTiny(t)
	m := loadAll(t, st)
	for _, split := range []bool{false, true} {
		ty := allF32
		ty.splitExperts = split
		file, _ := buildGGUF(t, m, ty)
		src := openGGUF(t, file)
		if got := src.Dims(); got != withStyle(st.Dims(), RopeNormal) {
			t.Fatalf("GGUF dims %+v, want %+v with normal RoPE", got, st.Dims())
		}
		res, err := Run(src, ref.InputIDs, Options{Router: true})
		if err != nil {
			t.Fatal(err)
		}
		d := maxDiff64(res.Logits, ref.Logits)
		t.Logf("GGUF F32 (split experts %v): logits max abs diff %.3g", split, d)
		if d > 1e-4 {
			t.Errorf("split experts %v: GGUF logits differ from transformers by %g", split, d)
		}
		for l := range ref.RouterTopK {
			for p, want := range ref.RouterTopK[l] {
				if !slices.Equal(slices.Sorted(slices.Values(res.TopK[l][p])), slices.Sorted(slices.Values(want))) {
					t.Errorf("layer %d position %d: experts %v, want %v", l, p, res.TopK[l][p], want)
				}
			}
		}
	}
}

func withStyle(d Dims, s RopeStyle) Dims { d.RopeStyle = s; return d }

// TestGGUFQuantized stores the tiny model with a different ggml type per
// tensor kind and checks that FromGGUF yields exactly the decoded weights:
// its logits match a Hugging Face-layout run over the same decoded values.
func TestGGUFQuantized(t *testing.T) {
	ref := testutil.TinyReference(t)
	st, _ := openTiny(t)
	for _, ty := range []ggufTypes{
		{embd: ggml.Q4_K, attn: ggml.F16, qk: ggml.Q8_0, gate: ggml.Q4_0, down: ggml.Q6_K, up: ggml.Q5_K, output: ggml.Q6_K},
		{embd: ggml.BF16, attn: ggml.Q5_0, qk: ggml.Q3_K, gate: ggml.Q2_K, down: ggml.Q4_1, up: ggml.Q5_1, output: ggml.Q8_0},
	} {
		name := fmt.Sprintf("%v/%v/%v", ty.gate, ty.down, ty.up)
		file, want := buildGGUF(t, loadAll(t, st), ty)
		got, err := Run(openGGUF(t, file), ref.InputIDs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		exp, err := Run(want, ref.InputIDs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		d := maxDiff(got.Logits, exp.Logits)
		t.Logf("%s: logits max abs diff %.3g vs the decoded weights, %.3g vs transformers' float32 model",
			name, d, maxDiff64(got.Logits, ref.Logits))
		if d > 1e-4 {
			t.Errorf("%s: GGUF logits differ from the decoded-weight run by %g", name, d)
		}
	}
}

// tinyGGUF is a small random model in GGUF form, for error and fuzz tests.
func tinyGGUF(t testing.TB, ty ggufTypes) []byte {
	d := Dims{Hidden: 32, Intermediate: 64, Layers: 1, Heads: 4, KVHeads: 2, HeadDim: 8, Experts: 4, TopK: 2, Vocab: 8, RopeTheta: 1e4, RMSEps: 1e-5}
	r := &rng{s: 1}
	m := &memSource{dims: d, emb: r.vec(d.Vocab*d.Hidden, 1), norm: r.vec(d.Hidden, 1), outW: r.vec(d.Vocab*d.Hidden, 1)}
	m.layers = []*LayerWeights{randomLayer(d, r)}
	b, _ := buildGGUF(t, m, ty)
	return b
}

func TestGGUFErrors(t *testing.T) {
	good := tinyGGUF(t, allF32)
	for _, tc := range []struct {
		name string
		edit func(b []byte) []byte
		want string
	}{
		{"architecture", func(b []byte) []byte { return bytes.Replace(b, []byte("llama"), []byte("gemma"), 1) }, `architecture "gemma"`},
		{"missing hidden size", func(b []byte) []byte {
			return bytes.Replace(b, []byte("llama.embedding_length"), []byte("llama.embedding_lengtX"), 1)
		}, "embedding_length"},
		{"expert tensor renamed", func(b []byte) []byte {
			return bytes.Replace(b, []byte("blk.0.ffn_up_exps"), []byte("blk.0.ffn_up_expX"), 1)
		}, "ffn_up"},
		{"transposed matrix", func(b []byte) []byte {
			// blk.0.attn_v.weight ne [32, 16] -> [16, 32]: same size, wrong shape
			i := bytes.Index(b, []byte("blk.0.attn_v.weight")) + len("blk.0.attn_v.weight") + 4
			binary.LittleEndian.PutUint64(b[i:], 16)
			binary.LittleEndian.PutUint64(b[i+8:], 32)
			return b
		}, `"blk.0.attn_v.weight" has dims [16 32], want [32 16]`},
		{"expert count contradicts the tensors", func(b []byte) []byte { return setUint32(b, "llama.expert_count", 3) }, "blk.0.ffn_gate_inp.weight"},
		{"top-k above the expert count", func(b []byte) []byte { return setUint32(b, "llama.expert_used_count", 9) }, "num_experts_per_tok"},
		{"kv head count contradicts the tensors", func(b []byte) []byte { return setUint32(b, "llama.attention.head_count_kv", 1) }, "blk.0.attn_k.weight"},
		{"unsupported type", func(b []byte) []byte {
			// output_norm.weight F32 -> I32: same size, no dequantizer
			i := bytes.Index(b, []byte("output_norm.weight")) + len("output_norm.weight") + 4 + 8
			binary.LittleEndian.PutUint32(b[i:], uint32(ggml.I32))
			return b
		}, `"output_norm.weight": cannot dequantize type I32`},
	} {
		b := tc.edit(bytes.Clone(good))
		f, err := gguf.NewFile(bytes.NewReader(b), int64(len(b)), "bad.gguf")
		if err == nil {
			var src Source
			src, err = FromGGUF(f)
			if err == nil {
				_, err = Run(src, []int{1, 2}, Options{})
			}
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	if _, err := Run(openGGUF(t, good), []int{1, 2, 3}, Options{}); err != nil {
		t.Errorf("unmodified file: %v", err)
	}
}

// setUint32 overwrites the UINT32 value of metadata key in a GGUF file.
func setUint32(b []byte, key string, v uint32) []byte {
	i := bytes.Index(b, []byte(key)) + len(key)
	if binary.LittleEndian.Uint32(b[i:]) != uint32(gguf.TypeUint32) {
		panic(key + " is not a UINT32")
	}
	binary.LittleEndian.PutUint32(b[i+4:], v)
	return b
}

// FuzzFromGGUF feeds mutated GGUF files through FromGGUF and Run: any
// outcome but a panic is acceptable.
func FuzzFromGGUF(f *testing.F) {
	f.Add(tinyGGUF(f, allF32))
	f.Add(tinyGGUF(f, ggufTypes{ggml.F16, ggml.Q8_0, ggml.Q4_0, ggml.Q5_1, ggml.Q8_0, ggml.F16, ggml.BF16, false}))
	f.Add(tinyGGUF(f, ggufTypes{ggml.F32, ggml.F16, ggml.F16, ggml.Q8_0, ggml.F32, ggml.Q4_1, ggml.F16, true}))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := gguf.NewFile(bytes.NewReader(b), int64(len(b)), "fuzz.gguf")
		if err != nil {
			return
		}
		src, err := FromGGUF(file)
		if err != nil {
			return
		}
		if _, err := Run(src, []int{0, 1, 2}, Options{Router: true}); err != nil {
			return
		}
	})
}
