package convert

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/x448/float16"

	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/model"
)

// stRawHeader reads a safetensors file's header length and JSON by hand.
func stRawHeader(t *testing.T, path string) (uint64, map[string]json.RawMessage) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n uint64
	if err := binary.Read(f, binary.LittleEndian, &n); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(f, buf); err != nil {
		t.Fatal(err)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(buf, &h); err != nil {
		t.Fatalf("%s: header: %v", path, err)
	}
	return n, h
}

// TestSafetensorsFP16Checkpoint checks that the fp16 output of tiny-mixtral
// is the checkpoint transformers expects: the names, shapes and dtypes of
// MixtralForCausalLM, Hub sharding with a correct index, padded headers,
// format "pt", config.json with torch_dtype float16 and every other key as
// it was, side files copied.
func TestSafetensorsFP16Checkpoint(t *testing.T) {
	src := stOpen(t, tinyDir)
	const limit = 4_000_000
	out, r := stWrite(t, src, SafetensorsOptions{Bits: 16, DType: safetensors.F16, ShardSize: limit})

	want := map[string][]int64{}
	for _, e := range src.Config.HFTensors() {
		want[e.Name] = e.Shape
	}
	got := stReadCheckpoint(t, out)
	if len(got) != len(want) {
		t.Errorf("%d tensors, want %d", len(got), len(want))
	}
	for name, shape := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("tensor %s missing", name)
		case g.DType != safetensors.F16 || !slices.Equal(g.Shape, shape):
			t.Errorf("tensor %s: %s %v, want F16 %v", name, g.DType, g.Shape, shape)
		}
	}

	// Values: the bf16 source converted to fp16 with round to nearest even.
	for _, st := range src.Checkpoint().Tensors() {
		vals := make([]float32, st.NumElements())
		if err := st.ReadFloat32(vals); err != nil {
			t.Fatal(err)
		}
		g := got[st.Name]
		for i, v := range vals {
			if h := binary.LittleEndian.Uint16(g.Data[2*i:]); h != float16.Fromfloat32(v).Bits() {
				t.Fatalf("%s[%d] = %#04x, want fp16 of %g", st.Name, i, h, v)
			}
		}
	}

	// Index and shards.
	var idx struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	data, err := os.ReadFile(filepath.Join(out, "model.safetensors.index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.WeightMap) != len(want) {
		t.Errorf("weight_map has %d entries, want %d", len(idx.WeightMap), len(want))
	}
	shards := map[string]bool{}
	for _, s := range idx.WeightMap {
		shards[s] = true
	}
	var total int64
	shardName := regexp.MustCompile(`^model-(\d{5})-of-(\d{5})\.safetensors$`)
	for s := range shards {
		m := shardName.FindStringSubmatch(s)
		if m == nil || m[2] != fmt.Sprintf("%05d", len(shards)) {
			t.Errorf("shard name %s", s)
		}
		n, h := stRawHeader(t, filepath.Join(out, s))
		if n%8 != 0 {
			t.Errorf("%s: header length %d is not a multiple of 8", s, n)
		}
		var meta map[string]string
		if err := json.Unmarshal(h["__metadata__"], &meta); err != nil || !maps.Equal(meta, map[string]string{"format": "pt"}) {
			t.Errorf("%s: __metadata__ %s", s, h["__metadata__"])
		}
		var shardBytes int64
		for name, raw := range h {
			if name == "__metadata__" {
				continue
			}
			if idx.WeightMap[name] != s {
				t.Errorf("tensor %s is in %s, index says %s", name, s, idx.WeightMap[name])
			}
			var info struct {
				Offsets [2]int64 `json:"data_offsets"`
			}
			if err := json.Unmarshal(raw, &info); err != nil {
				t.Fatal(err)
			}
			shardBytes += info.Offsets[1] - info.Offsets[0]
		}
		if shardBytes > limit {
			t.Errorf("%s holds %d tensor bytes, more than the %d limit", s, shardBytes, limit)
		}
		total += shardBytes
	}
	if len(shards) < 2 {
		t.Errorf("%d shards, want several for a %d-byte limit", len(shards), limit)
	}
	if idx.Metadata["total_size"] != total || total != 2*src.Config.Params().Total {
		t.Errorf("total_size %d, tensor bytes %d, params %d", idx.Metadata["total_size"], total, src.Config.Params().Total)
	}

	// config.json: torch_dtype updated, everything else kept.
	before := stReadJSON(t, filepath.Join(tinyDir, "config.json"))
	after := stReadJSON(t, filepath.Join(out, "config.json"))
	if after["torch_dtype"] != "float16" {
		t.Errorf("torch_dtype %v", after["torch_dtype"])
	}
	delete(before, "torch_dtype")
	delete(after, "torch_dtype")
	if a, b := fmt.Sprint(after), fmt.Sprint(before); a != b {
		t.Errorf("config.json changed:\n%s\nwant\n%s", a, b)
	}
	cfg, err := model.LoadConfig(filepath.Join(out, "config.json"))
	if err != nil || cfg.TorchDType != "float16" {
		t.Errorf("config.json does not load as a model config: %v %+v", err, cfg)
	}
	for _, name := range []string{"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "generation_config.json"} {
		a, _ := os.ReadFile(filepath.Join(tinyDir, name))
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s not copied unchanged: %v", name, err)
		}
	}

	// The report lists every written file with its digest.
	entries, _ := os.ReadDir(out)
	if len(r.Files) != len(entries) {
		t.Errorf("report lists %d files, folder holds %d", len(r.Files), len(entries))
	}
	for _, f := range r.Files {
		fi, err := os.Stat(f.Path)
		if err != nil || fi.Size() != f.Bytes || len(f.SHA256) != 64 {
			t.Errorf("report file %+v: %v", f, err)
		}
	}
	if r.Format != "safetensors" || r.Target != "f16" || len(r.Tensors) != len(want) {
		t.Errorf("report %s %s with %d tensors", r.Format, r.Target, len(r.Tensors))
	}
}

