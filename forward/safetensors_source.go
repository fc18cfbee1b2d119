package forward

import (
	"fmt"

	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/model"
)

// stSource reads a Hugging Face checkpoint (F32, F16, BF16 or F64 tensors).
type stSource struct {
	ckpt *safetensors.Checkpoint
	cfg  *model.Config
	dims Dims
}

// FromSafetensors returns a Source over a Hugging Face checkpoint described
// by cfg. Tensors are read when asked for; the checkpoint must stay open
// while the Source is used. Tied embeddings (or a missing lm_head) make the
// output head the embedding table.
func FromSafetensors(ckpt *safetensors.Checkpoint, cfg *model.Config) (Source, error) {
	d := DimsFromConfig(cfg)
	if err := d.Check(); err != nil {
		return nil, err
	}
	return &stSource{ckpt: ckpt, cfg: cfg, dims: d}, nil
}

func (s *stSource) Dims() Dims { return s.dims }

func (s *stSource) tensor(r model.TensorRole) ([]float32, error) {
	name := model.HFName(r)
	want, ok := s.cfg.ExpectedHF(r)
	if name == "" || !ok {
		return nil, fmt.Errorf("forward: model has no tensor for role %+v", r)
	}
	t, ok := s.ckpt.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("forward: checkpoint %s: tensor %q missing", s.ckpt.Dir, name)
	}
	if !sameShape(t.Shape, want) {
		return nil, fmt.Errorf("forward: %s: tensor %q has shape %v, want %v", t.File.Name, name, t.Shape, want)
	}
	dst := make([]float32, t.NumElements())
	if err := t.ReadFloat32(dst); err != nil {
		return nil, err
	}
	return dst, nil
}

func (s *stSource) Embedding() ([]float32, error) {
	return s.tensor(globalRole(model.RoleEmbedding))
}

func (s *stSource) OutputNorm() ([]float32, error) {
	return s.tensor(globalRole(model.RoleOutputNorm))
}

func (s *stSource) Output() ([]float32, error) {
	if !s.cfg.TieWordEmbeddings {
		if _, ok := s.ckpt.Lookup(model.HFName(globalRole(model.RoleOutput))); ok {
			return s.tensor(globalRole(model.RoleOutput))
		}
	}
	return s.Embedding()
}

func (s *stSource) Layer(i int) (*LayerWeights, error) {
	return loadLayer(s.dims, i, s.tensor)
}
