package validate

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/forward"
	"github.com/mxq-dev/mxq/internal/checkpoint"
	"github.com/mxq-dev/mxq/internal/safeio"
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
	loc, err := checkpoint.Locate(path)
	if err != nil {
		return nil, err
	}
	if loc.GGUF {
		return openGGUF(path)
	}
	dir, cfgPath := loc.Dir, loc.ConfigPath()
	raw, err := safeio.ReadFile(cfgPath, safeio.ConfigLimit)
	if err != nil {
		return nil, err
	}
	cfg, err := model.ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfgPath, err)
	}
	q, err := forward.ParseQuantization(raw, cfgPath)
	if err != nil {
		return nil, err
	}
	if q == nil {
		// AutoGPTQ may keep its settings beside config.json only.
		qcPath := filepath.Join(dir, "quantize_config.json")
		if qraw, err := safeio.ReadFile(qcPath, safeio.ConfigLimit); err == nil {
			if q, err = forward.ParseQuantization(qraw, qcPath); err != nil {
				return nil, err
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	ckpt, err := safetensors.OpenCheckpoint(path)
	if err != nil {
		return nil, err
	}
	m := &Model{Path: path, Format: "safetensors", dir: dir, config: cfg, closer: ckpt}
	if q != nil {
		m.Format = q.Method
		m.Source, err = forward.FromQuantizedSafetensors(ckpt, cfg, q)
	} else {
		var src forward.Source
		if src, err = forward.FromSafetensors(ckpt, cfg); err == nil {
			m.Source, err = expertSource(src, path)
		}
	}
	if err != nil {
		ckpt.Close()
		return nil, err
	}
	m.Params = cfg.Params().Total
	if m.Params > 0 {
		m.BitsPerWeight = float64(ckpt.DataSize()) * 8 / float64(m.Params)
	}
	return m, nil
}

func openGGUF(path string) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	src, err := forward.FromGGUF(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	es, err := expertSource(src, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	m := &Model{Path: path, Format: "gguf", Source: es, dir: filepath.Dir(path), closer: f, gg: f}
	var bytes uint64
	for i := range f.Tensors {
		m.Params += int64(f.Tensors[i].NumElements())
		bytes += f.Tensors[i].Size()
	}
	if m.Params > 0 {
		m.BitsPerWeight = float64(bytes) * 8 / float64(m.Params)
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
