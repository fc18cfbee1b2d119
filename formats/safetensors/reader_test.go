package safetensors

import (
	"bytes"
	"errors"
	"io"
	"math"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
)

func TestTinyMixtralCheckpoint(t *testing.T) {
	c, err := OpenCheckpoint(tinyDir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	if got, want := c.IndexPath, filepath.Join(tinyDir, IndexFileName); got != want {
		t.Errorf("IndexPath = %q, want %q", got, want)
	}
	if len(c.Files) != 3 {
		t.Fatalf("%d files, want 3", len(c.Files))
	}
	tensors := c.Tensors()
	if len(tensors) != 65 {
		t.Errorf("%d tensors, want 65", len(tensors))
	}
	if !slices.IsSortedFunc(tensors, func(a, b Tensor) int { return cmpString(a.Name, b.Name) }) {
		t.Error("Tensors() not sorted by name")
	}
	var params, bytesSum int64
	for _, tn := range tensors {
		if tn.DType != BF16 {
			t.Errorf("%s: dtype %s, want BF16", tn.Name, tn.DType)
		}
		params += tn.NumElements()
		bytesSum += tn.ByteSize()
	}
	if params != 7_214_336 {
		t.Errorf("parameters = %d, want 7214336", params)
	}
	if c.TotalSize != 14_428_672 || bytesSum != c.TotalSize || c.DataSize() != c.TotalSize {
		t.Errorf("TotalSize %d, sum of tensor bytes %d, DataSize %d; want all 14428672", c.TotalSize, bytesSum, c.DataSize())
	}
	for _, f := range c.Files {
		if f.Metadata["format"] != "pt" {
			t.Errorf("%s: metadata %v, want format=pt", f.Name, f.Metadata)
		}
		if f.DataOffset%8 != 0 {
			t.Errorf("%s: data offset %d not 8-aligned", f.Name, f.DataOffset)
		}
	}

	shapes := map[string][]int64{
		"model.embed_tokens.weight":                           {1024, 256},
		"lm_head.weight":                                      {1024, 256},
		"model.layers.0.self_attn.q_proj.weight":              {256, 256},
		"model.layers.0.self_attn.k_proj.weight":              {128, 256},
		"model.layers.1.block_sparse_moe.gate.weight":         {8, 256},
		"model.layers.0.block_sparse_moe.experts.7.w1.weight": {512, 256},
		"model.layers.1.block_sparse_moe.experts.0.w2.weight": {256, 512},
		"model.norm.weight":                                   {256},
	}
	for name, want := range shapes {
		tn, ok := c.Lookup(name)
		if !ok {
			t.Errorf("Lookup(%q) failed", name)
			continue
		}
		if !slices.Equal(tn.Shape, want) {
			t.Errorf("%s: shape %v, want %v", name, tn.Shape, want)
		}
	}
	if _, ok := c.Lookup("model.layers.2.mlp.weight"); ok {
		t.Error("Lookup of an absent tensor succeeded")
	}
}

// The first values of some tensors, decoded from the shards by an
// independent script (bf16 bits << 16 read as float32).
func TestTinyMixtralValues(t *testing.T) {
	c, err := OpenCheckpoint(tinyDir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := map[string][]float32{
		"model.layers.0.self_attn.k_proj.weight":      {-0.00142669677734375, 0.015869140625, 0.00160980224609375, 0.036376953125, -0.0269775390625, -0.00482177734375, 0.01495361328125, 0.06396484375},
		"model.layers.1.block_sparse_moe.gate.weight": {0.1689453125, 0.388671875, 0.2021484375, -0.2373046875, 0.0625, -0.1376953125, 0.7109375, -0.150390625},
		"model.norm.weight":                           {1.078125, 0.97265625, 0.87890625, 0.9765625, 0.9453125, 1.0234375, 0.96875, 0.8828125},
	}
	for name, first := range want {
		tn, _ := c.Lookup(name)
		got := make([]float32, tn.NumElements())
		if err := tn.ReadFloat32(got); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got[:len(first)], first) {
			t.Errorf("%s: first values %v, want %v", name, got[:len(first)], first)
		}
	}

	// A tensor larger than one 64 KiB chunk decodes the same as its raw bytes.
	tn, _ := c.Lookup("model.embed_tokens.weight")
	raw := make([]byte, tn.End-tn.Begin)
	if err := tn.ReadRaw(raw); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, tn.NumElements())
	if err := tn.ReadFloat32(got); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		bits := uint32(raw[2*i]) | uint32(raw[2*i+1])<<8
		if math.Float32bits(got[i]) != bits<<16 {
			t.Fatalf("element %d: %v, raw bf16 %#04x", i, got[i], bits)
		}
	}
	streamed, err := io.ReadAll(tn.Open())
	if err != nil || !bytes.Equal(streamed, raw) {
		t.Errorf("Open() returned different bytes than ReadRaw (err %v)", err)
	}
}

// countingReaderAt counts ReadAt calls, standing in for syscalls.
type countingReaderAt struct {
	r     io.ReaderAt
	calls atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.calls.Add(1)
	return c.r.ReadAt(p, off)
}

