package safetensors

import (
	"os"
	"path/filepath"
	"testing"
)

// buildSparseMixtral recreates the 19-shard, 93 GB Mixtral-8x7B checkpoint
// in dir from its real index: real shard headers (as transformers writes
// them) over sparse, unwritten data.
func buildSparseMixtral(tb testing.TB, dir string) *Index {
	tb.Helper()
	src := "../../testdata/mixtral-8x7b-meta/" + IndexFileName
	data, err := os.ReadFile(src)
	if err != nil {
		tb.Fatal(err)
	}
	idx, err := ParseIndex(data, src)
	if err != nil {
		tb.Fatal(err)
	}
	byShard := map[string][]TensorInfo{}
	for name, shard := range idx.WeightMap {
		shape := mixtral8x7bShape(name)
		if shape == nil {
			tb.Fatalf("no shape for %s", name)
		}
		byShard[shard] = append(byShard[shard], TensorInfo{Name: name, DType: BF16, Shape: shape})
	}
	for shard, tensors := range byShard {
		l, err := NewLayout(map[string]string{"format": "pt"}, tensors)
		if err != nil {
			tb.Fatal(err)
		}
		p := filepath.Join(dir, shard)
		if err := os.WriteFile(p, l.Header(), 0o644); err != nil {
			tb.Fatal(err)
		}
		if err := os.Truncate(p, l.Size()); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, IndexFileName), data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return idx
}

func TestSparseMixtral8x7B(t *testing.T) {
	dir := t.TempDir()
	idx := buildSparseMixtral(t, dir)
	c, err := OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var params int64
	for _, tn := range c.Tensors() {
		params += tn.NumElements()
	}
	if len(c.Files) != 19 || len(c.Tensors()) != 995 {
		t.Errorf("%d files, %d tensors; want 19, 995", len(c.Files), len(c.Tensors()))
	}
	// total_size in the real index equals the data the shapes call for.
	if c.TotalSize != 93_405_585_408 || c.DataSize() != idx.TotalSize || params != 46_702_792_704 {
		t.Errorf("total_size %d, data %d, params %d", c.TotalSize, c.DataSize(), params)
	}
	w2, ok := c.Lookup("model.layers.31.block_sparse_moe.experts.7.w2.weight")
	if !ok || w2.File.Name != filepath.Join(dir, "model-00019-of-00019.safetensors") || w2.Shape[1] != 14336 {
		t.Errorf("layer 31 expert 7 w2: %+v in %v", w2.TensorInfo, w2.File)
	}
}

func BenchmarkOpenCheckpoint(b *testing.B) {
	dir := b.TempDir()
	buildSparseMixtral(b, dir)
	b.ResetTimer()
	for b.Loop() {
		c, err := OpenCheckpoint(dir)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

func BenchmarkNewFileTinyShard(b *testing.B) {
	hdr := readHeader(b, filepath.Join(tinyDir, "model-00003-of-00003.safetensors"))
	f, err := Open(filepath.Join(tinyDir, "model-00003-of-00003.safetensors"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.SetBytes(int64(len(hdr)))
	for b.Loop() {
		if _, err := NewFile(f.r, f.Size, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadFloat32BF16(b *testing.B) {
	c, err := OpenCheckpoint(tinyDir)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	tn, _ := c.Lookup("model.embed_tokens.weight")
	dst := make([]float32, tn.NumElements())
	b.SetBytes(tn.End - tn.Begin)
	for b.Loop() {
		if err := tn.ReadFloat32(dst); err != nil {
			b.Fatal(err)
		}
	}
}
