package gguf

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// issue is a rule violation found by validate, located by the index of the
// KV or tensor info it concerns (-1 for neither).
type issue struct {
	kv, tensor int
	msg        string
}

// header is what validate derives from a valid set of KVs and tensor infos.
type header struct {
	alignment uint64
	sizes     []uint64 // unpadded byte size of each tensor
	dataSize  uint64   // size of the data section, every blob padded
}

// validate applies ggml's loader rules to a header. It is the one place
// those rules live: the reader runs it on what it decoded and NewLayout on
// what it was given. With assign set it sets each tensor's Offset to the
// contiguous position instead of checking it.
func validate(kvs []KV, tensors []TensorInfo, assign bool) (header, *issue) {
	var h header
	keys := make(map[string]struct{}, len(kvs))
	for i := range kvs {
		kv := &kvs[i]
		if kv.Key == "" {
			return h, &issue{kv: i, tensor: -1, msg: fmt.Sprintf("key %d is empty", i)}
		}
		if _, dup := keys[kv.Key]; dup {
			return h, &issue{kv: i, tensor: -1, msg: "duplicate key"}
		}
		keys[kv.Key] = struct{}{}
		if msg := checkValue(kv.Value); msg != "" {
			return h, &issue{kv: i, tensor: -1, msg: msg}
		}
	}

	align, at, msg := alignmentOf(kvs)
	if msg != "" {
		return h, &issue{kv: at, tensor: -1, msg: msg}
	}
	h.alignment = align

	names := make(map[string]struct{}, len(tensors))
	h.sizes = make([]uint64, len(tensors))
	var running uint64
	for i := range tensors {
		t := &tensors[i]
		size, msg := checkTensor(t)
		if msg == "" {
			if _, dup := names[t.Name]; dup {
				msg = "duplicate tensor name"
			}
		}
		if msg == "" && !assign {
			msg = checkOffset(t.Offset, running, align)
		}
		if msg != "" {
			return h, &issue{kv: -1, tensor: i, msg: msg}
		}
		names[t.Name] = struct{}{}
		if assign {
			t.Offset = running
		}
		h.sizes[i] = size
		padded := pad(size, align)
		if padded > math.MaxInt64-running {
			return h, &issue{kv: -1, tensor: i, msg: "tensor data section exceeds 2^63 bytes"}
		}
		running += padded
	}
	h.dataSize = running
	return h, nil
}

// checkValueType accepts the value types ggml reads: the 13 known types,
// arrays of any of them except arrays.
func checkValueType(t, elem ValueType) string {
	if !t.known() {
		return fmt.Sprintf("unknown value type %d", uint32(t))
	}
	if t != TypeArray {
		return ""
	}
	if elem == TypeArray {
		return "nested arrays are not supported by ggml"
	}
	if !elem.known() {
		return fmt.Sprintf("unknown array element type %d", uint32(elem))
	}
	return ""
}

func checkStringLen(n uint64) string {
	if n > MaxStringLen {
		return fmt.Sprintf("string length %d exceeds ggml's limit of %d", n, MaxStringLen)
	}
	return ""
}

func checkArrayLen(n uint64) string {
	if n > MaxArrayLen {
		return fmt.Sprintf("array of %d elements exceeds ggml's limit of %d", n, MaxArrayLen)
	}
	return ""
}

func checkNDims(n uint64) string {
	if n > MaxDims {
		return fmt.Sprintf("%d dimensions, ggml allows at most %d", n, MaxDims)
	}
	return ""
}

