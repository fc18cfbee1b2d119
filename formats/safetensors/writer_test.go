package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/x448/float16"
)

// genTensor is a tensor to write together with its values as float64, so
// the test can encode each dtype and know what the reader must return.
type genTensor struct {
	info TensorInfo
	vals []float64
}

func encodeValues(d DType, vals []float64) []byte {
	var b []byte
	for _, v := range vals {
		switch d {
		case F32:
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(v)))
		case F64:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		case F16:
			b = binary.LittleEndian.AppendUint16(b, float16.Fromfloat32(float32(v)).Bits())
		case BF16:
			b = binary.LittleEndian.AppendUint16(b, uint16(math.Float32bits(float32(v))>>16))
		default:
			for range d.Size() {
				b = append(b, byte(int64(v)))
			}
		}
	}
	return b
}

// wantFloat32 is what ReadFloat32 must produce for a value stored as d.
func wantFloat32(d DType, v float64) float32 {
	switch d {
	case F16:
		return float16.Fromfloat32(float32(v)).Float32()
	case BF16:
		return math.Float32frombits(math.Float32bits(float32(v)) &^ 0xffff)
	}
	return float32(v)
}

func genTensors(r *rand.Rand) []genTensor {
	var out []genTensor
	for i, d := range DTypes() {
		for j, shape := range [][]int64{{}, {0, 5}, {3, 7}, {int64(1 + r.IntN(40000))}} {
			n, _ := numElements(shape)
			vals := make([]float64, n)
			for k := range vals {
				if CanReadFloat32(d) {
					vals[k] = r.NormFloat64() * 3
				} else {
					vals[k] = float64(r.IntN(100))
				}
			}
			name := "layer." + itoa(j) + "." + strings.ToLower(string(d)) + "." + itoa(i)
			out = append(out, genTensor{TensorInfo{Name: name, DType: d, Shape: shape}, vals})
		}
	}
	return out
}

