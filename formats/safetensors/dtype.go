package safetensors

// DType is a safetensors element type as spelled in the JSON header.
type DType string

// The element types of the safetensors format, in the order of the reference
// implementation's Dtype enum (increasing alignment).
const (
	BOOL    DType = "BOOL"
	U8      DType = "U8"
	I8      DType = "I8"
	F8_E5M2 DType = "F8_E5M2"
	F8_E4M3 DType = "F8_E4M3"
	I16     DType = "I16"
	U16     DType = "U16"
	F16     DType = "F16"
	BF16    DType = "BF16"
	I32     DType = "I32"
	U32     DType = "U32"
	F32     DType = "F32"
	F64     DType = "F64"
	I64     DType = "I64"
	U64     DType = "U64"
)

// dtypeOrder lists the dtypes in enum order; the writer sorts by the
// reverse of this rank, as the reference serializer does.
var dtypeOrder = [...]struct {
	d    DType
	size int
}{
	{BOOL, 1}, {U8, 1}, {I8, 1}, {F8_E5M2, 1}, {F8_E4M3, 1},
	{I16, 2}, {U16, 2}, {F16, 2}, {BF16, 2},
	{I32, 4}, {U32, 4}, {F32, 4},
	{F64, 8}, {I64, 8}, {U64, 8},
}

// DTypes returns every known dtype in the reference enum order.
func DTypes() []DType {
	out := make([]DType, len(dtypeOrder))
	for i, e := range dtypeOrder {
		out[i] = e.d
	}
	return out
}

// rank is the dtype's position in the reference enum, or -1 if unknown.
func (d DType) rank() int {
	for i, e := range dtypeOrder {
		if e.d == d {
			return i
		}
	}
	return -1
}

// lookupDType returns the known dtype spelled b, without allocating.
func lookupDType(b []byte) (DType, bool) {
	for _, e := range dtypeOrder {
		if string(e.d) == string(b) {
			return e.d, true
		}
	}
	return "", false
}

// Size returns the number of bytes per element, or 0 for an unknown dtype.
func (d DType) Size() int {
	if r := d.rank(); r >= 0 {
		return dtypeOrder[r].size
	}
	return 0
}

// Known reports whether d is one of the dtypes listed above.
func (d DType) Known() bool { return d.rank() >= 0 }
