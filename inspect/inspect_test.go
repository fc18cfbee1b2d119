package inspect

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/model"
)

// Mixtral-8x7B figures (formats.md §7).
var full = struct {
	total, shared, experts, active, activeNoEmb, dense, naive int64
}{46_702_792_704, 1_605_636_096, 45_097_156_608, 12_879_925_248, 12_748_853_248, 7_242_780_672, 57_942_245_376}

func checkFullSize(t *testing.T, r *Report, from string) {
	t.Helper()
	p := r.Params
	got := []int64{p.Total, p.Shared, p.Experts, p.Active, p.ActiveExcludingEmbedding, r.Naive.DenseEquivalent, r.Naive.NaiveTotal}
	want := []int64{full.total, full.shared, full.experts, full.active, full.activeNoEmb, full.dense, full.naive}
	names := []string{"total", "shared", "experts", "active", "active excluding embedding", "dense equivalent", "naive"}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s = %d, want %d", names[i], got[i], want[i])
		}
	}
	if p.CountedFrom != from {
		t.Errorf("counted from %q, want %q", p.CountedFrom, from)
	}
	if r.Naive.RealTotal != full.total || r.Naive.Overcount != 7*full.shared {
		t.Errorf("naive view %+v", r.Naive)
	}
	for _, w := range []string{"Only the feed-forward experts are replicated", "attention, embeddings, norms and the router", "57.9B", "46.7B"} {
		if !strings.Contains(r.Naive.Explanation+short(r.Naive.NaiveTotal), w) {
			t.Errorf("explanation lacks %q: %s", w, r.Naive.Explanation)
		}
	}
}

func TestTinyMixtral(t *testing.T) {
	r := mustInspect(t, tinyDir, Options{})
	if r.Params.Total != 7_214_336 || r.Params.CountedFrom != "tensors" || r.Params.ConfigTotal != 7_214_336 {
		t.Errorf("total %d (from %s), config %d", r.Params.Total, r.Params.CountedFrom, r.Params.ConfigTotal)
	}
	c := r.Checkpoint
	if c.Files != 3 || c.Tensors != 65 || c.ExpectedTensors != 65 || c.DataBytes != 14_428_672 || c.IndexTotalSize != 14_428_672 {
		t.Errorf("checkpoint %+v", c)
	}
	if len(c.DTypes) != 1 || c.DTypes[0].DType != "BF16" || c.DTypes[0].BitsPerWeight != 16 {
		t.Errorf("dtypes %+v", c.DTypes)
	}
	if len(r.Findings) != 0 {
		t.Errorf("findings on a clean checkpoint: %+v", r.Findings)
	}
	if r.Source.Kind != "safetensors-folder" || r.ConfigOrigin != "config.json" {
		t.Errorf("source %+v origin %s", r.Source, r.ConfigOrigin)
	}
}

func TestFullSizeConfigOnly(t *testing.T) {
	r := mustInspect(t, fullConfig, Options{})
	checkFullSize(t, r, "config")
	if r.Checkpoint != nil || r.Source.Kind != "config" {
		t.Errorf("config-only report has a checkpoint: %+v", r.Source)
	}
	// A folder with only config.json (and tokenizer files) is the same.
	dir := t.TempDir()
	copyFile(t, fullConfig, filepath.Join(dir, "config.json"))
	checkFullSize(t, mustInspect(t, dir, Options{}), "config")
}

func TestFullSizeSparseCheckpoint(t *testing.T) {
	r := mustInspect(t, sparseDir, Options{})
	checkFullSize(t, r, "tensors")
	c := r.Checkpoint
	if c.Files != 19 || c.Tensors != 995 || c.DataBytes != 93_405_585_408 || c.IndexTotalSize != 93_405_585_408 {
		t.Errorf("checkpoint %+v", c)
	}
	if len(r.Findings) != 0 {
		t.Errorf("findings: %+v", r.Findings)
	}
	// The per-layer figures from tensors equal the config arithmetic.
	want := loadConfig(t, fullConfig).Params()
	for i, l := range r.Params.Layers {
		if l != want.Layers[i] {
			t.Errorf("layer %d: %+v, want %+v", i, l, want.Layers[i])
		}
	}
}