// A header is read with as few reads as possible, never per tensor.
func TestNewFileReadCount(t *testing.T) {
	small := buildFile(t, map[string]string{"format": "pt"}, []TensorInfo{{Name: "a", DType: F32, Shape: []int64{4}}})
	big := make([]TensorInfo, 2000)
	for i := range big {
		big[i] = TensorInfo{Name: "layer." + string(rune('a'+i%26)) + itoa(i), DType: BF16, Shape: []int64{2}}
	}
	large := buildFile(t, nil, big) // header > firstRead
	for _, tc := range []struct {
		name  string
		data  []byte
		reads int64
	}{{"small header", small, 1}, {"large header", large, 2}} {
		cr := &countingReaderAt{r: bytes.NewReader(tc.data)}
		f, err := NewFile(cr, int64(len(tc.data)), tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if got := cr.calls.Load(); got != tc.reads {
			t.Errorf("%s (%d-byte header, %d tensors): %d reads, want %d", tc.name, f.HeaderSize, len(f.Tensors), got, tc.reads)
		}
	}
}

func TestReaderAcceptsReferenceVariants(t *testing.T) {
	f32 := func(vals ...float32) []byte {
		var b []byte
		for _, v := range vals {
			b = append(b, le32(math.Float32bits(v))...)
		}
		return b
	}
	tests := []struct {
		name  string
		file  []byte
		check func(*testing.T, *File)
	}{
		{"empty", rawFile("{}", nil), func(t *testing.T, f *File) {
			if len(f.Tensors) != 0 || f.Metadata != nil {
				t.Errorf("got %v %v", f.Tensors, f.Metadata)
			}
		}},
		{"tensors listed out of data order", rawFile(`{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32(1, 2)), func(t *testing.T, f *File) {
			if f.Tensors[0].Name != "a" || f.Tensors[1].Name != "b" {
				t.Errorf("not sorted by offset: %v", f.Tensors)
			}
		}},
		{"null metadata, padding, unknown field", rawFile(`{"__metadata__":null,"s":{"shape":[],"dtype":"F32","data_offsets":[0,4],"extra":[1,{"x":2}]}}   `, f32(7)), func(t *testing.T, f *File) {
			s, _ := f.Lookup("s")
			if f.Metadata != nil || len(s.Shape) != 0 || s.NumElements() != 1 {
				t.Errorf("metadata %v, scalar %+v", f.Metadata, s)
			}
		}},
		{"zero-sized tensors share an offset", rawFile(`{"z":{"dtype":"F64","shape":[0,3],"data_offsets":[0,0]},"y":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"x":{"dtype":"BOOL","shape":[5,0],"data_offsets":[2,2]}}`, []byte{1, 2}), func(t *testing.T, f *File) {
			if len(f.Tensors) != 3 || f.Tensors[len(f.Tensors)-1].End != 2 {
				t.Errorf("tensors %v", f.Tensors)
			}
		}},
		{"escaped names", rawFile(`{"a\"b\\c\u00e9\n\/\ud83d\ude00\t\b\f\r":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}`, []byte{9}), func(t *testing.T, f *File) {
			if _, ok := f.Lookup("a\"b\\cé\n/😀\t\b\f\r"); !ok {
				t.Errorf("tensors %v", f.Tensors)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFile(bytes.NewReader(tt.file), int64(len(tt.file)), tt.name)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, f)
		})
	}
}

func TestReadFloat32Errors(t *testing.T) {
	data := buildFile(t, nil, []TensorInfo{
		{Name: "ids", DType: I32, Shape: []int64{2}},
		{Name: "w", DType: F16, Shape: []int64{3}},
	})
	f, err := NewFile(bytes.NewReader(data), int64(len(data)), "e.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := f.Lookup("ids")
	err = Tensor{*ids, f}.ReadFloat32(make([]float32, 2))
	if !errors.Is(err, ErrUnsupported) || !contains(err.Error(), `"ids"`, "I32", "e.safetensors") {
		t.Errorf("I32 ReadFloat32: %v", err)
	}
	w, _ := f.Lookup("w")
	if err := (Tensor{*w, f}).ReadFloat32(make([]float32, 2)); err == nil || !contains(err.Error(), `"w"`, "3") {
		t.Errorf("short dst: %v", err)
	}
	if err := (Tensor{*w, f}).ReadRaw(make([]byte, 5)); err == nil || !contains(err.Error(), `"w"`, "6") {
		t.Errorf("short raw dst: %v", err)
	}

	// A file that shrank after its header was read reports the tensor.
	g, err := NewFile(bytes.NewReader(data), int64(len(data)), "e.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	g.r = bytes.NewReader(data[:len(data)-1])
	w, _ = g.Lookup("w")
	if err := (Tensor{*w, g}).ReadFloat32(make([]float32, 3)); !errors.Is(err, io.ErrUnexpectedEOF) || !contains(err.Error(), `"w"`) {
		t.Errorf("truncated data: %v", err)
	}
}

func TestDTypes(t *testing.T) {
	sizes := map[DType]int{BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
		I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8}
	all := DTypes()
	if len(all) != 15 {
		t.Fatalf("%d dtypes, want 15", len(all))
	}
	for _, d := range all {
		if d.Size() != sizes[d] || !d.Known() {
			t.Errorf("%s: size %d known %v, want %d", d, d.Size(), d.Known(), sizes[d])
		}
	}
	for _, d := range []DType{"", "F8_E8M0", "f32", "C64"} {
		if d.Size() != 0 || d.Known() {
			t.Errorf("%q: size %d, known %v", d, d.Size(), d.Known())
		}
	}
}
