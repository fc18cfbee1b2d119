package gguf

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ValueType is the type id of a metadata value.
type ValueType uint32

// Metadata value types (gguf.h).
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{
	TypeUint8: "uint8", TypeInt8: "int8", TypeUint16: "uint16", TypeInt16: "int16",
	TypeUint32: "uint32", TypeInt32: "int32", TypeFloat32: "float32", TypeBool: "bool",
	TypeString: "string", TypeArray: "array", TypeUint64: "uint64", TypeInt64: "int64",
	TypeFloat64: "float64",
}

// String returns the type's name, or "type(N)" for an unknown id.
func (t ValueType) String() string {
	if t.known() {
		return valueTypeNames[t]
	}
	return "type(" + strconv.FormatUint(uint64(t), 10) + ")"
}

func (t ValueType) known() bool { return t <= TypeFloat64 }

// size is the encoded size of one scalar of type t; strings are variable
// (8 is their minimum, the length prefix) and arrays have no fixed size.
func (t ValueType) size() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64, TypeString:
		return 8
	}
	return 0
}

// memSize is the memory one decoded array element of type t takes: a
// string's header (its bytes are charged as they are read), a bool's byte
// in the raw and the decoded slice, else the encoded size.
func (t ValueType) memSize() uint64 {
	switch t {
	case TypeString:
		return 16
	case TypeBool:
		return 2
	}
	return uint64(t.size())
}

// Value is one metadata value. For scalars V holds the matching Go type
// (uint8, int8, uint16, int16, uint32, int32, float32, bool, string, uint64,
// int64, float64) and ArrayType is unused. For arrays Type is TypeArray,
// ArrayType is the element type and V a slice of the matching Go type
// ([]string, []float32, []int32, ...). Values decoded by the reader always
// have this shape; NewLayout rejects values that do not.
type Value struct {
	Type      ValueType
	ArrayType ValueType
	V         any
}

// Uint8 returns a UINT8 value.
func Uint8(v uint8) Value { return Value{Type: TypeUint8, V: v} }

// Int8 returns an INT8 value.
func Int8(v int8) Value { return Value{Type: TypeInt8, V: v} }

// Uint16 returns a UINT16 value.
func Uint16(v uint16) Value { return Value{Type: TypeUint16, V: v} }

// Int16 returns an INT16 value.
func Int16(v int16) Value { return Value{Type: TypeInt16, V: v} }

// Uint32 returns a UINT32 value, the type llama.cpp expects for counts.
func Uint32(v uint32) Value { return Value{Type: TypeUint32, V: v} }

// Int32 returns an INT32 value.
func Int32(v int32) Value { return Value{Type: TypeInt32, V: v} }

// Float32 returns a FLOAT32 value.
func Float32(v float32) Value { return Value{Type: TypeFloat32, V: v} }

// Bool returns a BOOL value.
func Bool(v bool) Value { return Value{Type: TypeBool, V: v} }

// String returns a STRING value.
func String(v string) Value { return Value{Type: TypeString, V: v} }

// Uint64 returns a UINT64 value.
func Uint64(v uint64) Value { return Value{Type: TypeUint64, V: v} }

// Int64 returns an INT64 value.
func Int64(v int64) Value { return Value{Type: TypeInt64, V: v} }

// Float64 returns a FLOAT64 value.
func Float64(v float64) Value { return Value{Type: TypeFloat64, V: v} }

// Array returns an array of element type elem. slice must be the matching
// Go slice type ([]string for TypeString, []float32 for TypeFloat32, ...);
// NewLayout rejects a mismatch.
func Array(elem ValueType, slice any) Value {
	return Value{Type: TypeArray, ArrayType: elem, V: slice}
}

// AsUint returns an integer value of any width or signedness as uint64; it
// fails for negative numbers and non-integers.
func (v Value) AsUint() (uint64, bool) {
	switch x := v.V.(type) {
	case uint8:
		return uint64(x), v.Type == TypeUint8
	case uint16:
		return uint64(x), v.Type == TypeUint16
	case uint32:
		return uint64(x), v.Type == TypeUint32
	case uint64:
		return x, v.Type == TypeUint64
	}
	if i, ok := v.signed(); ok && i >= 0 {
		return uint64(i), true
	}
	return 0, false
}

