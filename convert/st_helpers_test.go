package convert

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/x448/float16"

	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/report"
)

// stOpen opens a source for a test and closes it at the end.
func stOpen(t testing.TB, path string) *Source {
	t.Helper()
	src, err := OpenSource(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// stWrite plans and writes src to a new folder and returns it.
func stWrite(t *testing.T, src *Source, opts SafetensorsOptions) (string, *report.Report) {
	t.Helper()
	p, err := PlanSafetensors(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	r, err := p.Write(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	return out, r
}

// stTinyGGUF converts tiny-mixtral to a GGUF of file type ft.
func stTinyGGUF(t *testing.T, ft ggml.FileType) string {
	t.Helper()
	p, err := PlanGGUF(stOpen(t, tinyDir), GGUFOptions{FileType: ft})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "tiny-"+ft.String()+".gguf")
	if _, err := p.Write(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	return out
}

// stTensorData is one tensor read back from a written checkpoint.
type stTensorData struct {
	DType safetensors.DType
	Shape []int64
	Data  []byte
}

// stReadCheckpoint reads every tensor of the checkpoint in dir.
func stReadCheckpoint(t *testing.T, dir string) map[string]stTensorData {
	t.Helper()
	c, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := map[string]stTensorData{}
	for _, tn := range c.Tensors() {
		buf := make([]byte, tn.End-tn.Begin)
		if err := tn.ReadRaw(buf); err != nil {
			t.Fatal(err)
		}
		out[tn.Name] = stTensorData{DType: tn.DType, Shape: tn.Shape, Data: buf}
	}
	return out
}

// floats decodes a float tensor with conversions written from the format
// definitions, not the package's kernels.
func stFloats(t *testing.T, name string, f stTensorData) []float32 {
	t.Helper()
	var out []float32
	switch f.DType {
	case safetensors.F32:
		for i := 0; i < len(f.Data); i += 4 {
			out = append(out, math.Float32frombits(binary.LittleEndian.Uint32(f.Data[i:])))
		}
	case safetensors.F16:
		for i := 0; i < len(f.Data); i += 2 {
			out = append(out, float16.Frombits(binary.LittleEndian.Uint16(f.Data[i:])).Float32())
		}
	case safetensors.BF16:
		for i := 0; i < len(f.Data); i += 2 {
			out = append(out, math.Float32frombits(uint32(binary.LittleEndian.Uint16(f.Data[i:]))<<16))
		}
	default:
		t.Fatalf("tensor %s: dtype %s is not a float", name, f.DType)
	}
	return out
}

func stWords(data []byte) []uint32 {
	out := make([]uint32, len(data)/4)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(data[4*i:])
	}
	return out
}

func stReadJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// stNoLeftovers fails if dir holds anything but the names given.
func stNoLeftovers(t *testing.T, dir string, keep ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var extra []string
	for _, e := range entries {
		found := false
		for _, k := range keep {
			found = found || e.Name() == k
		}
		if !found {
			extra = append(extra, e.Name())
		}
	}
	if len(extra) > 0 {
		t.Errorf("%s holds %s", dir, strings.Join(extra, ", "))
	}
}