func TestWriteFileRoundTrip(t *testing.T) {
	gen := genTensors(rand.New(rand.NewPCG(1, 2)))
	var infos []TensorInfo
	data := map[string][]byte{}
	for _, g := range gen {
		infos = append(infos, g.info)
		data[g.info.Name] = encodeValues(g.info.DType, g.vals)
	}
	meta := map[string]string{"format": "pt", "quant": "q\n\"x\""}
	l, err := NewLayout(meta, infos)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "out.safetensors")
	var order []string
	err = WriteFile(path, l, func(name string, w io.Writer) error {
		order = append(order, name)
		// Write in uneven pieces to exercise the byte accounting.
		b := data[name]
		for len(b) > 0 {
			n := min(len(b), 1+len(b)/3)
			if _, err := w.Write(b[:n]); err != nil {
				return err
			}
			b = b[n:]
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	lt := l.Tensors()
	for i := range lt {
		if order[i] != lt[i].Name {
			t.Fatalf("data called for %q at %d, layout order has %q", order[i], i, lt[i].Name)
		}
	}

	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := os.Stat(path)
	if st.Size() != l.Size() || f.Size != l.Size() {
		t.Errorf("file %d bytes, reader %d, layout %d", st.Size(), f.Size, l.Size())
	}
	if !maps.Equal(f.Metadata, meta) {
		t.Errorf("metadata %v, want %v", f.Metadata, meta)
	}
	if len(f.Tensors) != len(gen) {
		t.Fatalf("%d tensors, want %d", len(f.Tensors), len(gen))
	}
	for _, g := range gen {
		ti, ok := f.Lookup(g.info.Name)
		if !ok {
			t.Fatalf("missing %s", g.info.Name)
		}
		if ti.DType != g.info.DType || !slices.Equal(ti.Shape, g.info.Shape) {
			t.Errorf("%s: %s %v, want %s %v", ti.Name, ti.DType, ti.Shape, g.info.DType, g.info.Shape)
		}
		tn := Tensor{*ti, f}
		raw := make([]byte, ti.End-ti.Begin)
		if err := tn.ReadRaw(raw); err != nil || !bytes.Equal(raw, data[ti.Name]) {
			t.Errorf("%s: raw bytes differ (err %v)", ti.Name, err)
		}
		if !CanReadFloat32(ti.DType) {
			continue
		}
		got := make([]float32, ti.NumElements())
		if err := tn.ReadFloat32(got); err != nil {
			t.Fatal(err)
		}
		for k, v := range g.vals {
			if want := wantFloat32(ti.DType, v); math.Float32bits(got[k]) != math.Float32bits(want) {
				t.Fatalf("%s[%d] = %v, want %v", ti.Name, k, got[k], want)
			}
		}
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("folder holds %d entries, want only the output", len(ents))
	}
}

func TestWriteFileFailures(t *testing.T) {
	l, err := NewLayout(nil, []TensorInfo{{Name: "a", DType: F32, Shape: []int64{4}}, {Name: "b", DType: U8, Shape: []int64{3}}})
	if err != nil {
		t.Fatal(err)
	}
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		data func(string, io.Writer) error
		want string
		is   error
	}{
		{"short tensor", func(n string, w io.Writer) error {
			_, err := w.Write(make([]byte, 3))
			return err
		}, `tensor "a": wrote 3 of 16 bytes`, nil},
		{"long tensor", func(n string, w io.Writer) error {
			_, err := w.Write(make([]byte, 17))
			return err
		}, `tensor "a": more data`, errTooMuchData},
		{"long tensor, error ignored", func(n string, w io.Writer) error {
			w.Write(make([]byte, 16))
			if n == "b" {
				w.Write(make([]byte, 4))
			}
			return nil
		}, `tensor "b": more data`, errTooMuchData},
		{"callback error", func(n string, w io.Writer) error {
			if n == "b" {
				return errBoom
			}
			_, err := w.Write(make([]byte, 16))
			return err
		}, `tensor "b": boom`, errBoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "m.safetensors")
			if err := os.WriteFile(path, []byte("previous"), 0o644); err != nil {
				t.Fatal(err)
			}
			err := WriteFile(path, l, tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("got %v, want error containing %q and the path", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			if got, _ := os.ReadFile(path); string(got) != "previous" {
				t.Errorf("existing file replaced after a failed write: %q", got)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("temporary file left behind: %d entries", len(ents))
			}
		})
	}
	if err := WriteFile(filepath.Join(t.TempDir(), "no", "such", "dir.safetensors"), l, nil); err == nil {
		t.Error("writing into a missing folder succeeded")
	}
}

func TestPlanShards(t *testing.T) {
	u8 := func(sizes ...int64) []TensorInfo {
		var out []TensorInfo
		for i, s := range sizes {
			out = append(out, TensorInfo{Name: "t" + itoa(i), DType: U8, Shape: []int64{s}})
		}
		return out
	}
	names := func(shards [][]TensorInfo) string {
		var parts []string
		for _, s := range shards {
			var ns []string
			for _, t := range s {
				ns = append(ns, t.Name)
			}
			parts = append(parts, strings.Join(ns, "+"))
		}
		return strings.Join(parts, " | ")
	}
	tests := []struct {
		sizes []int64
		max   int64
		want  string
	}{
		// huggingface_hub's documented example: [6,6,2,6,2,2] under 10.
		{[]int64{6, 6, 2, 6, 2, 2}, 10, "t0 | t1+t2 | t3+t4+t5"},
		// A tensor over the limit gets its own shard, emitted before the open one.
		{[]int64{6, 10, 30, 2, 2}, 10, "t0 | t2 | t1 | t3+t4"},
		{[]int64{5, 5}, 10, "t0+t1"},
		{[]int64{5, 5}, 0, "t0+t1"},
		{[]int64{0, 0, 11}, 10, "t2 | t0+t1"},
		{nil, 10, ""},
	}
	for _, tt := range tests {
		if got := names(PlanShards(u8(tt.sizes...), tt.max)); got != tt.want {
			t.Errorf("PlanShards(%v, %d) = %q, want %q", tt.sizes, tt.max, got, tt.want)
		}
	}
}

func TestShardName(t *testing.T) {
	for _, tt := range []struct {
		i, n int
		want string
	}{{0, 1, "model.safetensors"}, {0, 3, "model-00001-of-00003.safetensors"}, {18, 19, "model-00019-of-00019.safetensors"}} {
		if got := ShardName(tt.i, tt.n); got != tt.want {
			t.Errorf("ShardName(%d, %d) = %q, want %q", tt.i, tt.n, got, tt.want)
		}
	}
}

// Rebuild tiny-mixtral's shards from its own tensors with PlanShards,
// WriteFile and MarshalIndex, then open the result as a checkpoint.
func TestShardedRoundTrip(t *testing.T) {
	src, err := OpenCheckpoint(tinyDir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var infos []TensorInfo
	for _, tn := range src.Tensors() {
		infos = append(infos, tn.TensorInfo)
	}
	shards := PlanShards(infos, 5<<20)
	if len(shards) != 3 {
		t.Fatalf("%d shards, want 3", len(shards))
	}
	dir := t.TempDir()
	for i, shard := range shards {
		l, err := NewLayout(map[string]string{"format": "pt"}, shard)
		if err != nil {
			t.Fatal(err)
		}
		err = WriteFile(filepath.Join(dir, ShardName(i, len(shards))), l, func(name string, w io.Writer) error {
			tn, _ := src.Lookup(name)
			_, err := io.Copy(w, tn.Open())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	idx, err := MarshalIndex(NewIndex(shards))
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string][]byte{IndexFileName: idx})

	c, err := OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.TotalSize != src.TotalSize || c.DataSize() != src.DataSize() || len(c.Tensors()) != len(src.Tensors()) {
		t.Errorf("total %d data %d tensors %d; want %d %d %d", c.TotalSize, c.DataSize(), len(c.Tensors()), src.TotalSize, src.DataSize(), len(src.Tensors()))
	}
	for _, tn := range src.Tensors() {
		got, ok := c.Lookup(tn.Name)
		if !ok {
			t.Fatalf("missing %s", tn.Name)
		}
		a, _ := io.ReadAll(tn.Open())
		b, _ := io.ReadAll(got.Open())
		if !bytes.Equal(a, b) || !slices.Equal(tn.Shape, got.Shape) {
			t.Errorf("%s differs after round trip", tn.Name)
		}
	}
}
