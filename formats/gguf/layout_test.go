package gguf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

func TestRoundTrip(t *testing.T) {
	for _, align := range []uint32{32, 64, 1} {
		t.Run(fmt.Sprintf("align%d", align), func(t *testing.T) {
			kv := allKVs()
			if align != DefaultAlignment {
				kv = append(kv, KV{KeyAlignment, Uint32(align)})
			}
			tensors := testTensors()
			l := mustLayout(t, kv, tensors, align)
			path := tempPath(t, "rt.gguf")
			writeSequential(t, path, l)

			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Version != Version || f.Alignment != uint64(align) || f.DataOffset != l.DataOffset() || f.Size != l.Size() {
				t.Fatalf("version %d alignment %d data %d/%d size %d/%d", f.Version, f.Alignment, f.DataOffset, l.DataOffset(), f.Size, l.Size())
			}
			if !reflect.DeepEqual(f.KV, kv) {
				for i := range kv {
					if i >= len(f.KV) || !reflect.DeepEqual(f.KV[i], kv[i]) {
						t.Fatalf("KV %d: read %#v, wrote %#v", i, f.KV[i], kv[i])
					}
				}
				t.Fatalf("read %d KVs, wrote %d", len(f.KV), len(kv))
			}
			if !reflect.DeepEqual(f.Tensors, l.Tensors()) {
				t.Fatalf("tensors: read %v, laid out %v", f.Tensors, l.Tensors())
			}
			var want uint64
			for i, ti := range l.Tensors() {
				if ti.Offset != want || ti.Offset%uint64(align) != 0 {
					t.Errorf("%s at %d, want %d", ti.Name, ti.Offset, want)
				}
				want += pad(ti.Size(), uint64(align))
				if l.TensorOffset(i) != l.DataOffset()+int64(ti.Offset) {
					t.Errorf("TensorOffset(%d) = %d", i, l.TensorOffset(i))
				}
				got, err := io.ReadAll(f.Section(&f.Tensors[i]))
				if err != nil || !bytes.Equal(got, blob(i, ti.Size())) {
					t.Errorf("%s: data differs (%v)", ti.Name, err)
				}
				if p, ok := f.Tensor(ti.Name); !ok || p != &f.Tensors[i] {
					t.Errorf("Tensor(%q) not found", ti.Name)
				}
			}
			if l.Size() != l.DataOffset()+int64(want) {
				t.Errorf("Size %d, want %d (last blob padded)", l.Size(), l.DataOffset()+int64(want))
			}
			if l.DataOffset()%int64(align) != 0 {
				t.Errorf("data offset %d not aligned", l.DataOffset())
			}
		})
	}
}

// The tensor sizes in testTensors are what ggml computes, so padding is
// really exercised.
func TestTensorSizes(t *testing.T) {
	want := map[string]uint64{
		"token_embd.weight": 12, "f16": 30, "blk.0.ffn_gate_exps.weight": 3 * 2 * 18, "q8_0": 34,
		"q4_k": 6 * 144, "q6_k": 210, "bf16": 14, "empty": 0, "f32.4d": 48, "i8": 1,
	}
	for _, ti := range testTensors() {
		if got := ti.Size(); got != want[ti.Name] {
			t.Errorf("%s: Size %d, want %d", ti.Name, got, want[ti.Name])
		}
	}
	scalar := TensorInfo{Name: "s", Type: ggml.F32}
	if scalar.NumElements() != 1 || scalar.Size() != 4 {
		t.Errorf("0-d tensor: %d elements, %d bytes", scalar.NumElements(), scalar.Size())
	}
}

// WriteFile and the pipeline's Truncate+WriteAt method give the same bytes.
func TestWriteFileMatchesParallelWriteAt(t *testing.T) {
	kv := append(allKVs(), KV{KeyAlignment, Uint32(64)})
	l := mustLayout(t, kv, testTensors(), 64)
	seq, par := tempPath(t, "seq.gguf"), tempPath(t, "par.gguf")
	writeSequential(t, seq, l)
	writeParallel(t, par, l)
	a, err := os.ReadFile(seq)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(par)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(a)) != l.Size() || !bytes.Equal(a, b) {
		t.Fatalf("sequential %d bytes, parallel %d bytes, equal %v", len(a), len(b), bytes.Equal(a, b))
	}
	if _, err := NewFile(bytes.NewReader(b), int64(len(b)), par); err != nil {
		t.Fatal(err)
	}
}

