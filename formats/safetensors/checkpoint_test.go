package safetensors

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// smallShards returns two shard files and the matching index text.
func smallShards(t *testing.T) (map[string][]byte, string) {
	t.Helper()
	s1 := buildFile(t, map[string]string{"format": "pt"}, []TensorInfo{
		{Name: "a.weight", DType: F32, Shape: []int64{2, 2}},
		{Name: "b.weight", DType: BF16, Shape: []int64{3}},
	})
	s2 := buildFile(t, map[string]string{"format": "pt"}, []TensorInfo{
		{Name: "c.weight", DType: F16, Shape: []int64{4}},
	})
	files := map[string][]byte{
		"model-00001-of-00002.safetensors": s1,
		"model-00002-of-00002.safetensors": s2,
	}
	index := `{"metadata":{"total_size":30},"weight_map":{
		"a.weight":"model-00001-of-00002.safetensors",
		"b.weight":"model-00001-of-00002.safetensors",
		"c.weight":"model-00002-of-00002.safetensors"}}`
	return files, index
}

func TestOpenCheckpointForms(t *testing.T) {
	files, index := smallShards(t)

	indexed := t.TempDir()
	writeFiles(t, indexed, files)
	writeFiles(t, indexed, map[string][]byte{IndexFileName: []byte(index), "consolidated.safetensors": []byte("ignored, not in the index")})

	single := t.TempDir()
	writeFiles(t, single, map[string][]byte{"model.safetensors": files["model-00001-of-00002.safetensors"], "other.safetensors": []byte("ignored")})

	glob := t.TempDir()
	writeFiles(t, glob, map[string][]byte{"x.safetensors": files["model-00001-of-00002.safetensors"], "y.safetensors": files["model-00002-of-00002.safetensors"]})

	tests := []struct {
		path      string
		indexPath string
		total     int64
		files     int
		tensors   []string
	}{
		{indexed, filepath.Join(indexed, IndexFileName), 30, 2, []string{"a.weight", "b.weight", "c.weight"}},
		{filepath.Join(indexed, IndexFileName), filepath.Join(indexed, IndexFileName), 30, 2, []string{"a.weight", "b.weight", "c.weight"}},
		{single, "", -1, 1, []string{"a.weight", "b.weight"}},
		{glob, "", -1, 2, []string{"a.weight", "b.weight", "c.weight"}},
		{filepath.Join(glob, "y.safetensors"), "", -1, 1, []string{"c.weight"}},
	}
	for _, tt := range tests {
		c, err := OpenCheckpoint(tt.path)
		if err != nil {
			t.Errorf("%s: %v", tt.path, err)
			continue
		}
		var names []string
		for _, tn := range c.Tensors() {
			names = append(names, tn.Name)
		}
		if c.IndexPath != tt.indexPath || c.TotalSize != tt.total || len(c.Files) != tt.files || !slices.Equal(names, tt.tensors) {
			t.Errorf("%s: index %q total %d files %d tensors %v; want %q %d %d %v",
				tt.path, c.IndexPath, c.TotalSize, len(c.Files), names, tt.indexPath, tt.total, tt.files, tt.tensors)
		}
		if c.DataSize() != 30 && tt.files == 2 {
			t.Errorf("%s: DataSize %d, want 30", tt.path, c.DataSize())
		}
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}

	if _, err := OpenCheckpoint(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty folder: %v", err)
	}
}

