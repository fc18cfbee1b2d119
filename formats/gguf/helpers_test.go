package gguf

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

// allKVs holds every scalar type and an array of every element type,
// including empty arrays and awkward strings.
func allKVs() []KV {
	return []KV{
		{"general.architecture", String("llama")},
		{"t.u8", Uint8(200)},
		{"t.i8", Int8(-100)},
		{"t.u16", Uint16(60000)},
		{"t.i16", Int16(-30000)},
		{"t.u32", Uint32(4000000000)},
		{"t.i32", Int32(-2000000000)},
		{"t.f32", Float32(1.5e-5)},
		{"t.bool.true", Bool(true)},
		{"t.bool.false", Bool(false)},
		{"t.str", String("h\u00e9llo\x00w\norld \u2581")},
		{"t.str.empty", String("")},
		{"tokenizer.chat_template", String(strings.Repeat("{{ message }}\n", 700))}, // longer than the read buffer
		{"t.u64", Uint64(1<<63 + 5)},
		{"t.i64", Int64(-1 << 62)},
		{"t.f64", Float64(math.Pi)},
		{"a.u8", Array(TypeUint8, []uint8{0, 1, 255})},
		{"a.i8", Array(TypeInt8, []int8{-128, 0, 127})},
		{"a.u16", Array(TypeUint16, []uint16{0, 65535})},
		{"a.i16", Array(TypeInt16, []int16{-32768, 32767, 1})},
		{"a.u32", Array(TypeUint32, []uint32{7})},
		{"a.i32", Array(TypeInt32, []int32{1, 2, 3, 6, -5})},
		{"a.f32", Array(TypeFloat32, []float32{-10000, 0.5, float32(math.Inf(1))})},
		{"a.bool", Array(TypeBool, []bool{true, false, true})},
		{"a.str", Array(TypeString, []string{"<unk>", "", "\u0120the", "a b"})},
		{"a.u64", Array(TypeUint64, []uint64{math.MaxUint64, 0})},
		{"a.i64", Array(TypeInt64, []int64{math.MinInt64, math.MaxInt64})},
		{"a.f64", Array(TypeFloat64, []float64{math.SmallestNonzeroFloat64, -0.0})},
		{"a.str.empty", Array(TypeString, []string{})},
		{"a.f32.empty", Array(TypeFloat32, []float32{})},
	}
}

// testTensors has several ggml types with sizes that are not multiples of
// the alignment, an empty tensor and a 4-d one.
func testTensors() []TensorInfo {
	return []TensorInfo{
		{Name: "token_embd.weight", Dims: []uint64{3}, Type: ggml.F32},
		{Name: "f16", Dims: []uint64{5, 3}, Type: ggml.F16},
		{Name: "blk.0.ffn_gate_exps.weight", Dims: []uint64{64, 3}, Type: ggml.Q4_0},
		{Name: "q8_0", Dims: []uint64{32}, Type: ggml.Q8_0},
		{Name: "q4_k", Dims: []uint64{256, 2, 3}, Type: ggml.Q4_K},
		{Name: "q6_k", Dims: []uint64{256}, Type: ggml.Q6_K},
		{Name: "bf16", Dims: []uint64{7}, Type: ggml.BF16},
		{Name: "empty", Dims: []uint64{0, 4}, Type: ggml.F32},
		{Name: "f32.4d", Dims: []uint64{2, 3, 1, 2}, Type: ggml.F32},
		{Name: "i8", Dims: []uint64{1}, Type: ggml.I8},
	}
}

// blob is deterministic content for tensor i.
func blob(i int, size uint64) []byte {
	b := make([]byte, size)
	for j := range b {
		b[j] = byte(i*31 + j*7 + 1)
	}
	return b
}

func writeSequential(t testing.TB, path string, l *Layout) {
	t.Helper()
	err := WriteFile(path, l, func(i int, ti TensorInfo, w io.Writer) error {
		_, err := w.Write(blob(i, ti.Size()))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeParallel does what the quantize pipeline does: size the file, write
// the header, then every tensor concurrently at its offset.
func writeParallel(t testing.TB, path string, l *Layout) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(l.Size()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(l.Header(), 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(l.Tensors()))
	for i, ti := range l.Tensors() {
		wg.Go(func() {
			_, errs[i] = f.WriteAt(blob(i, ti.Size()), l.TensorOffset(i))
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func mustLayout(t testing.TB, kv []KV, tensors []TensorInfo, align uint32) *Layout {
	t.Helper()
	l, err := NewLayout(kv, tensors, align)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func tempPath(t testing.TB, name string) string {
	return filepath.Join(t.TempDir(), name)
}