// checkValue checks a value's type ids and that V holds the Go type that
// goes with them.
func checkValue(v Value) string {
	if msg := checkValueType(v.Type, v.ArrayType); msg != "" {
		return msg
	}
	if v.Type != TypeArray {
		if !scalarMatches(v.Type, v.V) {
			return fmt.Sprintf("%s value holds a Go %T", v.Type, v.V)
		}
		if s, ok := v.V.(string); ok {
			return checkStringLen(uint64(len(s)))
		}
		return ""
	}
	n := arrayLen(v.V)
	if n < 0 || !scalarMatches(v.ArrayType, zeroElem(v.V)) {
		return fmt.Sprintf("array of %s holds a Go %T", v.ArrayType, v.V)
	}
	if msg := checkArrayLen(uint64(n)); msg != "" {
		return msg
	}
	if ss, ok := v.V.([]string); ok {
		for _, s := range ss {
			if msg := checkStringLen(uint64(len(s))); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// scalarMatches reports whether x has the Go type that represents t.
func scalarMatches(t ValueType, x any) bool {
	switch x.(type) {
	case uint8:
		return t == TypeUint8
	case int8:
		return t == TypeInt8
	case uint16:
		return t == TypeUint16
	case int16:
		return t == TypeInt16
	case uint32:
		return t == TypeUint32
	case int32:
		return t == TypeInt32
	case float32:
		return t == TypeFloat32
	case bool:
		return t == TypeBool
	case string:
		return t == TypeString
	case uint64:
		return t == TypeUint64
	case int64:
		return t == TypeInt64
	case float64:
		return t == TypeFloat64
	}
	return false
}

// zeroElem returns the zero element of a supported slice type, so an empty
// slice's element type can be checked too.
func zeroElem(s any) any {
	switch s.(type) {
	case []uint8:
		return uint8(0)
	case []int8:
		return int8(0)
	case []uint16:
		return uint16(0)
	case []int16:
		return int16(0)
	case []uint32:
		return uint32(0)
	case []int32:
		return int32(0)
	case []float32:
		return float32(0)
	case []bool:
		return false
	case []string:
		return ""
	case []uint64:
		return uint64(0)
	case []int64:
		return int64(0)
	case []float64:
		return float64(0)
	}
	return nil
}

// alignmentOf returns the alignment set by general.alignment (UINT32, a
// power of two) or the default, and on failure the index of that KV.
func alignmentOf(kvs []KV) (uint64, int, string) {
	for i, kv := range kvs {
		if kv.Key != KeyAlignment {
			continue
		}
		a, ok := kv.Value.V.(uint32)
		if kv.Value.Type != TypeUint32 || !ok {
			return 0, i, fmt.Sprintf("must be of type uint32, not %s", describeType(kv.Value))
		}
		if a == 0 || a&(a-1) != 0 {
			return 0, i, fmt.Sprintf("alignment %d is not a power of two", a)
		}
		return uint64(a), -1, ""
	}
	return DefaultAlignment, -1, ""
}

func describeType(v Value) string {
	if v.Type == TypeArray {
		return "array of " + v.ArrayType.String()
	}
	return v.Type.String()
}

// checkTensor checks one tensor info the way gguf.cpp does and returns its
// data size in bytes.
func checkTensor(t *TensorInfo) (uint64, string) {
	if len(t.Name) > MaxNameLen {
		return 0, fmt.Sprintf("name is %d bytes, ggml allows at most %d", len(t.Name), MaxNameLen)
	}
	if strings.IndexByte(t.Name, 0) >= 0 {
		// ggml keeps names as C strings; a NUL would silently shorten it.
		return 0, "name contains a NUL byte"
	}
	if msg := checkNDims(uint64(len(t.Dims))); msg != "" {
		return 0, msg
	}
	ne := [MaxDims]uint64{1, 1, 1, 1}
	for i, d := range t.Dims {
		if d > math.MaxInt64 {
			return 0, fmt.Sprintf("dimension %d is %d, negative as ggml's int64", i, d)
		}
		ne[i] = d
	}
	if ne[0] != 0 && ne[1] != 0 && ne[2] != 0 && ne[3] != 0 {
		// ggml requires each partial product to stay below INT64_MAX.
		p := ne[0]
		for k := 1; k < MaxDims; k++ {
			if math.MaxInt64/ne[k] <= p {
				return 0, fmt.Sprintf("element count of dims %v overflows int64", t.Dims)
			}
			p *= ne[k]
		}
	}
	if !t.Type.Known() {
		return 0, fmt.Sprintf("unknown ggml type %d", uint32(t.Type))
	}
	bs := uint64(t.Type.BlockSize())
	if ne[0]%bs != 0 {
		return 0, fmt.Sprintf("%s rows of %d elements are not a multiple of the block size %d", t.Type, ne[0], bs)
	}
	hi, size := bits.Mul64(ne[0]*ne[1]*ne[2]*ne[3]/bs, uint64(t.Type.TypeSize()))
	if hi != 0 || size > math.MaxInt64 {
		return 0, fmt.Sprintf("data size of dims %v overflows int64", t.Dims)
	}
	return size, ""
}

// checkOffset requires the tensor to start where the previous padded blob
// ended, the only placement ggml accepts.
func checkOffset(off, want, align uint64) string {
	if off%align != 0 {
		return fmt.Sprintf("data offset %d is not a multiple of the alignment %d", off, align)
	}
	if off != want {
		return fmt.Sprintf("data offset %d, expected %d: tensor data must be contiguous in info order", off, want)
	}
	return ""
}
