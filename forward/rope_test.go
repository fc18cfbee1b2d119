package forward

import (
	"context"
	"math"
	"testing"
)

// TestRopePermutationEquivalence proves that llama.cpp's q/k row permutation
// plus adjacent-pair RoPE computes the same attention as the original rows
// plus rotate-half RoPE, and that mixing the two does not.
func TestRopePermutationEquivalence(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    Dims
		T    int
	}{
		{"mha", Dims{Hidden: 64, Heads: 4, KVHeads: 4, HeadDim: 16}, 9},
		{"gqa", Dims{Hidden: 96, Heads: 6, KVHeads: 2, HeadDim: 32}, 12},
		{"gqa-window", Dims{Hidden: 64, Heads: 8, KVHeads: 2, HeadDim: 8, SlidingWindow: 4}, 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.d
			d.Intermediate, d.Layers, d.Vocab, d.RopeTheta, d.RMSEps = 8, 1, 4, 10000, 1e-5
			r := &rng{s: 0x9e3779b97f4a7c15}
			lw := randomLayer(d, r)
			x := r.matrix(tc.T, d.Hidden, 1)

			want := attention(context.Background(), lw, d, x, exec{workers: 0}, tap{})

			perm := *lw
			perm.Q = permuteQK(lw.Q, d.Heads, d.HeadDim, d.Hidden)
			perm.K = permuteQK(lw.K, d.KVHeads, d.HeadDim, d.Hidden)
			dn := d
			dn.RopeStyle = RopeNormal
			got := attention(context.Background(), &perm, dn, x, exec{workers: 0}, tap{})
			if diff := maxDiff(got, want); diff > 1e-6 {
				t.Errorf("permuted rows + normal RoPE differ from rotate-half by %g", diff)
			}

			// Control: the permuted rows with rotate-half RoPE are a
			// different model.
			wrong := attention(context.Background(), &perm, d, x, exec{workers: 0}, tap{})
			if diff := maxDiff(wrong, want); diff < 1e-3 {
				t.Errorf("permuted rows + rotate-half RoPE agree to %g; the test cannot tell the styles apart", diff)
			}
		})
	}
}

// TestInvFreq checks the inverse frequencies against the float64 formula:
// they are float32 roundings of 1/theta^(2i/d).
func TestInvFreq(t *testing.T) {
	for _, tc := range []struct {
		theta float64
		d     int
	}{{10000, 128}, {1e6, 64}, {1e6, 128}, {500000, 8}} {
		inv := invFreq(tc.theta, tc.d)
		if len(inv) != tc.d/2 || inv[0] != 1 {
			t.Fatalf("theta %g d %d: %d values, first %g", tc.theta, tc.d, len(inv), inv[0])
		}
		for i, v := range inv {
			exact := math.Pow(tc.theta, -float64(2*i)/float64(tc.d))
			if rel := math.Abs(float64(v)-exact) / exact; rel > 1e-6 {
				t.Errorf("theta %g d %d i %d: %g, want %g (rel %g)", tc.theta, tc.d, i, v, exact, rel)
			}
		}
	}
}

// TestRopeStyles checks both rotations on a hand-made vector: at position 1
// with head dim 4 the pair frequencies are 1 and 1/sqrt(theta).
func TestRopeStyles(t *testing.T) {
	d := Dims{HeadDim: 4, RopeTheta: 100}
	rt := newRopeTable(d, 2)
	c0, s0 := float32(math.Cos(1)), float32(math.Sin(1))
	c1, s1 := float32(math.Cos(0.1)), float32(math.Sin(0.1))
	for _, tc := range []struct {
		style RopeStyle
		in    []float32
		want  []float32
	}{
		// rotate-half pairs (0,2) and (1,3)
		{RopeNeoX, []float32{1, 2, 3, 4}, []float32{c0 - 3*s0, 2*c1 - 4*s1, 3*c0 + s0, 4*c1 + 2*s1}},
		// adjacent pairs (0,1) and (2,3)
		{RopeNormal, []float32{1, 2, 3, 4}, []float32{c0 - 2*s0, 2*c0 + s0, 3*c1 - 4*s1, 4*c1 + 3*s1}},
	} {
		v := append([]float32(nil), tc.in...)
		rt.apply(v, 1, tc.style)
		for i := range v {
			if math.Abs(float64(v[i]-tc.want[i])) > 1e-6 {
				t.Errorf("%v: got %v, want %v", tc.style, v, tc.want)
				break
			}
		}
		v = append(v[:0], tc.in...)
		rt.apply(v, 0, tc.style)
		for i := range v {
			if v[i] != tc.in[i] {
				t.Errorf("%v: position 0 changed %v to %v", tc.style, tc.in, v)
				break
			}
		}
	}
}

// TestSlidingWindow checks the mask: with a window of W, the last position
// attends only to the last W tokens, which (RoPE being relative) equals
// attending over just those tokens without a window.
func TestSlidingWindow(t *testing.T) {
	d := Dims{Hidden: 32, Heads: 4, KVHeads: 2, HeadDim: 8, Intermediate: 8, Layers: 1, Vocab: 4, RopeTheta: 10000, RMSEps: 1e-5}
	r := &rng{s: 42}
	lw := randomLayer(d, r)
	const T, W = 10, 4
	x := r.matrix(T, d.Hidden, 1)

	dw := d
	dw.SlidingWindow = W
	windowed := attention(context.Background(), lw, dw, x, exec{workers: 0}, tap{})
	tail := attention(context.Background(), lw, d, x[T-W:], exec{workers: 0}, tap{})
	if diff := maxDiff(windowed[T-1:], tail[W-1:]); diff > 1e-5 {
		t.Errorf("windowed last position differs from attention over the last %d tokens by %g", W, diff)
	}
	full := attention(context.Background(), lw, d, x, exec{workers: 0}, tap{})
	if diff := maxDiff(windowed[T-1:], full[T-1:]); diff < 1e-4 {
		t.Errorf("window of %d changed the last position by only %g", W, diff)
	}
	if diff := maxDiff(windowed[:W], full[:W]); diff != 0 {
		t.Errorf("positions inside the window changed by %g", diff)
	}
	dw.SlidingWindow = T
	if diff := maxDiff(attention(context.Background(), lw, dw, x, exec{workers: 0}, tap{}), full); diff != 0 {
		t.Errorf("a window as long as the input changed the output by %g", diff)
	}
}
