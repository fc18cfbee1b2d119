package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fuzzSeeds returns the real shard headers followed by a little fake data,
// small valid files from the writer, and every malformed case.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	paths, _ := filepath.Glob(filepath.Join(tinyDir, "*.safetensors"))
	for _, p := range paths {
		seeds = append(seeds, append(readHeader(t, p), make([]byte, 64)...))
	}
	seeds = append(seeds,
		buildFile(t, nil, nil),
		buildFile(t, map[string]string{"format": "pt"}, []TensorInfo{
			{Name: "model.norm.weight", DType: BF16, Shape: []int64{4}},
			{Name: "lm_head.weight", DType: F32, Shape: []int64{2, 3}},
			{Name: "q", DType: I32, Shape: []int64{1}},
			{Name: "s", DType: F16, Shape: []int64{}},
			{Name: "z", DType: F64, Shape: []int64{0, 2}},
		}),
		rawFile(`{"__metadata__":null,"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2],"x":{"y":[true,null,-1.5e3,"\u00e9\ud83d\ude00"]}},"a":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}}`, []byte{1, 2}),
	)
	for _, b := range badFiles() {
		seeds = append(seeds, b.data)
	}
	return seeds
}

func FuzzNewFile(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.safetensors"
		file, err := NewFile(bytes.NewReader(data), int64(len(data)), name)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, ErrFormat) {
				t.Fatalf("error is not a FormatError: %v", err)
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\r\n") || !strings.HasPrefix(msg, "safetensors: "+name+": ") {
				t.Fatalf("badly formed error %q", msg)
			}
			if fe.Offset > int64(len(data)) {
				t.Fatalf("error offset %d past the %d-byte input: %v", fe.Offset, len(data), err)
			}
			return
		}
		checkAgainstEncodingJSON(t, data[8:file.DataOffset], file)

		// The tensors tile the data section.
		var end int64
		for _, ti := range file.Tensors {
			if ti.Begin != end || ti.End-ti.Begin != ti.ByteSize() {
				t.Fatalf("tensor %q at [%d, %d], previous end %d, size %d", ti.Name, ti.Begin, ti.End, end, ti.ByteSize())
			}
			end = ti.End
		}
		if file.DataOffset+end != file.Size || file.Size != int64(len(data)) {
			t.Fatalf("data ends at %d, file size %d", file.DataOffset+end, file.Size)
		}

		// Every tensor reads back; floats decode.
		raw := map[string][]byte{}
		for _, ti := range file.Tensors {
			tn := Tensor{ti, file}
			buf := make([]byte, ti.End-ti.Begin)
			if err := tn.ReadRaw(buf); err != nil {
				t.Fatal(err)
			}
			raw[ti.Name] = buf
			if CanReadFloat32(ti.DType) {
				if err := tn.ReadFloat32(make([]float32, ti.NumElements())); err != nil {
					t.Fatal(err)
				}
			}
		}

		// The writer can lay the same tensors out again, and the result
		// reads back identically (names the writer refuses are skipped).
		if _, empty := file.Lookup(""); empty {
			return
		}
		l, err := NewLayout(file.Metadata, file.Tensors)
		if err != nil {
			t.Fatalf("NewLayout of a valid file: %v", err)
		}
		out := l.Header()
		for _, ti := range l.Tensors() {
			out = append(out, raw[ti.Name]...)
		}
		again, err := NewFile(bytes.NewReader(out), int64(len(out)), "rewritten")
		if err != nil {
			t.Fatalf("rewritten file: %v", err)
		}
		if !maps.Equal(again.Metadata, file.Metadata) || (again.Metadata == nil) != (file.Metadata == nil) {
			t.Fatalf("metadata %v became %v", file.Metadata, again.Metadata)
		}
		if len(again.Tensors) != len(file.Tensors) {
			t.Fatalf("%d tensors became %d", len(file.Tensors), len(again.Tensors))
		}
		for _, ti := range again.Tensors {
			old, ok := file.Lookup(ti.Name)
			if !ok || old.DType != ti.DType || !slices.Equal(old.Shape, ti.Shape) {
				t.Fatalf("tensor %q changed: %+v -> %+v", ti.Name, old, ti)
			}
			b := make([]byte, ti.End-ti.Begin)
			if err := (Tensor{ti, again}).ReadRaw(b); err != nil || !bytes.Equal(b, raw[ti.Name]) {
				t.Fatalf("tensor %q data changed (err %v)", ti.Name, err)
			}
		}
		if l2, err := NewLayout(again.Metadata, again.Tensors); err != nil || !bytes.Equal(l2.Header(), l.Header()) {
			t.Fatalf("layout not deterministic (err %v)", err)
		}
	})
}

// checkAgainstEncodingJSON cross-checks an accepted header with
// encoding/json: it must be valid JSON and describe the same tensors.
func checkAgainstEncodingJSON(t *testing.T, hdr []byte, file *File) {
	t.Helper()
	if !json.Valid(hdr) {
		t.Fatalf("accepted a header encoding/json rejects: %q", hdr)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &top); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	n := len(top)
	if meta, ok := top["__metadata__"]; ok {
		n--
		var m map[string]string
		if err := json.Unmarshal(meta, &m); err != nil || !maps.Equal(m, file.Metadata) {
			t.Fatalf("metadata: encoding/json %v (err %v), parsed %v", m, err, file.Metadata)
		}
	}
	if n != len(file.Tensors) {
		t.Fatalf("encoding/json sees %d tensors, parsed %d", n, len(file.Tensors))
	}
	for _, ti := range file.Tensors {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(top[ti.Name], &fields); err != nil {
			t.Fatalf("tensor %q: %v", ti.Name, err)
		}
		var dtype string
		var shape, offs []int64
		if json.Unmarshal(fields["dtype"], &dtype) != nil || json.Unmarshal(fields["shape"], &shape) != nil ||
			json.Unmarshal(fields["data_offsets"], &offs) != nil {
			t.Fatalf("tensor %q: encoding/json cannot read %s", ti.Name, top[ti.Name])
		}
		if DType(dtype) != ti.DType || !slices.Equal(shape, ti.Shape) || len(offs) != 2 || offs[0] != ti.Begin || offs[1] != ti.End {
			t.Fatalf("tensor %q: encoding/json reads %s %v %v, parsed %+v", ti.Name, dtype, shape, offs, ti)
		}
	}
}

func FuzzParseIndex(f *testing.F) {
	for _, p := range []string{"../../testdata/mixtral-8x7b-meta/" + IndexFileName, tinyDir + "/" + IndexFileName} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"metadata":{"total_size":1.0e1,"x":[{}]},"weight_map":{"a\u00e9":"m.safetensors"},"extra":null}`))
	f.Add([]byte(`{"weight_map":{"a":"x","a":"y"}}`))
	f.Add([]byte(`{"metadata":{"total_size":-3},"weight_map":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := ParseIndex(data, "index.json")
		if err != nil {
			if !errors.Is(err, ErrFormat) || strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("bad error: %v", err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		var top map[string]json.RawMessage
		var wm map[string]string
		if json.Unmarshal(data, &top) != nil || json.Unmarshal(top["weight_map"], &wm) != nil || !maps.Equal(wm, idx.WeightMap) {
			t.Fatalf("encoding/json reads weight_map %v, parsed %v", wm, idx.WeightMap)
		}
		out, err := MarshalIndex(idx)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseIndex(out, "again")
		if err != nil || back.TotalSize != idx.TotalSize || !maps.Equal(back.WeightMap, idx.WeightMap) {
			t.Fatalf("round trip: %+v -> %+v (err %v)", idx, back, err)
		}
	})
}
