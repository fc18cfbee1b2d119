package checkpoint

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/forward"
	"github.com/mxq-dev/mxq/internal/safeio"
	"github.com/mxq-dev/mxq/model"
	"github.com/mxq-dev/mxq/quant/intq"
)

// Checkpoint is an opened model checkpoint: a Hugging Face folder (or one
// of its .safetensors files), floating point or quantized in a layout its
// config names, or a GGUF file. Only headers and configs are read.
type Checkpoint struct {
	Location
	// Quant is how the safetensors Linear weights are stored; nil for
	// floating point and for a GGUF.
	Quant *intq.Quantization
	// Config describes the model: config.json, or a GGUF's metadata. It is
	// nil for a GGUF whose metadata does not describe a model mxq knows,
	// and ConfigErr says why.
	Config    *model.Config
	ConfigErr error
	// Tensors are the logical tensors, in file order.
	Tensors []Tensor
	// FileBytes is the size of the files holding the tensors, headers
	// included.
	FileBytes int64

	st *safetensors.Checkpoint
	gg *gguf.File
}

// Open opens path: a .gguf file (or any file starting with the GGUF magic),
// else a Hugging Face folder or one of its files, with config.json (and,
// for GPTQ, possibly quantize_config.json) beside the weights.
func Open(path string) (*Checkpoint, error) {
	loc, err := Locate(path)
	if err != nil {
		return nil, err
	}
	if !loc.GGUF && !isDir(path) {
		loc.GGUF = hasGGUFMagic(path)
	}
	if loc.GGUF {
		return openGGUF(loc)
	}
	cfg, err := model.LoadConfig(loc.ConfigPath())
	if err != nil {
		return nil, err
	}
	q, err := ReadQuantization(loc.Dir)
	if err != nil {
		return nil, err
	}
	st, err := safetensors.OpenCheckpoint(path)
	if err != nil {
		return nil, err
	}
	tensors, err := Logical(st.Tensors(), q)
	if err != nil {
		st.Close()
		return nil, err
	}
	c := &Checkpoint{Location: loc, Quant: q, Config: cfg, Tensors: tensors, st: st}
	for _, f := range st.Files {
		c.FileBytes += f.Size
	}
	return c, nil
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

func hasGGUFMagic(path string) bool {
	f, _, err := safeio.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && string(magic[:]) == "GGUF"
}

func openGGUF(loc Location) (*Checkpoint, error) {
	f, err := gguf.Open(loc.Path)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{Location: loc, FileBytes: f.Size, gg: f, Tensors: GGUFTensors(f)}
	// The forward pass reads a GGUF's shapes itself; only conversion
	// needs the config.
	if c.Config, _, c.ConfigErr = model.ConfigFromGGUF(f); c.ConfigErr != nil {
		c.Config = nil
	}
	return c, nil
}

// GGUFTensors lists the tensors of a GGUF: each holds its weights as
// stored, in one ggml type.
func GGUFTensors(f *gguf.File) []Tensor {
	base := filepath.Base(f.Name)
	out := make([]Tensor, 0, len(f.Tensors))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		shape := make([]int64, len(t.Dims))
		for j, d := range t.Dims {
			shape[j] = int64(d)
		}
		out = append(out, Tensor{
			Name: t.Name, Shape: shape, Params: int64(t.NumElements()), DType: t.Type.String(),
			DTypes: []string{t.Type.String()}, Bytes: int64(t.Size()), File: base, Stored: []string{t.Name},
		})
	}
	return out
}

// Format is "gguf", "safetensors" (floating point), or the quantized
// layout: "compressed-tensors", "gptq" or "mlx".
func (c *Checkpoint) Format() string {
	switch {
	case c.gg != nil:
		return "gguf"
	case c.Quant != nil:
		return c.Quant.Method
	}
	return "safetensors"
}

// Params is the number of weights the logical tensors hold.
func (c *Checkpoint) Params() int64 {
	var n int64
	for _, t := range c.Tensors {
		n += t.Params
	}
	return n
}

