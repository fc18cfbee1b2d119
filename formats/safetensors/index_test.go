package safetensors

import (
	"bytes"
	"os"
	"testing"
)

// MarshalIndex reproduces the index transformers wrote for Mixtral-8x7B
// byte for byte, and tiny-mixtral's up to its missing final newline.
func TestMarshalIndexMatchesReference(t *testing.T) {
	for _, tt := range []struct {
		path        string
		total       int64
		tensors     int
		trimNewline bool
	}{
		{"../../testdata/mixtral-8x7b-meta/" + IndexFileName, 93_405_585_408, 995, false},
		{tinyDir + "/" + IndexFileName, 14_428_672, 65, true},
	} {
		data, err := os.ReadFile(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := ParseIndex(data, tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if idx.TotalSize != tt.total || len(idx.WeightMap) != tt.tensors {
			t.Errorf("%s: total %d, %d tensors; want %d, %d", tt.path, idx.TotalSize, len(idx.WeightMap), tt.total, tt.tensors)
		}
		got, err := MarshalIndex(idx)
		if err != nil {
			t.Fatal(err)
		}
		if tt.trimNewline {
			got = bytes.TrimSuffix(got, []byte("\n"))
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%s: MarshalIndex differs from the file", tt.path)
		}
	}
}

func TestMarshalIndexEscaping(t *testing.T) {
	idx := &Index{TotalSize: -1, WeightMap: map[string]string{"é\"\\\x01\x7f😀<": "model.safetensors", "b": "model.safetensors"}}
	got, err := MarshalIndex(idx)
	if err != nil {
		t.Fatal(err)
	}
	// As Python's json.dumps(indent=2, sort_keys=True) writes it.
	want := "{\n  \"metadata\": {},\n  \"weight_map\": {\n    \"b\": \"model.safetensors\",\n" +
		"    \"\\u00e9\\\"\\\\\\u0001\\u007f\\ud83d\\ude00<\": \"model.safetensors\"\n  }\n}\n"
	if string(got) != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	back, err := ParseIndex(got, "x")
	if err != nil || back.TotalSize != -1 || len(back.WeightMap) != 2 || back.WeightMap["é\"\\\x01\x7f😀<"] != "model.safetensors" {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	if _, err := MarshalIndex(&Index{WeightMap: map[string]string{"\xff": "m"}}); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
}

func TestParseIndexTotalSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{`{"metadata":{"total_size":12},"weight_map":{}}`, 12, true},
		{`{"metadata":{"total_size":12.0,"total_parameters":6},"weight_map":{}}`, 12, true},
		{`{"weight_map":{},"extra":[1,2]}`, -1, true},
		{`{"metadata":{"total_size":-1},"weight_map":{}}`, 0, false},
		{`{"metadata":{"total_size":1.5},"weight_map":{}}`, 0, false},
		{`{"metadata":{},"metadata":{},"weight_map":{}}`, 0, false},
		{`{"weight_map":{}} x`, 0, false},
		{`[]`, 0, false},
	} {
		idx, err := ParseIndex([]byte(tt.in), "i.json")
		if tt.ok != (err == nil) || (tt.ok && idx.TotalSize != tt.want) {
			t.Errorf("ParseIndex(%s) = %+v, %v", tt.in, idx, err)
		}
		if err != nil && !errorsIsFormat(err) {
			t.Errorf("ParseIndex(%s): %v is not ErrFormat", tt.in, err)
		}
	}
}