func TestOpenCheckpointBad(t *testing.T) {
	files, index := smallShards(t)
	extra := buildFile(t, nil, []TensorInfo{{Name: "a.weight", DType: F32, Shape: []int64{2, 2}}, {Name: "z.weight", DType: U8, Shape: []int64{1}}})
	tests := []struct {
		name     string
		index    string
		replace  map[string][]byte
		remove   string
		want     []string
		notExist bool
	}{
		{name: "index names missing shard", remove: "model-00002-of-00002.safetensors",
			want: []string{IndexFileName, `tensor "c.weight"`, "model-00002-of-00002.safetensors"}, notExist: true},
		{name: "tensor absent from its shard",
			index: `{"weight_map":{"a.weight":"model-00001-of-00002.safetensors","b.weight":"model-00001-of-00002.safetensors","c.weight":"model-00002-of-00002.safetensors","d.weight":"model-00002-of-00002.safetensors"}}`,
			want:  []string{"model-00002-of-00002.safetensors", `tensor "d.weight"`, "missing from this shard"}},
		{name: "shard tensor not in index",
			index: `{"weight_map":{"a.weight":"model-00001-of-00002.safetensors","c.weight":"model-00002-of-00002.safetensors"}}`,
			want:  []string{"model-00001-of-00002.safetensors", `tensor "b.weight"`, "not listed in " + IndexFileName}},
		{name: "same tensor in two shards",
			replace: map[string][]byte{"model-00002-of-00002.safetensors": buildFile(t, nil, []TensorInfo{{Name: "c.weight", DType: F16, Shape: []int64{4}}, {Name: "a.weight", DType: F32, Shape: []int64{2, 2}}})},
			want:    []string{"model-00002-of-00002.safetensors", `tensor "a.weight"`, "maps it to model-00001-of-00002.safetensors"}},
		{name: "shard outside the folder",
			index: `{"weight_map":{"a.weight":"../model-00001-of-00002.safetensors"}}`,
			want:  []string{IndexFileName, `tensor "a.weight"`, "not a file name inside the folder"}},
		{name: "index lists a tensor twice",
			index: `{"weight_map":{"a.weight":"model-00001-of-00002.safetensors","a.weight":"model-00001-of-00002.safetensors"}}`,
			want:  []string{IndexFileName, `tensor "a.weight"`, "twice"}},
		{name: "index without weight_map", index: `{"metadata":{"total_size":30}}`, want: []string{IndexFileName, "no weight_map"}},
		{name: "index total_size not a number", index: `{"metadata":{"total_size":"30"},"weight_map":{}}`, want: []string{IndexFileName, "total_size"}},
		{name: "index weight_map value not a string", index: `{"weight_map":{"a.weight":1}}`, want: []string{IndexFileName, `tensor "a.weight"`, "shard file name"}},
		{name: "index not JSON", index: `{"weight_map":`, want: []string{IndexFileName, "invalid JSON"}},
		{name: "bad shard header",
			replace: map[string][]byte{"model-00002-of-00002.safetensors": rawFile(`{"c.weight":{"dtype":"F16","shape":[4],"data_offsets":[0,9]}}`, make([]byte, 9))},
			want:    []string{"model-00002-of-00002.safetensors", `tensor "c.weight"`, "needs 8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, files)
			idx := index
			if tt.index != "" {
				idx = tt.index
			}
			writeFiles(t, dir, map[string][]byte{IndexFileName: []byte(idx)})
			writeFiles(t, dir, tt.replace)
			if tt.remove != "" {
				os.Remove(filepath.Join(dir, tt.remove))
			}
			c, err := OpenCheckpoint(dir)
			if c != nil {
				t.Error("got a Checkpoint with an error")
			}
			checkFormatErr(t, err, tt.want...)
			if tt.notExist && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
			}
		})
	}

	t.Run("same tensor in two files without index", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string][]byte{"a.safetensors": files["model-00001-of-00002.safetensors"], "b.safetensors": extra})
		_, err := OpenCheckpoint(dir)
		checkFormatErr(t, err, "b.safetensors", `tensor "a.weight"`, "also stored in", "a.safetensors")
	})

	t.Run("index too large", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, files)
		p := filepath.Join(dir, IndexFileName)
		writeFiles(t, dir, map[string][]byte{IndexFileName: []byte(index)})
		if err := os.Truncate(p, MaxIndexSize+1); err != nil { // sparse
			t.Fatal(err)
		}
		_, err := OpenCheckpoint(dir)
		checkFormatErr(t, err, IndexFileName, "limit")
	})
}