// AsInt returns an integer value as int64; it fails for uint64 values above
// math.MaxInt64 and for non-integers.
func (v Value) AsInt() (int64, bool) {
	if i, ok := v.signed(); ok {
		return i, true
	}
	switch x := v.V.(type) {
	case uint8:
		return int64(x), v.Type == TypeUint8
	case uint16:
		return int64(x), v.Type == TypeUint16
	case uint32:
		return int64(x), v.Type == TypeUint32
	case uint64:
		return int64(x), v.Type == TypeUint64 && x <= math.MaxInt64
	}
	return 0, false
}

func (v Value) signed() (int64, bool) {
	switch x := v.V.(type) {
	case int8:
		return int64(x), v.Type == TypeInt8
	case int16:
		return int64(x), v.Type == TypeInt16
	case int32:
		return int64(x), v.Type == TypeInt32
	case int64:
		return x, v.Type == TypeInt64
	}
	return 0, false
}

// AsFloat returns a float or integer value as float64.
func (v Value) AsFloat() (float64, bool) {
	switch x := v.V.(type) {
	case float32:
		return float64(x), v.Type == TypeFloat32
	case float64:
		return x, v.Type == TypeFloat64
	}
	if i, ok := v.AsInt(); ok {
		return float64(i), true
	}
	if u, ok := v.AsUint(); ok {
		return float64(u), true
	}
	return 0, false
}

// AsString returns a String value.
func (v Value) AsString() (string, bool) {
	s, ok := v.V.(string)
	return s, ok && v.Type == TypeString
}

// AsBool returns a Bool value.
func (v Value) AsBool() (bool, bool) {
	b, ok := v.V.(bool)
	return b, ok && v.Type == TypeBool
}

// AsStrings returns an array of strings.
func (v Value) AsStrings() ([]string, bool) {
	s, ok := v.V.([]string)
	return s, ok && v.Type == TypeArray && v.ArrayType == TypeString
}

// Len returns the number of elements of an array value, or 1 for a scalar.
func (v Value) Len() int {
	if v.Type != TypeArray {
		return 1
	}
	return arrayLen(v.V)
}

// arrayLen returns the length of a supported slice type, or -1.
func arrayLen(s any) int {
	switch x := s.(type) {
	case []uint8:
		return len(x)
	case []int8:
		return len(x)
	case []uint16:
		return len(x)
	case []int16:
		return len(x)
	case []uint32:
		return len(x)
	case []int32:
		return len(x)
	case []float32:
		return len(x)
	case []bool:
		return len(x)
	case []string:
		return len(x)
	case []uint64:
		return len(x)
	case []int64:
		return len(x)
	case []float64:
		return len(x)
	}
	return -1
}

// displayElems bounds how many array elements String shows.
const displayElems = 8

// String formats the value for people: strings are quoted, and arrays show
// their element type, length and first few elements.
func (v Value) String() string {
	if v.Type != TypeArray {
		return formatScalar(v.V)
	}
	n := arrayLen(v.V)
	if n < 0 {
		return fmt.Sprintf("invalid array %T", v.V)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[%d]%s{", n, v.ArrayType)
	for i := 0; i < n && i < displayElems; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(formatScalar(elemAt(v.V, i)))
	}
	if n > displayElems {
		b.WriteString(", ...")
	}
	b.WriteString("}")
	return b.String()
}

func formatScalar(x any) string {
	switch x := x.(type) {
	case string:
		return strconv.Quote(x)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(x)
}

// elemAt returns element i of a supported slice type.
func elemAt(s any, i int) any {
	switch x := s.(type) {
	case []uint8:
		return x[i]
	case []int8:
		return x[i]
	case []uint16:
		return x[i]
	case []int16:
		return x[i]
	case []uint32:
		return x[i]
	case []int32:
		return x[i]
	case []float32:
		return x[i]
	case []bool:
		return x[i]
	case []string:
		return x[i]
	case []uint64:
		return x[i]
	case []int64:
		return x[i]
	case []float64:
		return x[i]
	}
	return nil
}

// KV is one metadata key-value pair. Files keep KVs in their stored order.
type KV struct {
	Key   string
	Value Value
}
