package safetensors

import "math"

// TensorInfo describes one tensor of a file: its name, dtype, shape
// (outermost dimension first, C order) and the byte range of its data,
// relative to the start of the data section.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int64
	Begin int64
	End   int64
}

// NumElements returns the product of the shape (1 for a scalar), or -1 if a
// dimension is negative or the product overflows int64. Tensors returned by
// the reader always have a valid count.
func (t *TensorInfo) NumElements() int64 {
	n, ok := numElements(t.Shape)
	if !ok {
		return -1
	}
	return n
}

// ByteSize returns NumElements times the dtype size: the number of data
// bytes the shape and dtype call for. It returns -1 for an unknown dtype, a
// negative dimension or an overflow.
func (t *TensorInfo) ByteSize() int64 {
	n, ok := byteSize(t.DType, t.Shape)
	if !ok {
		return -1
	}
	return n
}

func numElements(shape []int64) (int64, bool) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt64/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

func byteSize(d DType, shape []int64) (int64, bool) {
	size := int64(d.Size())
	if size == 0 {
		return 0, false
	}
	n, ok := numElements(shape)
	if !ok || n > math.MaxInt64/size {
		return 0, false
	}
	return n * size, true
}
