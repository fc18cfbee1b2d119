package forward

import (
	"fmt"

	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/model"
)

// stSource reads a Hugging Face checkpoint (F32, F16, BF16 or F64 tensors).
type stSource struct {
	roleSource
	ckpt *safetensors.Checkpoint
	cfg  *model.Config
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
	s := &stSource{ckpt: ckpt, cfg: cfg}
	s.roleSource = roleSource{dims: d, get: s.tensor}
	return s, nil
}

func (s *stSource) tensor(r model.TensorRole) ([]float32, error) {
	name, want, err := hfTarget(s.cfg, r)
	if err != nil {
		return nil, err
	}
	t, ok := s.ckpt.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("forward: checkpoint %s: tensor %q missing", s.ckpt.Dir, name)
	}
	return readFloat(t, name, want)
}

// hfTarget is the Hugging Face name and the shape cfg implies of the tensor
// of role r.
func hfTarget(cfg *model.Config, r model.TensorRole) (string, []int64, error) {
	name := cfg.HFName(r)
	want, ok := cfg.ExpectedHF(r)
	if name == "" || !ok {
		return "", nil, fmt.Errorf("forward: model has no tensor for role %+v", r)
	}
	return name, want, nil
}

// readFloat reads the floating-point tensor t, stored as name, after
// checking that its shape is want.
func readFloat(t safetensors.Tensor, name string, want []int64) ([]float32, error) {
	if !sameShape(t.Shape, want) {
		return nil, fmt.Errorf("forward: %s: tensor %q has shape %v, want %v", t.File.Name, name, t.Shape, want)
	}
	dst := make([]float32, t.NumElements())
	if err := t.ReadFloat32(dst); err != nil {
		return nil, err
	}
	return dst, nil
}

func (s *stSource) Output() ([]float32, error) {
	if !s.cfg.TieWordEmbeddings {
		if _, ok := s.ckpt.Lookup(s.cfg.HFName(globalRole(model.RoleOutput))); ok {
			return s.tensor(globalRole(model.RoleOutput))
		}
	}
	return s.Embedding()
}