// TestSafetensorsBF16Identity: bf16 output of a bf16 checkpoint is its
// tensors bit for bit, in one model.safetensors without an index at the
// default shard size; and the bytes do not depend on the worker count.
func TestSafetensorsBF16Identity(t *testing.T) {
	src := stOpen(t, tinyDir)
	out, r1 := stWrite(t, src, SafetensorsOptions{Bits: 16, Workers: 1})
	if _, err := os.Stat(filepath.Join(out, "model.safetensors.index.json")); err == nil {
		t.Error("single-file checkpoint has an index")
	}
	if _, err := os.Stat(filepath.Join(out, "model.safetensors")); err != nil {
		t.Error(err)
	}
	stSameTensors(t, src, stReadCheckpoint(t, out))
	_, r3 := stWrite(t, src, SafetensorsOptions{Bits: 16, Workers: 3})
	for i := range r1.Files {
		if r1.Files[i].SHA256 != r3.Files[i].SHA256 {
			t.Errorf("%s differs between 1 and 3 workers", filepath.Base(r1.Files[i].Path))
		}
	}
	if m := r1.Tensors[0].Metrics; m.RMSE != 0 || m.Count == 0 {
		t.Errorf("lossless copy reports %+v", m)
	}
}

// stSameTensors checks that got holds exactly the source's tensors, bit for bit.
func stSameTensors(t *testing.T, src *Source, got map[string]stTensorData) {
	t.Helper()
	tensors := src.Checkpoint().Tensors()
	if len(got) != len(tensors) {
		t.Errorf("%d tensors, want %d", len(got), len(tensors))
	}
	for _, st := range tensors {
		want := make([]byte, st.End-st.Begin)
		if err := st.ReadRaw(want); err != nil {
			t.Fatal(err)
		}
		g, ok := got[st.Name]
		if !ok || g.DType != st.DType || !slices.Equal(g.Shape, st.Shape) || !bytes.Equal(g.Data, want) {
			t.Errorf("tensor %s differs from the source", st.Name)
		}
	}
}