func TestWriteFileLeavesNoPartialFile(t *testing.T) {
	l := mustLayout(t, allKVs(), testTensors(), 32)
	boom := errors.New("boom")
	tests := []struct {
		name string
		data func(i int, ti TensorInfo, w io.Writer) error
		want string
	}{
		{"short", func(i int, ti TensorInfo, w io.Writer) error {
			_, err := w.Write(blob(i, ti.Size()/2))
			return err
		}, "want"},
		{"long", func(i int, ti TensorInfo, w io.Writer) error {
			_, err := w.Write(blob(i, ti.Size()+1))
			return err
		}, "more bytes than the tensor's size"},
		{"long, error ignored", func(i int, ti TensorInfo, w io.Writer) error {
			w.Write(blob(i, ti.Size()+1))
			return nil
		}, "wrote 13 bytes, want 12"},
		{"callback error", func(i int, ti TensorInfo, w io.Writer) error {
			if i == 3 {
				return boom
			}
			_, err := w.Write(blob(i, ti.Size()))
			return err
		}, "boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.gguf")
			err := WriteFile(path, l, tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 0 {
				t.Errorf("left %v behind", entries[0].Name())
			}
		})
	}
	if err := WriteFile(filepath.Join(t.TempDir(), "no", "dir.gguf"), l, nil); err == nil {
		t.Error("wrote into a missing directory")
	}
}

func TestWriteFileReplacesAtomically(t *testing.T) {
	path := tempPath(t, "m.gguf")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := mustLayout(t, allKVs(), testTensors(), 32)
	writeSequential(t, path, l)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("%d files in the directory, want 1", len(entries))
	}
}

func TestNewLayoutKeepsInputsAndOrder(t *testing.T) {
	kv := []KV{{"z", Uint32(1)}, {"a", String("x")}, {"general.architecture", String("llama")}}
	tensors := []TensorInfo{
		{Name: "z", Dims: []uint64{4}, Type: ggml.F32, Offset: 999},
		{Name: "a", Dims: []uint64{4}, Type: ggml.F32, Offset: 7},
	}
	l := mustLayout(t, kv, tensors, 32)
	if tensors[0].Offset != 999 {
		t.Error("NewLayout modified its argument")
	}
	got := l.Tensors()
	if got[0].Name != "z" || got[0].Offset != 0 || got[1].Name != "a" || got[1].Offset != 32 {
		t.Errorf("tensors %v", got)
	}
	got[0].Dims[0] = 8
	if l.Tensors()[0].Dims[0] != 4 {
		t.Error("Tensors() shares Dims with the Layout")
	}
	keys := []string{}
	for _, p := range l.KV() {
		keys = append(keys, p.Key)
	}
	if strings.Join(keys, ",") != "z,a,general.architecture" || l.Alignment() != 32 {
		t.Errorf("keys %v", keys)
	}
}

func TestNewLayoutEmpty(t *testing.T) {
	l := mustLayout(t, nil, nil, 32)
	h := l.Header()
	// magic, version, two counts: 24 bytes, padded to 32.
	want := append([]byte("GGUF\x03\x00\x00\x00"), make([]byte, 24)...)
	if !bytes.Equal(h, want) || l.Size() != 32 || l.DataOffset() != 32 {
		t.Errorf("header % x size %d", h, l.Size())
	}
}

