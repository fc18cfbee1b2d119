package imatrix

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/ggml"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(fixture(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeBytes(b []byte) (*Matrix, error) {
	return Decode(bytes.NewReader(b), int64(len(b)), "bad.imatrix")
}

// TestTruncated cuts both formats at many lengths: every cut is an error
// naming the file, never a panic or a partial matrix.
func TestTruncated(t *testing.T) {
	for _, file := range llamaFiles {
		full := readFixture(t, file)
		for n := 0; n < len(full); n += 1 + n/16 {
			m, err := decodeBytes(full[:n])
			if err == nil {
				t.Fatalf("%s cut to %d bytes: read %d entries without error", file, n, len(m.Entries))
			}
			if !strings.Contains(err.Error(), "bad.imatrix") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("%s cut to %d bytes: error %q does not name the file on one line", file, n, err)
			}
		}
	}
}

// ggufMatrix builds a small imatrix GGUF; edit changes its parts first.
func ggufMatrix(t testing.TB, edit func(kv *[]gguf.KV, tensors *[]gguf.TensorInfo, data [][]float32)) []byte {
	t.Helper()
	kv := []gguf.KV{
		{Key: "general.type", Value: gguf.String("imatrix")},
		{Key: KeyDatasets, Value: gguf.Array(gguf.TypeString, []string{"d.txt"})},
		{Key: KeyChunkCount, Value: gguf.Uint32(1)},
		{Key: KeyChunkSize, Value: gguf.Uint32(4)},
	}
	tensors := []gguf.TensorInfo{
		{Name: "blk.0.ffn_up_exps.weight.in_sum2", Dims: []uint64{32, 2}, Type: ggml.F32},
		{Name: "blk.0.ffn_up_exps.weight.counts", Dims: []uint64{1, 2}, Type: ggml.F32},
	}
	data := [][]float32{make([]float32, 64), {3, 1}}
	for i := range data[0] {
		data[0][i] = float32(i)
	}
	if edit != nil {
		edit(&kv, &tensors, data)
	}
	l, err := gguf.NewLayout(kv, tensors, gguf.DefaultAlignment)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, l.Size())
	copy(out, l.Header())
	for i, d := range data[:len(tensors)] {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, d[:tensors[i].NumElements()])
		copy(out[l.TensorOffset(i):], b.Bytes())
	}
	return out
}

