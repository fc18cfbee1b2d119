package inspect

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/internal/checkpoint"
	"github.com/mxq-dev/mxq/model"
)

// BenchmarkInspectSparse inspects the full-size 19-shard, 93 GB checkpoint
// from its headers. Run with -benchmem: B/op bounds the memory used.
func BenchmarkInspectSparse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		r, err := Inspect(sparseDir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := r.WriteText(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInspectConfig is the config-only path, for comparison.
func BenchmarkInspectConfig(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Inspect(fullConfig, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzGGUFConfig feeds arbitrary GGUF headers through the metadata-to-config
// path and the whole report, which must fail cleanly or produce one.
func FuzzGGUFConfig(f *testing.F) {
	dir := f.TempDir()
	p := filepath.Join(dir, "tiny.gguf")
	// A minimal MoE model keeps the seed (and the fuzzer's minimization) small.
	cfg := &model.Config{Architecture: "MixtralForCausalLM", ModelType: "mixtral", HiddenSize: 64, IntermediateSize: 64,
		NumLayers: 1, NumHeads: 2, NumKVHeads: 1, HeadDim: 32, NumExperts: 2, ExpertsPerToken: 1, VocabSize: 8,
		MaxPositionEmbeddings: 128, RopeTheta: 1e6, RMSNormEps: 1e-5}
	writeGGUF(f, p, cfg, ggml.FileTypeQ8_0)
	seed, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	// Only the header is fuzzed: the data section reads as zeros (it is a
	// hole in real fixtures too), which keeps inputs small and the fuzzer's
	// minimization fast.
	fh, err := gguf.NewFile(bytes.NewReader(seed), int64(len(seed)), "seed")
	if err != nil {
		f.Fatal(err)
	}
	head := seed[:fh.DataOffset]
	// The seed itself must make it through to a report.
	sf, err := gguf.NewFile(zeroTail{head}, int64(len(head))+zeroTailSize, "seed")
	if err != nil {
		f.Fatal(err)
	}
	if _, err := fromGGUF(sf, "seed"); err != nil {
		f.Fatal(err)
	}
	f.Add(head)
	f.Fuzz(func(t *testing.T, data []byte) {
		fh, err := gguf.NewFile(zeroTail{data}, int64(len(data))+zeroTailSize, "fuzz.gguf")
		if err != nil {
			return
		}
		l, err := fromGGUF(fh, "fuzz.gguf")
		if err != nil {
			return
		}
		o, err := Options{}.resolve()
		if err != nil {
			t.Fatal(err)
		}
		r, err := build(l, o)
		if err != nil {
			return
		}
		if err := r.WriteText(io.Discard); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzSafetensorsInfer feeds arbitrary safetensors headers, without a
// config.json, through shape inference and the whole report.
func FuzzSafetensorsInfer(f *testing.F) {
	ck, err := safetensors.OpenCheckpoint(tinyDir)
	if err != nil {
		f.Fatal(err)
	}
	// Layer 0 and the model-level tensors: a small but complete seed.
	var infos []safetensors.TensorInfo
	for _, tn := range ck.Tensors() {
		if r := model.ClassifyHF(tn.Name); r.Layer <= 0 && r.Expert <= 1 {
			infos = append(infos, safetensors.TensorInfo{Name: tn.Name, DType: tn.DType, Shape: tn.Shape})
		}
	}
	ck.Close()
	l, err := safetensors.NewLayout(nil, infos)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(l.Header())
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := safetensors.NewFile(zeroTail{data}, int64(len(data))+zeroTailSize, "fuzz.safetensors")
		if err != nil {
			return
		}
		ld := &loaded{source: Source{Path: "fuzz.safetensors", Kind: "safetensors-file"},
			ckpt: &CheckpointSummary{Format: "safetensors", Files: 1, FileBytes: sf.Size, IndexTotalSize: -1}}
		for i := range sf.Tensors {
			ld.tensors = append(ld.tensors, recordHF(checkpoint.FromInfo(&sf.Tensors[i], "fuzz.safetensors")))
		}
		cfg, notes, err := inferHF(ld.tensors)
		if err != nil {
			return
		}
		ld.cfg, ld.notes, ld.origin = cfg, notes, "inferred from tensor shapes"
		o, err := Options{}.resolve()
		if err != nil {
			t.Fatal(err)
		}
		r, err := build(ld, o)
		if err != nil {
			return
		}
		if err := r.WriteText(io.Discard); err != nil {
			t.Fatal(err)
		}
	})
}

// zeroTail reads as b followed by zeroTailSize zero bytes.
type zeroTail struct{ b []byte }

const zeroTailSize = 1 << 20

func (z zeroTail) ReadAt(p []byte, off int64) (int, error) {
	end := int64(len(z.b)) + zeroTailSize
	if off < 0 || off >= end {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && off+int64(n) < end {
		if i := off + int64(n); i < int64(len(z.b)) {
			n += copy(p[n:], z.b[i:])
		} else {
			k := min(int64(len(p)-n), end-i)
			clear(p[n : n+int(k)])
			n += int(k)
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
