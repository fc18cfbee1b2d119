package validate

import (
	"fmt"
	"io"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/forward"
	"github.com/mxq-dev/mxq/internal/checkpoint"
	"github.com/mxq-dev/mxq/internal/safetext"
	"github.com/mxq-dev/mxq/model"
	"github.com/mxq-dev/mxq/tokenizer"
)

// Model is an opened checkpoint ready for the forward pass.
type Model struct {
	Path string
	// Format is "safetensors" (floating point), "compressed-tensors",
	// "gptq", "mlx" or "gguf".
	Format string
	Source forward.ExpertSource
	// Params is the number of weights; BitsPerWeight is the stored tensor
	// bytes (scales and zero points included) × 8 / Params.
	Params        int64
	BitsPerWeight float64

	dir    string
	config *model.Config // nil for GGUF
	closer io.Closer
	gg     *gguf.File
}

// Open opens a Hugging Face folder (or one of its .safetensors files) —
// floating point, or quantized in a layout its config.json names — or a
// GGUF file. Weights are read only when the forward pass asks for them.
func Open(path string) (_ *Model, err error) {
	defer func() { err = safetext.Error(err) }() // names from the files may be quoted
	c, err := checkpoint.Open(path)
	if err != nil {
		return nil, err
	}
	m, err := FromCheckpoint(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	return m, nil
}

// FromCheckpoint readies an opened checkpoint for the forward pass; the
// model closes it when closed.
func FromCheckpoint(c *checkpoint.Checkpoint) (*Model, error) {
	m := &Model{Path: c.Path, Format: c.Format(), dir: c.Dir, closer: c, Params: c.Params(), BitsPerWeight: c.BitsPerWeight()}
	if gg := c.GGUF(); gg != nil {
		m.gg = gg
	} else {
		m.config = c.Config
	}
	src, err := c.Forward()
	if err != nil {
		return nil, err
	}
	if m.Source, err = expertSource(src, c.Path); err != nil {
		return nil, err
	}
	return m, nil
}

// expertSource checks that src can be read one expert at a time.
func expertSource(src forward.Source, path string) (forward.ExpertSource, error) {
	es, ok := src.(forward.ExpertSource)
	if !ok {
		return nil, fmt.Errorf("validate: %s: the forward pass cannot read this model one expert at a time", path)
	}
	return es, nil
}

// Close releases the model's files.
func (m *Model) Close() error { return m.closer.Close() }

// Tokenizer loads the model's own tokenizer: the Hugging Face tokenizer
// files of its folder, or a GGUF's tokenizer.ggml.* metadata.
func (m *Model) Tokenizer() (*tokenizer.Vocab, error) {
	if m.gg != nil {
		return tokenizer.FromGGUFMetadata(func(key string) (any, bool) {
			v, ok := m.gg.Lookup(key)
			if !ok {
				return nil, false
			}
			return v.V, true
		})
	}
	return tokenizer.Load(m.dir, m.config.VocabSize)
}

// info describes the model for a report.
func (m *Model) info() ModelInfo {
	return ModelInfo{Path: m.Path, Format: m.Format, Params: m.Params, BitsPerWeight: m.BitsPerWeight}
}

// compatible checks that two models have the same shapes; only the RoPE
// pairing (which follows the file format) may differ.
func compatible(ref, cand *Model) error {
	a, b := ref.Source.Dims(), cand.Source.Dims()
	a.RopeStyle, b.RopeStyle = 0, 0
	if a.Hidden != b.Hidden || a.Intermediate != b.Intermediate || a.Layers != b.Layers || a.Heads != b.Heads ||
		a.KVHeads != b.KVHeads || a.HeadDim != b.HeadDim || a.Experts != b.Experts || a.TopK != b.TopK || a.Vocab != b.Vocab {
		return fmt.Errorf("validate: %s and %s have different shapes:\n  %+v\n  %+v", ref.Path, cand.Path, a, b)
	}
	return nil
}
