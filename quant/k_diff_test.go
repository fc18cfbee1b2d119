package quant

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

// kBlockQuantizers runs each block quantizer whose sub-block fit is tuned
// with that fit and with its oracle. (Q3_K's make_q3_quants is used as
// written and has no second version to compare; the goldens cover it.)
var kBlockQuantizers = []struct {
	typ        ggml.Type
	tuned, ref func(x *[256]float32, y []byte)
}{
	{ggml.Q2_K, withFit(quantizeBlockQ2K, makeQKX2), withFit(quantizeBlockQ2K, refMakeQKX2)},
	{ggml.Q4_K, withFit(quantizeBlockQ4K, makeQKX2), withFit(quantizeBlockQ4K, refMakeQKX2)},
	{ggml.Q5_K, withFit(quantizeBlockQ5K, makeQKX2), withFit(quantizeBlockQ5K, refMakeQKX2)},
	{ggml.Q6_K, withFit(quantizeBlockQ6K, makeQX), withFit(quantizeBlockQ6K, refMakeQX)},
}

// withFit binds a block quantizer to a sub-block fit and its own scratch.
func withFit[T int8 | uint8, F any](block func(*[256]float32, []byte, *kScratch[T], F), fit F) func(x *[256]float32, y []byte) {
	return func(x *[256]float32, y []byte) {
		block(x, y, new(kScratch[T]), fit)
	}
}

// The oracle itself must match ggml before it can vouch for anything.
func TestKRefGolden(t *testing.T) {
	for _, in := range kGoldenInputs {
		src := readF32File(t, filepath.Join("testdata", "ggml-golden", in+".f32"))
		for _, k := range kBlockQuantizers {
			want := readGolden(t, in+"."+k.typ.String()+".bin")
			bs := k.typ.TypeSize()
			got := make([]byte, bs)
			for blk := 0; blk < len(src)/256; blk++ {
				k.ref((*[256]float32)(src[blk*256:]), got)
				if !bytes.Equal(got, want[blk*bs:(blk+1)*bs]) {
					t.Errorf("%s %s: oracle differs from ggml in block %d", in, k.typ, blk)
					break
				}
			}
		}
	}
}

// kTestBlock fills x with one of many value patterns chosen by kind,
// covering ties, zeros, one-signed data, outliers and extreme magnitudes.
func kTestBlock(r *rand.Rand, kind int, x *[256]float32) {
	scale := float32(math.Pow(10, r.Float64()*8-6))
	for i := range x {
		var v float32
		switch kind {
		case 0:
			v = float32(r.NormFloat64())
		case 1: // bf16 weights with rare outliers
			v = float32(r.NormFloat64() * 0.02)
			if r.IntN(200) == 0 {
				v *= 30
			}
			v = math.Float32frombits(math.Float32bits(v) & 0xffff0000)
		case 2: // uniform, one-signed
			v = r.Float32() * scale
		case 3: // negative with an offset
			v = -1 - r.Float32()*scale
		case 4: // small integers: exact ties in every rounding step
			v = float32(r.IntN(17) - 8)
		case 5: // half steps
			v = (float32(r.IntN(33)-16) + 0.5) * scale
		case 6: // sparse
			if r.IntN(8) == 0 {
				v = float32(r.NormFloat64()) * scale
			}
		case 7: // one outlier in small noise
			v = float32(r.NormFloat64()) * 1e-3
			if i == 77 {
				v = 50
			}
		case 8: // per-16 scales differ wildly
			v = float32(r.NormFloat64()) * float32(math.Pow(10, float64(i/16%8)-4))
		case 9: // constant sub-blocks
			v = float32(i/16) - 7.5
		case 10: // subnormal and tiny
			v = float32(r.NormFloat64()) * 1e-39
		case 11: // large
			v = float32(r.NormFloat64()) * 3e4
		case 12: // coarse grid: values the quantizer can hit exactly
			v = float32(r.IntN(64)) * 0.0625
		case 13: // mostly one value with a few others
			v = 0.25
			if r.IntN(16) == 0 {
				v = float32(r.NormFloat64())
			}
		case 14: // all zero but one sub-block
			if i/16 == 5 {
				v = float32(r.NormFloat64())
			}
		default: // heavy tails
			v = float32(r.NormFloat64() / (r.Float64() + 0.05))
		}
		x[i] = v
	}
}

const kTestKinds = 16

func TestKTunedMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	n := 3000
	if testing.Short() {
		n = 300
	}
	var x [256]float32
	got := make([]byte, 256)
	want := make([]byte, 256)
	for iter := range n {
		kind := iter % kTestKinds
		kTestBlock(r, kind, &x)
		for _, k := range kBlockQuantizers {
			bs := k.typ.TypeSize()
			k.tuned(&x, got[:bs])
			k.ref(&x, want[:bs])
			if !bytes.Equal(got[:bs], want[:bs]) {
				t.Fatalf("%s kind %d iter %d: tuned kernel differs from reference\n got  %s\n want %s",
					k.typ, kind, iter, describeKBlock(k.typ, got), describeKBlock(k.typ, want))
			}
		}
	}
}

// FuzzKTunedMatchesReference feeds arbitrary finite blocks to both kernels.
func FuzzKTunedMatchesReference(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 5))
	var x [256]float32
	for kind := range kTestKinds {
		kTestBlock(r, kind, &x)
		b := make([]byte, 1024)
		for i, v := range x {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var x [256]float32
		for i := range x {
			if 4*i+4 <= len(b) {
				v := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || abs32(v) > 1e30 {
					v = 0
				}
				x[i] = v
			}
		}
		got := make([]byte, 256)
		want := make([]byte, 256)
		for _, k := range kBlockQuantizers {
			bs := k.typ.TypeSize()
			k.tuned(&x, got[:bs])
			k.ref(&x, want[:bs])
			if !bytes.Equal(got[:bs], want[:bs]) {
				t.Fatalf("%s: tuned kernel differs from reference", k.typ)
			}
		}
	})
}
