package quant

import (
	"encoding/binary"
	"math"
	"testing"
)

// Every bfloat16 bit pattern, decoded at every start alignment and with a
// tail the SIMD kernel leaves to the portable loop, widens exactly.
func TestDecodeBF16AllPatterns(t *testing.T) {
	src := make([]byte, 2*(1<<16)+2*21)
	for h := range 1<<16 + 21 {
		binary.LittleEndian.PutUint16(src[2*h:], uint16(h))
	}
	for _, off := range []int{0, 1, 7, 16} {
		n := 1<<16 + 21 - off
		dst := make([]float32, n)
		decodeBF16(src[2*off:], dst)
		for i, v := range dst {
			if want := uint32(uint16(off+i)) << 16; math.Float32bits(v) != want {
				t.Fatalf("offset %d: value %d = %#08x, want %#08x", off, i, math.Float32bits(v), want)
			}
		}
	}
}

// A NaN or ±Inf at every position of slices around the kernel's group
// size, alone or after another, is found at its first occurrence.
func TestFindNonFiniteEveryPosition(t *testing.T) {
	bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.Float32frombits(0x7f800001), math.Float32frombits(0xffffffff)}
	good := []float32{0, math.MaxFloat32, -math.MaxFloat32, math.Float32frombits(0x7f7fffff), 1e-45, float32(math.Copysign(0, -1))}
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 64, 100} {
		src := make([]float32, n)
		for i := range src {
			src[i] = good[i%len(good)]
		}
		if i, ok := FindNonFinite(src); !ok || i != -1 {
			t.Fatalf("len %d, all finite: got %d, %v", n, i, ok)
		}
		for pos := range n {
			for _, b := range bad {
				src[pos] = b
				if i, ok := FindNonFinite(src); ok || i != pos {
					t.Fatalf("len %d, %v at %d: got %d, %v", n, b, pos, i, ok)
				}
				if pos+5 < n {
					src[pos+5] = b
					if i, ok := FindNonFinite(src); ok || i != pos {
						t.Fatalf("len %d, %v at %d and %d: got %d, %v", n, b, pos, pos+5, i, ok)
					}
					src[pos+5] = good[(pos+5)%len(good)]
				}
			}
			src[pos] = good[pos%len(good)]
		}
	}
}
