package quant

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
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

// Q4_K and Q6_K blocks of random bytes (every scale, minimum and code
// pattern, F16 scales of every magnitude but NaN) dequantize bit for bit as
// the portable loops do.
func TestDequantizeKKernelsMatchPortable(t *testing.T) {
	for _, tc := range []struct {
		name       string
		size       int
		halves     []int // offsets of the F16 scales
		dequantize func(src []byte, dst []float32)
		enabled    func() bool
		disable    func() func()
	}{
		{"Q4_K", q4KSize, []int{0, 2}, dequantizeQ4K,
			func() bool { return rowPass.dequantQ4K != nil },
			func() func() {
				k := rowPass.dequantQ4K
				rowPass.dequantQ4K = nil
				return func() { rowPass.dequantQ4K = k }
			}},
		{"Q6_K", q6KSize, []int{208}, dequantizeQ6K,
			func() bool { return rowPass.dequantQ6K != nil },
			func() func() {
				k := rowPass.dequantQ6K
				rowPass.dequantQ6K = nil
				return func() { rowPass.dequantQ6K = k }
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.enabled() {
				t.Skip("no SIMD dequantizer on this machine")
			}
			const blocks = 512
			rng := rand.New(rand.NewPCG(4, uint64(tc.size)))
			src := make([]byte, blocks*tc.size)
			for i := range src {
				src[i] = byte(rng.Uint32())
			}
			for i := range blocks {
				// Exponent 0x1f would make the half a NaN, whose payload
				// the comparison below could not tell apart.
				for _, k := range tc.halves {
					if src[i*tc.size+k+1]&0x7c == 0x7c {
						src[i*tc.size+k+1] &^= 0x04
					}
				}
			}
			want, got := make([]float32, blocks*256), make([]float32, blocks*256)
			restore := tc.disable()
			tc.dequantize(src, want)
			restore()
			tc.dequantize(src, got)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("value %d (block %d): kernel %v, portable %v", i, i/256, got[i], want[i])
				}
			}
		})
	}
}
