package convert

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/internal/checkpoint"
	"github.com/mxq-dev/mxq/internal/safetext"
	"github.com/mxq-dev/mxq/model"
)

// Source is an opened input checkpoint: a Hugging Face folder (or one
// safetensors file with its config.json beside it) or a GGUF file.
type Source struct {
	Path   string
	Dir    string // folder holding config.json and tokenizer files
	Config *model.Config
	Name   string // model name for general.name

	ckpt *safetensors.Checkpoint
	gg   *gguf.File
	// Opened is the checkpoint as every command sees it: format, layout
	// and logical tensors.
	Opened *checkpoint.Checkpoint
}

// OpenSource opens path for conversion, reading headers and config only.
func OpenSource(path string) (_ *Source, err error) {
	defer func() { err = safetext.Error(err) }() // names from the files may be quoted
	c, err := checkpoint.Open(path)
	if err != nil {
		return nil, err
	}
	s, err := FromCheckpoint(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

// FromCheckpoint is the conversion source of an opened checkpoint, which
// it closes when closed.
func FromCheckpoint(c *checkpoint.Checkpoint) (*Source, error) {
	if c.Config == nil {
		return nil, c.ConfigErr
	}
	s := &Source{Path: c.Path, Dir: c.Dir, Config: c.Config, ckpt: c.Safetensors(), gg: c.GGUF(), Opened: c}
	if s.gg != nil {
		s.Name, _ = s.gg.String("general.name")
		if s.Name == "" {
			s.Name = strings.TrimSuffix(filepath.Base(c.Path), filepath.Ext(c.Path))
		}
	} else {
		abs, _ := filepath.Abs(c.Dir)
		s.Name = filepath.Base(abs)
	}
	return s, nil
}

// IsGGUF reports whether the source is a GGUF file.
func (s *Source) IsGGUF() bool { return s.gg != nil }

// GGUF returns the source GGUF file, or nil.
func (s *Source) GGUF() *gguf.File { return s.gg }

// Checkpoint returns the source safetensors checkpoint, or nil.
func (s *Source) Checkpoint() *safetensors.Checkpoint { return s.ckpt }

// Close releases the source files.
func (s *Source) Close() error { return s.Opened.Close() }

// safetensorsType maps a stored dtype to the ggml type that decodes it.
func safetensorsType(d safetensors.DType) (ggml.Type, bool) {
	switch d {
	case "F32":
		return ggml.F32, true
	case "F16":
		return ggml.F16, true
	case "BF16":
		return ggml.BF16, true
	}
	return 0, false
}

// hfMatrix views an HF tensor as rows (first dimension) of columns (the
// product of the others).
func hfMatrix(t safetensors.Tensor) (*matrix, error) {
	typ, ok := safetensorsType(t.DType)
	if !ok {
		return nil, fmt.Errorf("%s: tensor %s: dtype %s is not a floating-point weight type mxq converts (F32, F16, BF16)", t.File.Name, t.Name, t.DType)
	}
	rows, cols := 1, 1
	switch len(t.Shape) {
	case 0:
	case 1:
		cols = int(t.Shape[0])
	default:
		rows = int(t.Shape[0])
		for _, d := range t.Shape[1:] {
			cols *= int(d)
		}
	}
	return newMatrix(t.File.Name, t.Name, typ, rows, cols, t.Open())
}

// ggufMatrices views a GGUF tensor as one matrix per slab of its outermost
// dimension when it has three (the experts), else as one matrix.
func ggufMatrices(f *gguf.File, t *gguf.TensorInfo) ([]*matrix, error) {
	cols := int(t.Dims[0])
	rows, slabs := 1, 1
	if len(t.Dims) >= 2 {
		rows = int(t.Dims[1])
	}
	if len(t.Dims) == 3 {
		slabs = int(t.Dims[2])
	} else if len(t.Dims) > 3 {
		return nil, fmt.Errorf("%s: tensor %s: %d dimensions are not supported", f.Name, t.Name, len(t.Dims))
	}
	sec := f.Section(t)
	slabBytes := int64(t.Size()) / int64(slabs)
	var out []*matrix
	for e := range slabs {
		m, err := newMatrix(f.Name, t.Name, t.Type, rows, cols, io.NewSectionReader(sec, int64(e)*slabBytes, slabBytes))
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

var errNoTokenizer = errors.New("no tokenizer.model or tokenizer.json")
