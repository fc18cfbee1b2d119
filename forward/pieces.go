package forward

import (
	"fmt"

	"github.com/mxq-dev/mxq/model"
)

// ExpertSource is a Source that can also hand out a layer piece by piece,
// so that a caller holds a single expert's matrices at a time instead of a
// whole layer (5.6 GB in float32 for a Mixtral-8x7B layer). Every Source
// this package returns implements it.
type ExpertSource interface {
	Source
	// LayerShared reads layer i without its experts: the norms, the
	// attention weights and the router (nil for a dense layer). Experts is
	// left nil.
	LayerShared(i int) (*LayerWeights, error)
	// Expert reads expert e of layer i; for a dense layer, e = 0 is its
	// MLP.
	Expert(i, e int) (*Expert, error)
}

// LayerShared reads layer l without its experts.
func (s *roleSource) LayerShared(l int) (*LayerWeights, error) {
	d := s.dims
	if l < 0 || l >= d.Layers {
		return nil, fmt.Errorf("forward: layer %d out of range [0,%d)", l, d.Layers)
	}
	lw := &LayerWeights{}
	for _, t := range []struct {
		dst    *[]float32
		stored **QuantMatrix
		role   model.Role
	}{
		{&lw.AttnNorm, nil, model.RoleAttnNorm},
		{&lw.Q, &lw.QQ, model.RoleAttnQ},
		{&lw.K, &lw.QK, model.RoleAttnK},
		{&lw.V, &lw.QV, model.RoleAttnV},
		{&lw.O, &lw.QO, model.RoleAttnOutput},
		{&lw.FFNNorm, nil, model.RoleFFNNorm},
	} {
		if t.stored != nil && s.stored != nil {
			q, err := s.stored(layerRole(t.role, l))
			if err != nil {
				return nil, err
			}
			*t.stored = q
			continue
		}
		w, err := s.get(layerRole(t.role, l))
		if err != nil {
			return nil, err
		}
		*t.dst = w
	}
	if d.QKNorm {
		var err error
		if lw.QNorm, err = s.get(layerRole(model.RoleAttnQNorm, l)); err != nil {
			return nil, err
		}
		if lw.KNorm, err = s.get(layerRole(model.RoleAttnKNorm, l)); err != nil {
			return nil, err
		}
	}
	if !d.Dense() {
		var err error
		if lw.Router, err = s.get(layerRole(model.RoleRouter, l)); err != nil {
			return nil, err
		}
	}
	return lw, nil
}

// Expert reads expert e of layer l (the dense MLP for e = 0 of a dense
// layer).
func (s *roleSource) Expert(l, e int) (*Expert, error) {
	d := s.dims
	if err := d.checkExpert(l, e); err != nil {
		return nil, err
	}
	roles, expert := expertRoles(d, e)
	ex := &Expert{}
	for i, dst := range []*[]float32{&ex.Gate, &ex.Down, &ex.Up} {
		w, err := s.get(model.TensorRole{Role: roles[i], Layer: l, Expert: expert})
		if err != nil {
			return nil, err
		}
		*dst = w
	}
	return ex, nil
}

// expertRoles returns the roles of expert e's gate, down and up matrices
// and the expert index their tensors carry (-1 for a dense MLP).
func expertRoles(d Dims, e int) ([3]model.Role, int) {
	if d.Dense() {
		return [3]model.Role{model.RoleFFNGate, model.RoleFFNDown, model.RoleFFNUp}, -1
	}
	return [3]model.Role{model.RoleExpertGate, model.RoleExpertDown, model.RoleExpertUp}, e
}

// checkExpert fails unless layer l and expert e (0 for a dense layer's MLP)
// exist.
func (d Dims) checkExpert(l, e int) error {
	if l < 0 || l >= d.Layers {
		return fmt.Errorf("forward: layer %d out of range [0,%d)", l, d.Layers)
	}
	if e < 0 || e >= d.numExperts() {
		return fmt.Errorf("forward: expert %d out of range [0,%d)", e, d.numExperts())
	}
	return nil
}
