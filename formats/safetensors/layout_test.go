package safetensors

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The writer reproduces the headers the safetensors library wrote for the
// tiny-mixtral shards, byte for byte.
func TestLayoutMatchesReferenceWriter(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(tinyDir, "*.safetensors"))
	if len(paths) != 3 {
		t.Fatalf("found %d shards, want 3", len(paths))
	}
	for _, p := range paths {
		f, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		// Shuffle the input: the layout must not depend on it.
		in := slices.Clone(f.Tensors)
		slices.Reverse(in)
		l, err := NewLayout(f.Metadata, in)
		if err != nil {
			t.Fatal(err)
		}
		if want := readHeader(t, p); !bytes.Equal(l.Header(), want) {
			t.Errorf("%s: header differs\n got %q\nwant %q", p, l.Header(), want)
		}
		if l.Size() != f.Size || l.DataOffset() != f.DataOffset {
			t.Errorf("%s: size %d data offset %d, want %d %d", p, l.Size(), l.DataOffset(), f.Size, f.DataOffset)
		}
		for _, tn := range f.Tensors {
			off, ok := l.Offset(tn.Name)
			if !ok || off != f.DataOffset+tn.Begin {
				t.Errorf("%s: Offset(%s) = %d, %v; want %d", p, tn.Name, off, ok, f.DataOffset+tn.Begin)
			}
		}
		f.Close()
	}
}

// Expected bytes from the reference implementation's own serializer tests.
func TestLayoutReferenceVectors(t *testing.T) {
	tests := []struct {
		meta    map[string]string
		tensors []TensorInfo
		json    string
	}{
		{nil, []TensorInfo{{Name: "attn.0", DType: F32, Shape: []int64{1, 2, 3}}},
			`{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}`},
		{nil, []TensorInfo{{Name: "attn0", DType: F32, Shape: []int64{1, 1, 2, 3}}},
			`{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       `},
		{nil, nil, `{}      `},
		{map[string]string{"framework": "pt"}, nil, `{"__metadata__":{"framework":"pt"}}     `},
	}
	for _, tt := range tests {
		l, err := NewLayout(tt.meta, tt.tensors)
		if err != nil {
			t.Fatal(err)
		}
		want := binary.LittleEndian.AppendUint64(nil, uint64(len(tt.json)))
		want = append(want, tt.json...)
		if got := l.Header(); !bytes.Equal(got, want) {
			t.Errorf("header %q, want %q", got, want)
		}
	}
}

func TestLayoutOrderAndEscaping(t *testing.T) {
	var in []TensorInfo
	for _, d := range DTypes() {
		in = append(in, TensorInfo{Name: "t_" + string(d), DType: d, Shape: []int64{3}})
	}
	in = append(in, TensorInfo{Name: "a_F32", DType: F32, Shape: []int64{}}, TensorInfo{Name: "z\"\\\n\x01\x7fé<>&\u2028", DType: U8, Shape: []int64{1}})
	l, err := NewLayout(map[string]string{"b": "2", "a": "1", "": ""}, in)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, tn := range l.Tensors() {
		order = append(order, tn.Name)
	}
	want := []string{"t_U64", "t_I64", "t_F64", "a_F32", "t_F32", "t_U32", "t_I32", "t_BF16", "t_F16", "t_U16", "t_I16",
		"t_F8_E4M3", "t_F8_E5M2", "t_I8", "t_U8", "z\"\\\n\x01\x7fé<>&\u2028", "t_BOOL"}
	if !slices.Equal(order, want) {
		t.Errorf("order %q\nwant  %q", order, want)
	}
	hdr := string(l.Header()[8:])
	if !strings.HasPrefix(hdr, `{"__metadata__":{"":"","a":"1","b":"2"},"t_U64":`) {
		t.Errorf("header starts %q", hdr[:60])
	}
	if !strings.Contains(hdr, `"z\"\\\n\u0001`+"\x7fé<>&\u2028"+`":`) {
		t.Errorf("name not escaped as serde_json does: %q", hdr)
	}
	if len(hdr)%8 != 0 {
		t.Errorf("JSON length %d not a multiple of 8", len(hdr))
	}
	// Every tensor is naturally aligned in the file.
	for _, tn := range l.Tensors() {
		off, _ := l.Offset(tn.Name)
		if off%int64(tn.DType.Size()) != 0 {
			t.Errorf("%s at %d not aligned to %d", tn.Name, off, tn.DType.Size())
		}
	}
	// The reader agrees.
	data := buildFile(t, map[string]string{"b": "2"}, in)
	f, err := NewFile(bytes.NewReader(data), int64(len(data)), "order")
	if err != nil {
		t.Fatal(err)
	}
	for i, tn := range f.Tensors {
		if tn.Name != want[i] {
			t.Errorf("reader tensor %d = %q, want %q", i, tn.Name, want[i])
		}
	}
}

