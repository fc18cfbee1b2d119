package inspect

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/internal/fixture"
	"github.com/mxq-dev/mxq/model"
	"github.com/mxq-dev/mxq/quantplan"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	tinyDir    = "../testdata/tiny-mixtral"
	metaDir    = "../testdata/mixtral-8x7b-meta"
	fullConfig = metaDir + "/config.json"
)

// sparseDir holds the full-size sparse checkpoint, built once in TestMain.
var sparseDir string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "mxq-inspect-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sparseDir = filepath.Join(dir, "mixtral-8x7b")
	if err := fixture.WriteSparseMixtral(sparseDir, metaDir+"/"+safetensors.IndexFileName, fullConfig); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func mustInspect(t testing.TB, path string, opts Options) *Report {
	t.Helper()
	r, err := Inspect(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d:\n got: %s\nwant: %s\n(run go test -update if the change is intended)", name, i+1, g, w)
			}
		}
	}
}

func renderText(t *testing.T, r *Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func renderJSON(t *testing.T, r *Report) []byte {
	t.Helper()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// writeGGUF writes a header-only GGUF (tensor data left as a hole) of the
// model cfg quantized at ft, with the metadata convert_hf_to_gguf.py writes.
func writeGGUF(t testing.TB, path string, cfg *model.Config, ft ggml.FileType, extraKV ...gguf.KV) {
	t.Helper()
	plan, err := quantplan.Build(ft, quantplan.FromConfig(cfg, ggml.F16), quantplan.Options{TiedEmbeddings: cfg.TieWordEmbeddings})
	if err != nil {
		t.Fatal(err)
	}
	tokens := make([]string, cfg.VocabSize)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("t%d", i)
	}
	kv := []gguf.KV{
		{Key: "general.architecture", Value: gguf.String("llama")},
		{Key: "general.file_type", Value: gguf.Uint32(uint32(ft))},
		{Key: "llama.block_count", Value: gguf.Uint32(uint32(cfg.NumLayers))},
		{Key: "llama.context_length", Value: gguf.Uint32(uint32(cfg.MaxPositionEmbeddings))},
		{Key: "llama.embedding_length", Value: gguf.Uint32(uint32(cfg.HiddenSize))},
		{Key: "llama.feed_forward_length", Value: gguf.Uint32(uint32(cfg.IntermediateSize))},
		{Key: "llama.attention.head_count", Value: gguf.Uint32(uint32(cfg.NumHeads))},
		{Key: "llama.attention.head_count_kv", Value: gguf.Uint32(uint32(cfg.NumKVHeads))},
		{Key: "llama.rope.freq_base", Value: gguf.Float32(float32(cfg.RopeTheta))},
		{Key: "llama.attention.layer_norm_rms_epsilon", Value: gguf.Float32(float32(cfg.RMSNormEps))},
		{Key: "llama.expert_count", Value: gguf.Uint32(uint32(cfg.NumExperts))},
		{Key: "llama.expert_used_count", Value: gguf.Uint32(uint32(cfg.ExpertsPerToken))},
		{Key: "tokenizer.ggml.tokens", Value: gguf.Array(gguf.TypeString, tokens)},
	}
	kv = append(kv, extraKV...)
	var infos []gguf.TensorInfo
	for _, p := range plan.Tensors {
		infos = append(infos, gguf.TensorInfo{Name: p.Name, Dims: p.Dims, Type: p.Type})
	}
	l, err := gguf.NewLayout(kv, infos, gguf.DefaultAlignment)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(l.Header()); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(l.Size()); err != nil {
		t.Fatal(err)
	}
}

// writeShard writes a header-only safetensors file.
func writeShard(t testing.TB, path string, tensors []safetensors.TensorInfo) {
	t.Helper()
	l, err := safetensors.NewLayout(map[string]string{"format": "pt"}, tensors)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, l.Header(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, l.Size()); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func loadConfig(t testing.TB, path string) *model.Config {
	t.Helper()
	c, err := model.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func codes(r *Report) map[string]Severity {
	m := map[string]Severity{}
	for _, f := range r.Findings {
		m[f.Code] = f.Severity
	}
	return m
}

func writeFile(p, s string) error { return os.WriteFile(p, []byte(s), 0o644) }