// DataBytes is the stored tensor data: packed weights, scales, zero points
// and everything else the tensors hold, headers excluded.
func (c *Checkpoint) DataBytes() int64 {
	var n int64
	for _, t := range c.Tensors {
		n += t.Bytes
	}
	return n
}

// BitsPerWeight is DataBytes × 8 / Params.
func (c *Checkpoint) BitsPerWeight() float64 {
	if p := c.Params(); p > 0 {
		return float64(c.DataBytes()) * 8 / float64(p)
	}
	return 0
}

// Safetensors is the opened safetensors checkpoint, or nil for a GGUF.
func (c *Checkpoint) Safetensors() *safetensors.Checkpoint { return c.st }

// GGUF is the opened GGUF file, or nil.
func (c *Checkpoint) GGUF() *gguf.File { return c.gg }

// Forward returns the forward pass's view of the checkpoint, which reads
// (and, in a quantized layout, dequantizes) each tensor when asked for.
// The checkpoint must stay open while it is used.
func (c *Checkpoint) Forward() (forward.Source, error) {
	switch {
	case c.gg != nil:
		return forward.FromGGUF(c.gg)
	case c.Quant != nil:
		return forward.FromQuantizedSafetensors(c.st, c.Config, c.Quant)
	}
	return forward.FromSafetensors(c.st, c.Config)
}

// Close releases the checkpoint's files.
func (c *Checkpoint) Close() error {
	if c.gg != nil {
		return c.gg.Close()
	}
	return c.st.Close()
}

// ReadQuantization reads how the checkpoint in dir stores its weights:
// config.json's "quantization" (MLX) or "quantization_config", or
// AutoGPTQ's quantize_config.json. It returns nil for floating point, and
// an error when two of these disagree.
func ReadQuantization(dir string) (*intq.Quantization, error) {
	type found struct {
		where string
		q     *intq.Quantization
	}
	var all []found
	cfgPath := filepath.Join(dir, "config.json")
	raw, err := safeio.ReadFile(cfgPath, safeio.ConfigLimit)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err == nil {
		// Each section alone, so that neither hides the other.
		for _, key := range []string{"quantization", "quantization_config"} {
			section, err := intq.ConfigSection(raw, key, cfgPath)
			if err != nil {
				return nil, err
			}
			if section == nil {
				continue
			}
			q, err := intq.ParseQuantization(section, cfgPath)
			if err != nil {
				return nil, err
			}
			if q != nil {
				all = append(all, found{fmt.Sprintf("%s %q", cfgPath, key), q})
			}
		}
	}
	qcPath := filepath.Join(dir, "quantize_config.json")
	if qraw, err := safeio.ReadFile(qcPath, safeio.ConfigLimit); err == nil {
		q, err := intq.ParseQuantization(qraw, qcPath)
		if err != nil {
			return nil, err
		}
		if q != nil {
			all = append(all, found{qcPath, q})
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if len(all) == 0 {
		return nil, nil
	}
	for _, f := range all[1:] {
		if f.q.Method != all[0].q.Method || f.q.Scheme != all[0].q.Scheme {
			return nil, fmt.Errorf("checkpoint: %s says %s, but %s says %s", all[0].where, Describe(all[0].q), f.where, Describe(f.q))
		}
	}
	return all[0].q, nil
}

// Describe names a quantization for messages and reports: "gptq 4-bit
// group 128".
func Describe(q *intq.Quantization) string {
	group := fmt.Sprintf("group %d", q.Scheme.GroupSize)
	if q.Scheme.GroupSize == -1 {
		group = "per channel"
	}
	return fmt.Sprintf("%s %d-bit %s", q.Method, q.Scheme.Bits, group)
}

// label names a quantized weight's storage in tables: "gptq int4 g128".
func label(method string, s intq.Scheme) string {
	group := fmt.Sprintf("g%d", s.GroupSize)
	if s.GroupSize == -1 {
		group = "channel"
	}
	return fmt.Sprintf("%s int%d %s", method, s.Bits, group)
}
