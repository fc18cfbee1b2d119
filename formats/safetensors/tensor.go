package safetensors

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/x448/float16"
)

// Tensor is a tensor together with the file that holds its data.
type Tensor struct {
	TensorInfo
	File *File
}

// Open returns a fresh reader over the tensor's raw little-endian bytes.
func (t Tensor) Open() *io.SectionReader { return t.File.Section(&t.TensorInfo) }

// ReadRaw reads the tensor's raw bytes into dst, whose length must be
// exactly End-Begin.
func (t Tensor) ReadRaw(dst []byte) error {
	if n := t.End - t.Begin; int64(len(dst)) != n {
		return fmt.Errorf("safetensors: %s: tensor %q: buffer holds %d bytes, tensor has %d", t.File.Name, t.Name, len(dst), n)
	}
	if err := readFull(t.File.r, dst, t.File.DataOffset+t.Begin); err != nil {
		return fmt.Errorf("safetensors: %s: tensor %q: %w", t.File.Name, t.Name, err)
	}
	return nil
}

// chunkSize bounds the memory ReadFloat32 uses; it is a multiple of every
// element size so no element straddles two chunks.
const chunkSize = 64 << 10

// CanReadFloat32 reports whether ReadFloat32 can decode dtype d.
func CanReadFloat32(d DType) bool {
	switch d {
	case F32, F16, BF16, F64:
		return true
	}
	return false
}

// ReadFloat32 decodes the tensor into dst, converting F16, BF16 and F64 to
// float32 (F64 rounds to nearest). len(dst) must equal NumElements. The data
// is streamed in 64 KiB chunks, so memory use does not grow with the tensor.
func (t Tensor) ReadFloat32(dst []float32) error {
	if !CanReadFloat32(t.DType) {
		return fmt.Errorf("safetensors: %s: tensor %q: cannot decode dtype %s to float32: %w", t.File.Name, t.Name, t.DType, ErrUnsupported)
	}
	if n := t.NumElements(); int64(len(dst)) != n {
		return fmt.Errorf("safetensors: %s: tensor %q: buffer holds %d values, tensor has %d", t.File.Name, t.Name, len(dst), n)
	}
	esize := t.DType.Size()
	total := t.End - t.Begin
	if total == 0 {
		return nil
	}
	buf := make([]byte, min(total, chunkSize))
	sr := t.Open()
	for off := 0; len(dst) > 0; {
		n := min(len(buf), len(dst)*esize)
		if _, err := io.ReadFull(sr, buf[:n]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("safetensors: %s: tensor %q: read at data byte %d: %w", t.File.Name, t.Name, off, err)
		}
		k := n / esize
		decodeFloat32(t.DType, dst[:k], buf[:n])
		dst = dst[k:]
		off += n
	}
	return nil
}

// decodeFloat32 converts len(dst) little-endian elements of src.
func decodeFloat32(d DType, dst []float32, src []byte) {
	switch d {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = float16.Frombits(binary.LittleEndian.Uint16(src[2*i:])).Float32()
		}
	case BF16:
		// bfloat16 is the top half of a float32, so widening is exact.
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
		}
	}
}
