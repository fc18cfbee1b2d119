package arch

// Found places a checkpoint tensor name: its declaration, layer and expert.
type Found struct {
	Role   string
	Part   Part
	Layer  int
	Expert int
	// Piece is "" for the tensor itself, "blocks" or "scales" for MXFP4
	// storage, "scale_inv" for an FP8 block-scale tensor.
	Piece string
	Decl  *Tensor
}

// Classify finds the declaration a Hugging Face tensor name belongs to,
// with its pieces of packed storage. Names of layers the model does not
// have still classify (the caller reports them).
func (m *Model) Classify(name string) (Found, bool) {
	f := m.Family
	for _, piece := range []string{"", "_blocks", "_scales", "_scale_inv"} {
		base := name
		if piece != "" {
			if len(name) <= len(piece) || name[len(name)-len(piece):] != piece {
				continue
			}
			base = name[:len(name)-len(piece)]
		}
		for i := range f.Tensors {
			t := &f.Tensors[i]
			layer, expert, ok := match(t.HF, base)
			if !ok {
				continue
			}
			return Found{Role: t.Role, Part: t.Part, Layer: layer, Expert: expert, Piece: trimUnderscore(piece), Decl: t}, true
		}
	}
	return Found{Layer: -1, Expert: -1}, false
}

func trimUnderscore(s string) string {
	if s == "" {
		return s
	}
	return s[1:]
}