func TestNewLayoutErrors(t *testing.T) {
	ok := TensorInfo{Name: "w", DType: F32, Shape: []int64{2}}
	tests := []struct {
		name    string
		meta    map[string]string
		tensors []TensorInfo
		want    string
	}{
		{"duplicate", nil, []TensorInfo{ok, ok}, `"w": duplicate`},
		{"unknown dtype", nil, []TensorInfo{{Name: "x", DType: "F4", Shape: []int64{1}}}, `"x": unknown dtype "F4"`},
		{"negative dim", nil, []TensorInfo{{Name: "x", DType: U8, Shape: []int64{-1}}}, `"x": invalid shape`},
		{"overflow", nil, []TensorInfo{{Name: "x", DType: U64, Shape: []int64{1 << 31, 1 << 31, 4}}}, `"x": invalid shape`},
		{"total overflow", nil, []TensorInfo{{Name: "x", DType: U8, Shape: []int64{1 << 62}}, {Name: "y", DType: U8, Shape: []int64{1 << 62}}, {Name: "z", DType: U8, Shape: []int64{1 << 62}}}, "exceeds"},
		{"empty name", nil, []TensorInfo{{Name: "", DType: U8}}, `invalid tensor name ""`},
		{"reserved name", nil, []TensorInfo{{Name: "__metadata__", DType: U8}}, "invalid tensor name"},
		{"bad UTF-8 name", nil, []TensorInfo{{Name: "\xff", DType: U8}}, "UTF-8"},
		{"bad UTF-8 metadata", map[string]string{"k": "\xff"}, nil, `metadata "k"`},
	}
	for _, tt := range tests {
		if _, err := NewLayout(tt.meta, tt.tensors); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want error containing %q", tt.name, err, tt.want)
		}
	}
}

// The layout copies its input, so later changes by the caller do not leak in.
func TestLayoutOwnsItsData(t *testing.T) {
	shape := []int64{2, 3}
	l, err := NewLayout(nil, []TensorInfo{{Name: "w", DType: F32, Shape: shape}})
	if err != nil {
		t.Fatal(err)
	}
	shape[0] = 100
	l.Tensors()[0].Shape[1] = 100
	l.Header()[8] = 'x'
	tn, _ := l.Lookup("w")
	if !slices.Equal(tn.Shape, []int64{2, 3}) || l.Header()[8] != '{' {
		t.Errorf("layout changed: %v %q", tn.Shape, l.Header())
	}
	if _, ok := l.Offset("nope"); ok {
		t.Error("Offset of unknown tensor succeeded")
	}
}

func ExampleNewLayout() {
	l, _ := NewLayout(map[string]string{"format": "pt"}, []TensorInfo{
		{Name: "scales", DType: F16, Shape: []int64{4}},
		{Name: "qweight", DType: I32, Shape: []int64{2, 4}},
	})
	for _, t := range l.Tensors() {
		off, _ := l.Offset(t.Name)
		fmt.Println(t.Name, t.DType, t.Shape, "at", off)
	}
	fmt.Println("size", l.Size())
	// Output:
	// qweight I32 [2 4] at 168
	// scales F16 [4] at 200
	// size 208
}