func TestBadGGUF(t *testing.T) {
	if _, err := decodeBytes(ggufMatrix(t, nil)); err != nil {
		t.Fatalf("the valid base file: %v", err)
	}
	for _, c := range []struct {
		name, want string
		edit       func(kv *[]gguf.KV, tensors *[]gguf.TensorInfo, data [][]float32)
	}{
		{"model file", `not an importance matrix`, func(kv *[]gguf.KV, _ *[]gguf.TensorInfo, _ [][]float32) {
			(*kv)[0].Value = gguf.String("model")
		}},
		{"no datasets", KeyDatasets, func(kv *[]gguf.KV, _ *[]gguf.TensorInfo, _ [][]float32) { *kv = append((*kv)[:1], (*kv)[2:]...) }},
		{"chunk size type", KeyChunkSize, func(kv *[]gguf.KV, _ *[]gguf.TensorInfo, _ [][]float32) { (*kv)[3].Value = gguf.Int32(4) }},
		{"no chunk count", KeyChunkCount, func(kv *[]gguf.KV, _ *[]gguf.TensorInfo, _ [][]float32) { *kv = (*kv)[:2] }},
		{"no entries", "no entries", func(_ *[]gguf.KV, ts *[]gguf.TensorInfo, _ [][]float32) { (*ts)[0].Name, (*ts)[1].Name = "a", "b" }},
		{"counts missing", `entry "blk.0.ffn_up_exps.weight" lacks`, func(_ *[]gguf.KV, ts *[]gguf.TensorInfo, _ [][]float32) { *ts = (*ts)[:1] }},
		{"counts size", `want [1, 2]`, func(_ *[]gguf.KV, ts *[]gguf.TensorInfo, _ [][]float32) { (*ts)[1].Dims = []uint64{2} }},
		{"3-D sums", `want [n_per_row, n_mat]`, func(_ *[]gguf.KV, ts *[]gguf.TensorInfo, _ [][]float32) { (*ts)[0].Dims = []uint64{32, 1, 2} }},
		{"F16 sums", `is F16, want F32`, func(_ *[]gguf.KV, ts *[]gguf.TensorInfo, _ [][]float32) { (*ts)[0].Type = ggml.F16 }},
		{"NaN sum", `value 33 (matrix 1, column 1) is NaN`, func(_ *[]gguf.KV, _ *[]gguf.TensorInfo, d [][]float32) { d[0][33] = float32(math.NaN()) }},
		{"negative sum", `value 2 (matrix 0, column 2) is -1`, func(_ *[]gguf.KV, _ *[]gguf.TensorInfo, d [][]float32) { d[0][2] = -1 }},
		{"infinite sum", `is +Inf`, func(_ *[]gguf.KV, _ *[]gguf.TensorInfo, d [][]float32) { d[0][0] = float32(math.Inf(1)) }},
		{"negative count", `count 1 is -3`, func(_ *[]gguf.KV, _ *[]gguf.TensorInfo, d [][]float32) { d[1][1] = -3 }},
		{"bad filled list", KeyFilled, func(kv *[]gguf.KV, _ *[]gguf.TensorInfo, _ [][]float32) {
			*kv = append(*kv, gguf.KV{Key: KeyFilled, Value: gguf.Array(gguf.TypeString, []string{"blk.0.ffn_up_exps.weight"})})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeBytes(ggufMatrix(t, c.edit))
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.imatrix") {
				t.Errorf("error %v, want one naming the file and containing %q", err, c.want)
			}
		})
	}
}

// datFile encodes a legacy file from its fields.
func datFile(fields ...any) []byte {
	var b bytes.Buffer
	for _, f := range fields {
		if s, ok := f.(string); ok {
			b.WriteString(s)
			continue
		}
		binary.Write(&b, binary.LittleEndian, f)
	}
	return b.Bytes()
}

func TestBadDat(t *testing.T) {
	ok := datFile(int32(1), int32(3), "a.w", int32(2), int32(2), []float32{1, 2}, int32(1), int32(1), "d")
	if m, err := decodeBytes(ok); err != nil || m.Entries[0].Name != "a.w" || m.Datasets[0] != "d" {
		t.Fatalf("the valid base file: %v %+v", err, m)
	}
	if m, err := decodeBytes(ok[:len(ok)-9]); err != nil || m.Datasets != nil {
		t.Fatalf("a file without the trailer (older llama-imatrix): %v %+v", err, m)
	}
	for _, c := range []struct {
		name, want string
		file       []byte
	}{
		{"empty", "neither GGUF nor", nil},
		{"no entries", "neither GGUF nor", datFile(int32(0))},
		{"huge entry count", "would hold 1000000 entries", datFile(int32(1e6), int32(3), "a.w")},
		{"negative name length", "name length -1", datFile(int32(1), int32(-1), "xxxxxxxxxxxxxxxxxxxx")},
		{"huge name length", "name needs 2147483647 bytes", datFile(int32(1), int32(math.MaxInt32), "xxxxxxxxxxxxxxxxxxxx")},
		{"NUL in name", "NUL byte", datFile(int32(1), int32(3), "a\x00w", int32(1), int32(1), float32(1))},
		{"negative ncall", "negative ncall", datFile(int32(1), int32(3), "a.w", int32(-2), int32(1), float32(1))},
		{"zero values", "value count 0", datFile(int32(1), int32(3), "a.w", int32(1), int32(0), float32(1))},
		{"huge value count", "needs 4000000000 bytes", datFile(int32(1), int32(3), "a.w", int32(1), int32(1e9), float32(1))},
		{"NaN value", `entry "a.w": value 1`, datFile(int32(1), int32(3), "a.w", int32(1), int32(2), []float32{1, float32(math.NaN())})},
		{"negative value", `is -2`, datFile(int32(1), int32(3), "a.w", int32(1), int32(1), float32(-2))},
		{"duplicate", `"a.w" appears twice`, datFile(int32(2), int32(3), "a.w", int32(1), int32(1), float32(1), int32(3), "a.w", int32(1), int32(1), float32(1))},
		{"cut trailer", "dataset name length", datFile(int32(1), int32(3), "a.w", int32(1), int32(1), float32(1), int32(1))},
		{"bytes after the trailer", "bytes after the dataset name", append(slicesClone(ok), 0)},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeBytes(c.file)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.imatrix") {
				t.Errorf("error %v, want one naming the file and containing %q", err, c.want)
			}
		})
	}
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }

// FuzzDecodeGGUF and FuzzDecodeDat feed arbitrary bytes, seeded with
// small files of each format and with llama-imatrix's own, to the reader:
// it must return a valid matrix or a one-line error, and a matrix it
// returns must give its weights and write again.
func FuzzDecodeGGUF(f *testing.F) {
	f.Add(ggufMatrix(f, nil))
	f.Add(readFixture(f, "tiny-mixtral.partial.imatrix.gguf"))
	fuzzDecode(f)
}

func FuzzDecodeDat(f *testing.F) {
	f.Add(datFile(int32(1), int32(3), "a.w", int32(2), int32(2), []float32{1, 2}, int32(1), int32(1), "d"))
	f.Add(datFile(int32(2), int32(3), "b.w", int32(0), int32(1), float32(3), int32(3), "a.w", int32(2), int32(2), []float32{1, 2}))
	f.Add(readFixture(f, "tiny-mixtral.partial.imatrix.dat"))
	fuzzDecode(f)
}

func fuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeBytes(b)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error on several lines: %q", err)
			}
			return
		}
		if err := m.check("fuzz"); err != nil {
			t.Fatalf("Decode returned a matrix that fails its own check: %v", err)
		}
		for _, e := range m.Entries {
			if _, _, err := m.Weights(e.Name, e.NPerRow, e.NMat); err != nil {
				t.Fatalf("weights of %q: %v", e.Name, err)
			}
		}
		var dat bytes.Buffer
		if err := m.EncodeDat(&dat); err != nil {
			tooLarge := strings.Contains(err.Error(), "too large for the .dat format")
			if m.Legacy || !tooLarge && m.ChunkSize > 0 && slices.ContainsFunc(m.Entries, func(e Entry) bool { return slices.Max(e.Counts) > 0 }) {
				t.Fatalf("EncodeDat: %v", err)
			}
			return
		}
		if _, err := decodeBytes(dat.Bytes()); err != nil {
			t.Fatalf("re-reading the written .dat: %v", err)
		}
	})
}

// TestEncodeDatRefuses covers matrices the legacy format cannot hold.
func TestEncodeDatRefuses(t *testing.T) {
	entry := func(sum, count float32) Entry {
		return Entry{Name: "blk.0.attn_q.weight", NPerRow: 1, NMat: 1, InSum2: []float32{sum}, Counts: []float32{count}}
	}
	for _, c := range []struct {
		name, want string
		m          Matrix
	}{
		{"unknown chunk size", "chunk size is unknown", Matrix{Entries: []Entry{entry(1, 1)}}},
		{"no tokens", "no entry has any token", Matrix{ChunkSize: 4, Entries: []Entry{entry(0, 0)}}},
		{"overflow", "too large for the .dat format", Matrix{ChunkSize: 1, Entries: []Entry{
			{Name: "blk.0.ffn_up_exps.weight", NPerRow: 1, NMat: 2, InSum2: []float32{3e38, 1}, Counts: []float32{1, 4}}}}},
		{"NaN", "is NaN", Matrix{ChunkSize: 1, Entries: []Entry{entry(float32(math.NaN()), 2)}}},
	} {
		var b bytes.Buffer
		if err := c.m.EncodeDat(&b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}
