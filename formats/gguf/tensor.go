package gguf

import (
	"github.com/mxq-dev/mxq/ggml"
)

// TensorInfo describes one tensor. Dims is ggml's ne: the fastest-varying
// dimension first, the reverse of the NumPy/PyTorch shape. Offset is
// relative to the start of the data section.
type TensorInfo struct {
	Name   string
	Dims   []uint64
	Type   ggml.Type
	Offset uint64
}

// NumElements is the product of Dims (1 for a tensor without dimensions,
// as in ggml, where missing dimensions are 1). Only meaningful for a
// validated info; an overflowing product wraps.
func (t *TensorInfo) NumElements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Size is the number of bytes the tensor's data occupies, without padding
// (ggml_nbytes). It is 0 for an unknown type. Only meaningful for a
// validated info.
func (t *TensorInfo) Size() uint64 {
	bs := uint64(t.Type.BlockSize())
	if bs == 0 {
		return 0
	}
	return t.NumElements() / bs * uint64(t.Type.TypeSize())
}
