package safetensors

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mxq-dev/mxq/internal/safeio"
)

// Checkpoint is a set of safetensors files that together hold one model.
type Checkpoint struct {
	Dir       string  // folder holding the files
	IndexPath string  // path of the index, "" if none
	TotalSize int64   // the index's metadata.total_size, -1 if none
	Files     []*File // sorted by file name

	tensors []Tensor // sorted by name
	byName  map[string]int
}

// OpenCheckpoint opens a checkpoint from path, which may be
//   - a folder with model.safetensors.index.json and the shards it names,
//   - a folder with model.safetensors,
//   - a folder with one or more *.safetensors files and no index,
//   - the index file itself, or
//   - a single .safetensors file.
//
// With an index, every shard must exist, every tensor it lists must be in
// its shard, and every shard tensor must be listed for that shard; other
// *.safetensors files in the folder are ignored. Without one, no tensor may
// appear in two files. Only headers are read. Close releases all files.
//
// The memory spent on the index and every header is bounded, all files
// together, by safeio.MetadataBudget.
func OpenCheckpoint(path string) (*Checkpoint, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	budget := safeio.NewBudget(safeio.MetadataBudget)
	if !st.IsDir() {
		if strings.HasSuffix(path, ".index.json") {
			return openIndexed(filepath.Dir(path), path, budget)
		}
		return openFiles(filepath.Dir(path), []string{path}, budget)
	}
	dir := path
	if index := filepath.Join(dir, IndexFileName); exists(index) {
		return openIndexed(dir, index, budget)
	}
	if single := filepath.Join(dir, "model.safetensors"); exists(single) {
		return openFiles(dir, []string{single}, budget)
	}
	matches, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil {
		return nil, err
	}
	if len(matches) == 0 {
		return nil, fmt.Errorf("safetensors: %s: no %s or *.safetensors files: %w", dir, IndexFileName, fs.ErrNotExist)
	}
	slices.Sort(matches)
	return openFiles(dir, matches, budget)
}

// exists reports whether anything is at path; what is there is checked
// when it is opened, so that a folder or a pipe named like the index is
// refused rather than passed over.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// openFiles opens index-less files; a tensor in two files is an error.
func openFiles(dir string, paths []string, budget *safeio.Budget) (*Checkpoint, error) {
	c := &Checkpoint{Dir: dir, TotalSize: -1}
	owner := make(map[string]*File)
	for _, p := range paths {
		f, err := openFile(p, budget)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.Files = append(c.Files, f)
		for i := range f.Tensors {
			name := f.Tensors[i].Name
			if prev, dup := owner[name]; dup {
				c.Close()
				return nil, formatErr(f.Name, f.DataOffset+f.Tensors[i].Begin, name, "tensor also stored in "+prev.Name)
			}
			owner[name] = f
		}
	}
	c.buildIndex()
	return c, nil
}

func openIndexed(dir, indexPath string, budget *safeio.Budget) (*Checkpoint, error) {
	idx, err := readIndex(indexPath, budget)
	if err != nil {
		return nil, err
	}
	// The first tensor (by name) of each shard, to name in errors.
	firstTensor := make(map[string]string)
	for tensor, shard := range idx.WeightMap {
		if cur, ok := firstTensor[shard]; !ok || tensor < cur {
			firstTensor[shard] = tensor
		}
	}
	c := &Checkpoint{Dir: dir, IndexPath: indexPath, TotalSize: idx.TotalSize}
	for _, shard := range idx.Shards() {
		if !filepath.IsLocal(filepath.FromSlash(shard)) {
			c.Close()
			return nil, formatErr(indexPath, -1, firstTensor[shard], fmt.Sprintf("shard %q is not a file name inside the folder", shard))
		}
		f, err := openFile(filepath.Join(dir, filepath.FromSlash(shard)), budget)
		if err != nil {
			c.Close()
			if errors.Is(err, fs.ErrNotExist) {
				return nil, &FormatError{File: indexPath, Offset: -1, Tensor: firstTensor[shard],
					Msg: fmt.Sprintf("index names shard %q", shard), Err: fs.ErrNotExist}
			}
			return nil, err
		}
		c.Files = append(c.Files, f)
		for i := range f.Tensors {
			t := &f.Tensors[i]
			switch want, listed := idx.WeightMap[t.Name]; {
			case !listed:
				c.Close()
				return nil, formatErr(f.Name, f.DataOffset+t.Begin, t.Name, "tensor is not listed in "+filepath.Base(indexPath))
			case want != shard:
				c.Close()
				return nil, formatErr(f.Name, f.DataOffset+t.Begin, t.Name, fmt.Sprintf("tensor is stored in this shard, but the index maps it to %s", want))
			}
		}
	}
	// Report index entries missing from their shard, in name order.
	names := make([]string, 0, len(idx.WeightMap))
	for name := range idx.WeightMap {
		names = append(names, name)
	}
	slices.Sort(names)
	byShard := make(map[string]*File, len(c.Files))
	for i, shard := range idx.Shards() {
		byShard[shard] = c.Files[i]
	}
	for _, name := range names {
		f := byShard[idx.WeightMap[name]]
		if _, ok := f.Lookup(name); !ok {
			c.Close()
			return nil, formatErr(f.Name, -1, name, "tensor listed in "+filepath.Base(indexPath)+" is missing from this shard")
		}
	}
	c.buildIndex()
	return c, nil
}

func (c *Checkpoint) buildIndex() {
	n := 0
	for _, f := range c.Files {
		n += len(f.Tensors)
	}
	c.tensors = make([]Tensor, 0, n)
	for _, f := range c.Files {
		for i := range f.Tensors {
			c.tensors = append(c.tensors, Tensor{TensorInfo: f.Tensors[i], File: f})
		}
	}
	slices.SortFunc(c.tensors, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
	c.byName = make(map[string]int, n)
	for i := range c.tensors {
		c.byName[c.tensors[i].Name] = i
	}
}

// Tensors returns every tensor of the checkpoint, sorted by name. The slice
// is a copy; the shapes are shared with the files.
func (c *Checkpoint) Tensors() []Tensor { return slices.Clone(c.tensors) }

// Lookup returns the named tensor.
func (c *Checkpoint) Lookup(name string) (Tensor, bool) {
	i, ok := c.byName[name]
	if !ok {
		return Tensor{}, false
	}
	return c.tensors[i], true
}

// DataSize returns the sum of all tensors' data bytes: what total_size
// should be.
func (c *Checkpoint) DataSize() int64 {
	var n int64
	for _, f := range c.Files {
		n += f.DataSize()
	}
	return n
}

// Close closes every file of the checkpoint.
func (c *Checkpoint) Close() error {
	var errs []error
	for _, f := range c.Files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