// fullsize-counts.json holds what transformers and accelerate report for
// the architecture; each figure must be reproducible from the report.
func TestFullSizeReferenceCounts(t *testing.T) {
	b, err := os.ReadFile("testdata/fullsize-counts.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref map[string]struct {
		Params                     int64 `json:"params"`
		ParamsExcludingEmbeddings  int64 `json:"params_excluding_embeddings"`
		AccelerateTotalFP32Bytes   int64 `json:"accelerate_total_size_fp32_bytes"`
		AccelerateLargestLayerByte int64 `json:"accelerate_largest_layer_bytes"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	m := ref["mixtral-8x7b"]
	for _, path := range []string{fullConfig, sparseDir} {
		r := mustInspect(t, path, Options{})
		f := r.Reference
		if r.Params.Total != m.Params {
			t.Errorf("%s: total %d, transformers %d", path, r.Params.Total, m.Params)
		}
		if f.TransformersExcludingEmbeddings != m.ParamsExcludingEmbeddings {
			t.Errorf("%s: excluding embeddings %d, transformers %d", path, f.TransformersExcludingEmbeddings, m.ParamsExcludingEmbeddings)
		}
		// accelerate's estimate-memory (AutoModel) omits lm_head instead; for
		// Mixtral the two tables are the same size, so the figures agree.
		if f.AccelerateEstimateMemoryParams != m.ParamsExcludingEmbeddings {
			t.Errorf("%s: accelerate estimate-memory params %d", path, f.AccelerateEstimateMemoryParams)
		}
		if f.FP32Bytes+f.RotaryBufferBytes != m.AccelerateTotalFP32Bytes {
			t.Errorf("%s: fp32 %d + buffers %d, accelerate %d", path, f.FP32Bytes, f.RotaryBufferBytes, m.AccelerateTotalFP32Bytes)
		}
		if f.LargestLayerFP32Bytes != m.AccelerateLargestLayerByte {
			t.Errorf("%s: largest layer %d, accelerate %d", path, f.LargestLayerFP32Bytes, m.AccelerateLargestLayerByte)
		}
	}
}

func TestSingleFileWithoutConfig(t *testing.T) {
	dir := t.TempDir()
	// One file holding every tensor of tiny-mixtral, no config.json.
	ck, err := safetensors.OpenCheckpoint(tinyDir)
	if err != nil {
		t.Fatal(err)
	}
	var infos []safetensors.TensorInfo
	for _, tn := range ck.Tensors() {
		infos = append(infos, safetensors.TensorInfo{Name: tn.Name, DType: tn.DType, Shape: tn.Shape})
	}
	ck.Close()
	p := filepath.Join(dir, "model.safetensors")
	writeShard(t, p, infos)
	r := mustInspect(t, p, Options{})
	if r.Params.Total != 7_214_336 || r.ConfigOrigin != "inferred from tensor shapes" || r.Source.Kind != "safetensors-file" {
		t.Errorf("total %d origin %q kind %q", r.Params.Total, r.ConfigOrigin, r.Source.Kind)
	}
	c := r.Config
	if c.NumExperts != 8 || c.NumLayers != 2 || c.HiddenSize != 256 || c.IntermediateSize != 512 || c.VocabSize != 1024 ||
		c.NumKVHeads*c.HeadDim != 128 || c.NumHeads*c.HeadDim != 256 {
		t.Errorf("inferred %+v", c)
	}
	if codes(r)["config-inferred"] != SeverityWarning {
		t.Errorf("no config-inferred finding: %+v", r.Findings)
	}
	if r.Params.ConfigTotal != r.Params.Total || r.Memory.KV.BytesPerToken != 2*2*128*2 {
		t.Errorf("config total %d, KV per token %d", r.Params.ConfigTotal, r.Memory.KV.BytesPerToken)
	}
	// With config.json beside it, the config is read.
	copyFile(t, tinyDir+"/config.json", filepath.Join(dir, "config.json"))
	r = mustInspect(t, p, Options{})
	if r.ConfigOrigin != "config.json" || r.Config.NumHeads != 4 || len(r.Findings) != 0 {
		t.Errorf("origin %q heads %d findings %+v", r.ConfigOrigin, r.Config.NumHeads, r.Findings)
	}
	// The index file itself is accepted as a path.
	r = mustInspect(t, filepath.Join(tinyDir, safetensors.IndexFileName), Options{})
	if r.Params.Total != 7_214_336 || r.Source.Kind != "safetensors-folder" {
		t.Errorf("via index: %d %s", r.Params.Total, r.Source.Kind)
	}
}

func TestGGUF(t *testing.T) {
	dir := t.TempDir()
	cfg := loadConfig(t, fullConfig)
	p := filepath.Join(dir, "mixtral.Q4_K_M.gguf")
	writeGGUF(t, p, cfg, ggml.FileTypeQ4_K_M)
	r := mustInspect(t, p, Options{})
	checkFullSize(t, r, "tensors")
	c := r.Checkpoint
	if c.Format != "gguf" || c.Tensors != 323 || c.ExpectedTensors != 323 || c.DataBytes != 28_447_727_616 || c.GGUFFileType != "Q4_K_M" {
		t.Errorf("checkpoint %+v", c)
	}
	if len(r.Findings) != 0 {
		t.Errorf("findings: %+v", r.Findings)
	}
	g := r.Config
	if g.Architecture != "MixtralForCausalLM" || g.NumLayers != 32 || g.HeadDim != 128 || g.NumKVHeads != 8 ||
		g.VocabSize != 32000 || g.MaxPositionEmbeddings != 32768 || g.RopeTheta != 1e6 || g.TieWordEmbeddings {
		t.Errorf("config from GGUF %+v", g)
	}
	stored := r.Memory.Weights[0]
	if stored.Name != "as stored" || stored.Bytes != 28_447_727_616 || r.Memory.Offload.Weights != "as stored" {
		t.Errorf("stored weights %+v, offload from %s", stored, r.Memory.Offload.Weights)
	}
	// The GGUF as stored and the planned Q4_K_M agree tensor by tensor.
	for _, w := range r.Memory.Weights {
		if w.Name == "Q4_K_M" && (w.Bytes != stored.Bytes || w.ExpertBytes != stored.ExpertBytes) {
			t.Errorf("planned %+v vs stored %+v", w, stored)
		}
	}
}

func TestGGUFDenseTied(t *testing.T) {
	cfg := &model.Config{Architecture: "LlamaForCausalLM", ModelType: "llama", HiddenSize: 256, IntermediateSize: 512,
		NumLayers: 2, NumHeads: 4, NumKVHeads: 4, HeadDim: 64, NumExperts: 1, ExpertsPerToken: 1, VocabSize: 300,
		MaxPositionEmbeddings: 2048, RopeTheta: 1e4, RMSNormEps: 1e-6, TieWordEmbeddings: true}
	p := filepath.Join(t.TempDir(), "dense.gguf")
	writeGGUF(t, p, cfg, ggml.FileTypeQ8_0)
	r := mustInspect(t, p, Options{})
	if !r.Config.TieWordEmbeddings || r.Config.NumExperts != 1 || r.Naive != nil || r.Memory.Offload != nil {
		t.Errorf("config %+v naive %v", r.Config, r.Naive)
	}
	if want := cfg.Params().Total; r.Params.Total != want || len(r.Findings) != 0 {
		t.Errorf("total %d want %d, findings %+v", r.Params.Total, want, r.Findings)
	}
}

func TestFindings(t *testing.T) {
	tiny := loadConfig(t, tinyDir+"/config.json")
	base := func() []safetensors.TensorInfo {
		var out []safetensors.TensorInfo
		for _, e := range tiny.HFTensors() {
			out = append(out, safetensors.TensorInfo{Name: e.Name, DType: safetensors.BF16, Shape: e.Shape})
		}
		return out
	}
	tests := []struct {
		name   string
		edit   func([]safetensors.TensorInfo) []safetensors.TensorInfo
		index  string // total_size to write, "" for no index
		config string // config.json replacement, "" for tiny's
		want   map[string]Severity
	}{
		{"extra unknown tensor", func(ts []safetensors.TensorInfo) []safetensors.TensorInfo {
			return append(ts, safetensors.TensorInfo{Name: "model.layers.0.self_attn.rotary_emb.inv_freq", DType: safetensors.F32, Shape: []int64{32}})
		}, "", "", map[string]Severity{"unrecognized-tensors": SeverityWarning, "params-mismatch": SeverityError,
			"mixed-dtypes": SeverityInfo}},
		{"missing lm_head", func(ts []safetensors.TensorInfo) []safetensors.TensorInfo {
			return ts[:len(ts)-1]
		}, "", "", map[string]Severity{"missing-tensors": SeverityError, "params-mismatch": SeverityError, "group-mismatch": SeverityError}},
		{"wrong shape", func(ts []safetensors.TensorInfo) []safetensors.TensorInfo {
			ts[1].Shape = []int64{128, 256}
			return ts
		}, "", "", map[string]Severity{"shape-mismatch": SeverityError, "params-mismatch": SeverityError,
			"group-mismatch": SeverityError}},
		{"stray layer", func(ts []safetensors.TensorInfo) []safetensors.TensorInfo {
			return append(ts, safetensors.TensorInfo{Name: "model.layers.5.input_layernorm.weight", DType: safetensors.BF16, Shape: []int64{256}})
		}, "", "", map[string]Severity{"unrecognized-tensors": SeverityWarning, "params-mismatch": SeverityError, "group-mismatch": SeverityError}},
		{"index total_size off", nil, "14428000", "", map[string]Severity{"index-total-size": SeverityError}},
		{"config with fewer experts", nil, "", strings.Replace(mustRead(t, tinyDir+"/config.json"), `"num_local_experts": 8`, `"num_local_experts": 4`, 1),
			map[string]Severity{"unrecognized-tensors": SeverityWarning, "shape-mismatch": SeverityError,
				"params-mismatch": SeverityError, "group-mismatch": SeverityError}},
		{"mistral config with a window", nil, "", strings.Replace(mustRead(t, tinyDir+"/config.json"), `"sliding_window": null`, `"sliding_window": 4096`, 1),
			map[string]Severity{"sliding-window": SeverityInfo}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ts := base()
			if tt.edit != nil {
				ts = tt.edit(ts)
			}
			shard := "model-00001-of-00001.safetensors"
			writeShard(t, filepath.Join(dir, shard), ts)
			cfg := tt.config
			if cfg == "" {
				cfg = mustRead(t, tinyDir+"/config.json")
			}
			if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.index != "" {
				var b strings.Builder
				b.WriteString(`{"metadata":{"total_size":` + tt.index + `},"weight_map":{`)
				for i, tn := range ts {
					if i > 0 {
						b.WriteString(",")
					}
					b.WriteString(`"` + tn.Name + `":"` + shard + `"`)
				}
				b.WriteString("}}")
				if err := os.WriteFile(filepath.Join(dir, safetensors.IndexFileName), []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := mustInspect(t, dir, Options{})
			got := codes(r)
			for code, sev := range tt.want {
				if got[code] != sev {
					t.Errorf("finding %s: %q, want %q", code, got[code], sev)
				}
			}
			for code := range got {
				if _, ok := tt.want[code]; !ok {
					t.Errorf("unexpected finding %s", code)
				}
			}
			// Findings are ordered by severity.
			for i := 1; i < len(r.Findings); i++ {
				if rank(r.Findings[i]) < rank(r.Findings[i-1]) {
					t.Errorf("findings out of order: %+v", r.Findings)
				}
			}
		})
	}
}

func rank(f Finding) int {
	return map[Severity]int{SeverityError: 0, SeverityWarning: 1, SeverityInfo: 2}[f.Severity]
}

func mustRead(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestInspectErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	junk := filepath.Join(dir, "junk.safetensors")
	os.WriteFile(junk, []byte("\xff\xff\xff\xff\xff\xff\xff\xffnot a header"), 0o644)
	badGGUF := filepath.Join(dir, "bad.gguf")
	os.WriteFile(badGGUF, []byte("GGUF\x03\x00\x00\x00"), 0o644)
	badJSON := filepath.Join(dir, "config.json")
	os.WriteFile(badJSON, []byte(`{"model_type": "bert"}`), 0o644)
	tests := []struct {
		name string
		path string
		opts Options
		want string
	}{
		{"missing", filepath.Join(dir, "nope"), Options{}, "nope"},
		{"empty folder", empty, Options{}, "no config.json"},
		{"bad safetensors", junk, Options{}, "junk.safetensors"},
		{"bad gguf", badGGUF, Options{}, "bad.gguf"},
		{"unsupported config", badJSON, Options{}, "bert"},
		{"bad kv type", fullConfig, Options{KVType: "q3"}, "KV cache type"},
		{"bad quant", fullConfig, Options{OffloadQuant: "Q9"}, "offload quant"},
		{"bad gpu size", fullConfig, Options{GPUSizesGB: []float64{-1}}, "GPU size"},
		{"negative context", fullConfig, Options{Context: -1}, "outside 0.."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Inspect(tt.path, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestGGUFUnsupportedArchitecture(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.gguf")
	cfg := loadConfig(t, tinyDir+"/config.json")
	writeGGUF(t, p, cfg, ggml.FileTypeQ8_0)
	// Rewrite general.architecture's value ("llama") to another five-letter name.
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), "llama")
	copy(b[i:], "gemma")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// The file is still described, metadata and all; only the accounting,
	// which needs an architecture mxq models, is left out, and says why.
	r, err := Inspect(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Config != nil || r.Memory != nil || r.Checkpoint == nil || len(r.Checkpoint.GGUFMetadata) == 0 {
		t.Fatalf("config %v, memory %v, checkpoint %v", r.Config, r.Memory, r.Checkpoint)
	}
	if len(r.Findings) == 0 || r.Findings[0].Code != "no-accounting" || !strings.Contains(r.Findings[0].Message, "gemma") {
		t.Errorf("findings %+v", r.Findings)
	}
	var text strings.Builder
	if err := r.WriteText(&text); err != nil || !strings.Contains(text.String(), `"gemma"`) || !strings.Contains(text.String(), "GGUF METADATA") {
		t.Errorf("text (%v):\n%s", err, text.String())
	}
}

// Both of llama.cpp's vocabulary files are described with their metadata.
func TestGGUFVocabularyFiles(t *testing.T) {
	for _, tc := range []struct {
		file, arch string
		tokens     int
		accounted  bool
	}{
		{"ggml-vocab-llama-spm.gguf", "llama", 32000, true},
		{"ggml-vocab-gpt-2.gguf", "gpt2", 50257, false},
	} {
		r, err := Inspect(filepath.Join("..", "formats", "gguf", "testdata", tc.file), Options{})
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		md := map[string]MetadataEntry{}
		for _, m := range r.Checkpoint.GGUFMetadata {
			md[m.Key] = m
		}
		if md["general.architecture"].Value != `"`+tc.arch+`"` || md["tokenizer.ggml.tokens"].Count != tc.tokens || md["tokenizer.ggml.tokens"].Type != "array[string]" {
			t.Errorf("%s: metadata %+v", tc.file, md)
		}
		if (r.Config != nil) != tc.accounted {
			t.Errorf("%s: accounted %v, want %v", tc.file, r.Config != nil, tc.accounted)
		}
		var b strings.Builder
		if err := r.WriteText(&b); err != nil || !strings.Contains(b.String(), "tokenizer.ggml.tokens") {
			t.Errorf("%s: text (%v):\n%s", tc.file, err, b.String())
		}
	}
}

func TestSniff(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, body, want string }{
		{"x.safetensors", "{\x00\x00\x00\x00\x00\x00\x00{}", "safetensors"}, // header length 123
		{"model.safetensors.index.json", `{"weight_map":{}}`, "index"},
		{"model.gguf", "GGUF\x03\x00\x00\x00", "gguf"},
		{"noext-gguf", "GGUF\x03\x00\x00\x00", "gguf"},
		{"config.json", `{}`, "json"},
		{"noext-json", "  \n{}", "json"},
		{"noext-binary", "\x10\x00\x00\x00\x00\x00\x00\x00", "safetensors"},
		{"short", "x", "safetensors"},
	}
	for _, tt := range tests {
		p := filepath.Join(dir, tt.name)
		if err := writeFile(p, tt.body); err != nil {
			t.Fatal(err)
		}
		if got, err := sniff(p); err != nil || got != tt.want {
			t.Errorf("sniff(%s) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestFolderWithOneGGUF(t *testing.T) {
	dir := t.TempDir()
	writeGGUF(t, filepath.Join(dir, "m.gguf"), loadConfig(t, tinyDir+"/config.json"), ggml.FileTypeQ8_0)
	r := mustInspect(t, dir, Options{})
	if r.Source.Kind != "gguf" || r.Params.Total != 7_214_336 {
		t.Errorf("%+v total %d", r.Source, r.Params.Total)
	}
}