// NewLayout refuses what the reader refuses; every case names its rule.
func TestNewLayoutErrors(t *testing.T) {
	f32 := func(name string, dims ...uint64) TensorInfo {
		return TensorInfo{Name: name, Dims: dims, Type: ggml.F32}
	}
	tests := []struct {
		name    string
		kv      []KV
		tensors []TensorInfo
		align   uint32
		key     string
		tensor  string
		want    string
	}{
		{"empty key", []KV{{"", Uint8(1)}}, nil, 32, "", "", "key 0 is empty"},
		{"duplicate key", []KV{{"a", Uint8(1)}, {"a", Uint8(2)}}, nil, 32, "a", "", "duplicate key"},
		{"unknown type", []KV{{"a", Value{Type: 13, V: uint8(1)}}}, nil, 32, "a", "", "unknown value type 13"},
		{"nested array", []KV{{"a", Array(TypeArray, []uint8{})}}, nil, 32, "a", "", "nested arrays"},
		{"unknown element type", []KV{{"a", Array(20, []uint8{})}}, nil, 32, "a", "", "unknown array element type 20"},
		{"Go type mismatch", []KV{{"a", Value{Type: TypeUint32, V: 5}}}, nil, 32, "a", "", "uint32 value holds a Go int"},
		{"nil scalar", []KV{{"a", Value{Type: TypeString}}}, nil, 32, "a", "", "string value holds a Go <nil>"},
		{"array Go type mismatch", []KV{{"a", Array(TypeInt32, []uint32{1})}}, nil, 32, "a", "", "array of int32 holds a Go []uint32"},
		{"array not a slice", []KV{{"a", Array(TypeString, "x")}}, nil, 32, "a", "", "array of string holds a Go string"},
		{"alignment type", []KV{{KeyAlignment, Uint64(32)}}, nil, 32, KeyAlignment, "", "must be of type uint32, not uint64"},
		{"alignment array", []KV{{KeyAlignment, Array(TypeUint32, []uint32{32})}}, nil, 32, KeyAlignment, "", "not array of uint32"},
		{"alignment not power of two", []KV{{KeyAlignment, Uint32(48)}}, nil, 48, KeyAlignment, "", "48 is not a power of two"},
		{"alignment zero", []KV{{KeyAlignment, Uint32(0)}}, nil, 0, KeyAlignment, "", "0 is not a power of two"},
		{"alignment without KV", nil, nil, 64, KeyAlignment, "", "needs a general.alignment uint32 KV"},
		{"alignment differs from KV", []KV{{KeyAlignment, Uint32(64)}}, nil, 32, KeyAlignment, "", "32 differs from general.alignment = 64"},
		{"name too long", nil, []TensorInfo{f32(strings.Repeat("n", 64), 1)}, 32, "", strings.Repeat("n", 64), "64 bytes, ggml allows at most 63"},
		{"name with NUL", nil, []TensorInfo{f32("a\x00b", 1)}, 32, "", "a\x00b", "NUL"},
		{"duplicate tensor", nil, []TensorInfo{f32("a", 1), f32("a", 2)}, 32, "", "a", "duplicate tensor name"},
		{"five dims", nil, []TensorInfo{f32("a", 1, 1, 1, 1, 1)}, 32, "", "a", "5 dimensions"},
		{"negative dim", nil, []TensorInfo{f32("a", 1<<63)}, 32, "", "a", "negative"},
		{"element overflow", nil, []TensorInfo{f32("a", 1<<32, 1<<31)}, 32, "", "a", "overflows int64"},
		{"byte size overflow", nil, []TensorInfo{f32("a", 1<<62)}, 32, "", "a", "data size"},
		{"unknown tensor type", nil, []TensorInfo{{Name: "a", Dims: []uint64{1}, Type: 4}}, 32, "", "a", "unknown ggml type 4"},
		{"row not block multiple", nil, []TensorInfo{{Name: "a", Dims: []uint64{48, 2}, Type: ggml.Q4_K}}, 32, "", "a", "not a multiple of the block size 256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewLayout(tc.kv, tc.tensors, tc.align)
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, ErrFormat) {
				t.Fatalf("got %v, want a FormatError", err)
			}
			if fe.Key != tc.key || fe.Tensor != tc.tensor || !strings.Contains(fe.Msg, tc.want) || fe.Offset != -1 {
				t.Errorf("got key %q tensor %q offset %d msg %q; want key %q tensor %q msg containing %q",
					fe.Key, fe.Tensor, fe.Offset, fe.Msg, tc.key, tc.tensor, tc.want)
			}
		})
	}
}
