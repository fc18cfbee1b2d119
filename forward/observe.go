package forward

import "github.com/mxq-dev/mxq/model"

// Observer sees the input of every matrix product with one of a decoder
// layer's weights, just before the product: w names the weight (its role and
// layer, and for an expert matrix its expert index; a dense MLP's matrices
// have roles RoleFFNGate, RoleFFNUp and RoleFFNDown and expert -1) and x
// holds the rows it multiplies ([rows][in], one row per token the product
// covers: every token of the run for attention and the router, the tokens
// routed to the expert for an expert matrix). Calls come from one goroutine,
// in the order of the products; x must not be modified or kept after the
// call returns.
type Observer func(w model.TensorRole, x [][]float32)

// tap hands one layer's matrix inputs to an Observer; the zero tap observes
// nothing, so the forward pass pays only a nil check without one.
type tap struct {
	fn    Observer
	layer int
}

// see reports x as the input of the weight of role r (expert -1 for none).
func (t tap) see(r model.Role, expert int, x [][]float32) {
	if t.fn != nil {
		t.fn(model.TensorRole{Role: r, Layer: t.layer, Expert: expert}, x)
	}
}

// expertTap is a tap with the roles and expert index of one expert's
// matrices (or the dense MLP's).
type expertTap struct {
	tap
	gate, up, down model.Role
	expert         int
}

// expert returns the tap for expert e of the layer (the MLP of a dense one).
func (t tap) expert(d Dims, e int) expertTap {
	if d.Dense() {
		return expertTap{tap: t, gate: model.RoleFFNGate, up: model.RoleFFNUp, down: model.RoleFFNDown, expert: -1}
	}
	return expertTap{tap: t, gate: model.RoleExpertGate, up: model.RoleExpertUp, down: model.RoleExpertDown, expert: e}
}

// see reports x as the input of the expert's matrix of role r.
func (t expertTap) see(r model.Role, x [][]float32) { t.tap.see(r, t.expert, x) }
