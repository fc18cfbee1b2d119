package convert

import (
	"os"
	"path/filepath"
	"testing"

	parser "github.com/gpustack/gguf-parser-go"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/inspect"
	"github.com/mxq-dev/mxq/internal/fixture"
)

// An independent GGUF reader accepts the file and sees the llama.cpp
// metadata with the value types llama.cpp's loader insists on.
func TestIndependentReaderAcceptsOutput(t *testing.T) {
	src := openTiny(t)
	out := writeGGUF(t, src, GGUFOptions{FileType: ggml.FileTypeQ4_K_M})
	pf, err := parser.ParseGGUFFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if pf.Header.Version != parser.GGUFVersionV3 {
		t.Fatalf("version %v", pf.Header.Version)
	}
	kv := map[string]parser.GGUFMetadataKV{}
	for _, e := range pf.Header.MetadataKV {
		kv[e.Key] = e
	}
	for key, typ := range map[string]parser.GGUFMetadataValueType{
		"general.architecture":                   parser.GGUFMetadataValueTypeString,
		"general.file_type":                      parser.GGUFMetadataValueTypeUint32,
		"general.quantization_version":           parser.GGUFMetadataValueTypeUint32,
		"llama.block_count":                      parser.GGUFMetadataValueTypeUint32,
		"llama.context_length":                   parser.GGUFMetadataValueTypeUint32,
		"llama.embedding_length":                 parser.GGUFMetadataValueTypeUint32,
		"llama.feed_forward_length":              parser.GGUFMetadataValueTypeUint32,
		"llama.attention.head_count":             parser.GGUFMetadataValueTypeUint32,
		"llama.attention.head_count_kv":          parser.GGUFMetadataValueTypeUint32,
		"llama.expert_count":                     parser.GGUFMetadataValueTypeUint32,
		"llama.expert_used_count":                parser.GGUFMetadataValueTypeUint32,
		"llama.rope.freq_base":                   parser.GGUFMetadataValueTypeFloat32,
		"llama.attention.layer_norm_rms_epsilon": parser.GGUFMetadataValueTypeFloat32,
		"tokenizer.ggml.model":                   parser.GGUFMetadataValueTypeString,
		"tokenizer.ggml.tokens":                  parser.GGUFMetadataValueTypeArray,
	} {
		e, ok := kv[key]
		if !ok {
			t.Errorf("missing %s", key)
			continue
		}
		if e.ValueType != typ {
			t.Errorf("%s has type %v, want %v", key, e.ValueType, typ)
		}
	}
	if v := kv["general.architecture"].ValueString(); v != "llama" {
		t.Errorf("architecture %q", v)
	}
	if v := kv["general.file_type"].ValueUint32(); v != uint32(ggml.FileTypeQ4_K_M) {
		t.Errorf("file type %d", v)
	}
	if len(pf.TensorInfos) != len(src.Config.GGUFTensors()) {
		t.Fatalf("%d tensors", len(pf.TensorInfos))
	}
	var running uint64
	for _, ti := range pf.TensorInfos {
		if len(ti.Name) > 63 {
			t.Errorf("name %s longer than 63 bytes", ti.Name)
		}
		if ti.Offset != running {
			t.Errorf("%s at %d, want %d", ti.Name, ti.Offset, running)
		}
		running += (ti.Bytes() + 31) / 32 * 32
	}
}

// inspect reads the same parameter counts from the output as from the
// source.
func TestInspectOutputMatchesSource(t *testing.T) {
	src := openTiny(t)
	out := writeGGUF(t, src, GGUFOptions{FileType: ggml.FileTypeQ4_K_M})
	a, err := inspect.Inspect(tinyDir, inspect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := inspect.Inspect(out, inspect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Params.Total != 7_214_336 || b.Params.Total != a.Params.Total || b.Params.Active != a.Params.Active || b.Params.Shared != a.Params.Shared {
		t.Fatalf("source total %d active %d shared %d; output total %d active %d shared %d",
			a.Params.Total, a.Params.Active, a.Params.Shared, b.Params.Total, b.Params.Active, b.Params.Shared)
	}
}

// Requantizing mxq's F32 GGUF gives the same bytes as quantizing the HF
// checkpoint directly: the F32 file holds exactly the converted model.
func TestGGUFSourceMatchesHFSource(t *testing.T) {
	src := openTiny(t)
	direct := writeGGUF(t, src, GGUFOptions{FileType: ggml.FileTypeQ4_K_M})
	f32 := writeGGUF(t, src, GGUFOptions{FileType: ggml.FileTypeAllF32})
	gsrc, err := OpenSource(f32)
	if err != nil {
		t.Fatal(err)
	}
	defer gsrc.Close()
	viaGGUF := writeGGUF(t, gsrc, GGUFOptions{FileType: ggml.FileTypeQ4_K_M})
	a, b := readTensorData(t, direct), readTensorData(t, viaGGUF)
	if len(a) != len(b) {
		t.Fatalf("%d vs %d tensors", len(a), len(b))
	}
	for name, da := range a {
		if string(da) != string(b[name]) {
			t.Fatalf("%s differs between direct and F32-GGUF routes", name)
		}
	}
}

func readTensorData(t *testing.T, path string) map[string][]byte {
	t.Helper()
	src, err := OpenSource(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out := map[string][]byte{}
	for i := range src.GGUF().Tensors {
		ti := &src.GGUF().Tensors[i]
		_, raw := readGGUFTensor(t, src.GGUF(), ti.Name)
		out[ti.Name] = raw
	}
	return out
}

// On the full-size Mixtral-8x7B layout (sparse files: real headers, no
// data), the plans give llama-quantize's type mixes and tensor sizes.
func TestFullSizePlan(t *testing.T) {
	dir := t.TempDir()
	meta := "../testdata/mixtral-8x7b-meta"
	if err := fixture.WriteSparseMixtral(dir, filepath.Join(meta, "model.safetensors.index.json"), filepath.Join(meta, "config.json")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tokenizer.model", "tokenizer_config.json"} {
		data, err := os.ReadFile(filepath.Join(meta, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src, err := OpenSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	want := map[ggml.FileType]int64{
		ggml.FileTypeMostlyF16: 93_408_215_040,
		ggml.FileTypeQ8_0:      49_625_579_520,
		ggml.FileTypeQ6_K:      38_380_077_056,
		ggml.FileTypeQ5_K_M:    33_228_840_960,
		ggml.FileTypeQ4_K_M:    28_447_727_616,
		ggml.FileTypeQ4_0:      26_442_850_304,
	}
	for ft, bytes := range want {
		p, err := PlanGGUF(src, GGUFOptions{FileType: ft})
		if err != nil {
			t.Fatal(err)
		}
		r := p.Report("")
		if r.TensorBytes != bytes || r.Params != 46_702_792_704 {
			t.Errorf("%s: %d tensor bytes, %d params; want %d, 46702792704", ft, r.TensorBytes, r.Params, bytes)
		}
		if len(r.Tensors) != 323 {
			t.Errorf("%s: %d tensors, want 323", ft, len(r.Tensors))
		}
	}
}
