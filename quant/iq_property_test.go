package quant

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

func iqGridType(t ggml.Type) bool { return slices.Contains(iqGridTypes, t) }

// unitWeights returns n weights of 1 for the types that cannot quantize
// without weights, and nil for the others.
func unitWeights(t ggml.Type, n int) []float32 {
	if !RequiresWeights(t) {
		return nil
	}
	w := make([]float32, n)
	for i := range w {
		w[i] = 1
	}
	return w
}

// quantizeOneRow quantizes x as a single row, with unit weights where the
// type requires weights.
func quantizeOneRow(t ggml.Type, x []float32, dst []byte) error {
	if !RequiresWeights(t) {
		return Quantize(t, x, dst)
	}
	return QuantizeRowsWeighted(t, x, len(x), unitWeights(t, len(x)), dst, 1)
}

// The decoding grids must equal ggml-common.h's iq*_grid tables, which
// ggml stores as data while mxq derives them from the index lists: each
// table's SHA-256 (of its little-endian bytes, as the header lists them)
// was taken from the header.
func TestLatticeDecodeGrids(t *testing.T) {
	for _, c := range []struct {
		name string
		l    *lattice
		sum  string
	}{
		{"iq2xxs_grid", iq2xxsLattice, "05826b5d3e472a3a78f196be62ac78acf81df0f909626e12ab9fa2a5d490dd54"},
		{"iq2xs_grid", iq2xsLattice, "06e47aaca60b4dc1d9b5a3f34540437058a6b142b4d7a59d5ded769b4d1bf1de"},
		{"iq2s_grid", iq2sLattice, "e1aa1473412b0552c2174c30ef22ab4073f6a181b85a17056e8249bd2932fd88"},
		{"iq1s_grid", iq1sLattice, "07540ffc1aeaf6ad4d97e96b0fcc765aae39671d4ae4a27bbd0e796fde167c6a"},
		{"iq3xxs_grid", iq3xxsLattice, "46e35f5a997efdee6c99ce57854c8a0d4f0ff8ca57e5e8a60c0793ea580acf5d"},
		{"iq3s_grid", iq3sLattice, "bd1af4945a1717c65610b0284e4628b9a1ba3b306fae3a06f6e5f597356e349f"},
	} {
		g := c.l.decodeGrid()
		raw := make([]byte, len(g))
		for i, v := range g {
			raw[i] = byte(int8(v))
			if float32(int8(v)) != v {
				t.Fatalf("%s: value %g is not a byte", c.name, v)
			}
		}
		if got := sha256.Sum256(raw); hex.EncodeToString(got[:]) != c.sum {
			t.Errorf("%s: SHA-256 %x, want %s", c.name, got, c.sum)
		}
	}
	// A few entries spelled out, from ggml-common.h.
	for _, c := range []struct {
		l     *lattice
		index int
		want  []byte
	}{
		{iq2xxsLattice, 1, []byte{0x2b, 8, 8, 8, 8, 8, 8, 8}},
		{iq2xxsLattice, 255, []byte{0x08, 0x19, 0x08, 0x08, 0x19, 0x2b, 0x2b, 0x2b}},
		{iq1sLattice, 1, []byte{0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{iq3xxsLattice, 255, []byte{0x04, 0x1c, 0x34, 0x3e}},
		{iq3sLattice, 511, []byte{0x01, 0x01, 0x0f, 0x0f}},
	} {
		dim := c.l.dim
		for i, v := range c.l.decodeGrid()[c.index*dim : (c.index+1)*dim] {
			if byte(int8(v)) != c.want[i] {
				t.Errorf("grid point %d coordinate %d = %g, want %#02x", c.index, i, v, c.want[i])
			}
		}
	}
}

// The code maps and neighbour lists, built by walking distances in
// ascending order, must equal what ggml_quantize_init's sort gives: every
// grid point at one of the nwant smallest distances from the code, by
// distance and then index.
func TestLatticeNeighbours(t *testing.T) {
	for _, l := range []*lattice{iq2xxsLattice, iq2xsLattice, iq2sLattice, iq1sLattice, iq3xxsLattice, iq3sLattice} {
		s := l.searchTables()
		dim := l.dim
		onGrid, offGrid := 0, 0
		type pd struct{ d, g int }
		all := make([]pd, len(l.codes))
		// Every grid point, and every 29th code off the grid (all of them
		// take seconds).
		for code := range s.index {
			if !l.inRange(code) || (s.index[code] < 0 && code%29 != 0) {
				continue
			}
			if g := s.index[code]; g >= 0 {
				if int(l.codes[g]) != code {
					t.Fatalf("code %#x maps to grid point %d with code %#x", code, g, l.codes[g])
				}
				onGrid++
				continue
			}
			offGrid++
			for g := range l.codes {
				d := 0
				for i := range dim {
					e := 2 * (int(s.levels[g*dim+i]) - l.level(uint16(code), i))
					d += e * e
				}
				all[g] = pd{d, g}
			}
			slices.SortFunc(all, func(a, b pd) int { return cmp.Or(cmp.Compare(a.d, b.d), cmp.Compare(a.g, b.g)) })
			var want []uint16
			levels := 0
			for i, p := range all {
				if i == 0 || p.d > all[i-1].d {
					if levels == l.nwant {
						break
					}
					levels++
				}
				want = append(want, uint16(p.g))
			}
			if got, _ := s.neighbourLists(code); !slices.Equal(got, want) {
				t.Fatalf("code %#x: neighbours %v, want %v", code, got, want)
			}
		}
		if onGrid != len(l.codes) {
			t.Errorf("%d grid points reachable, want %d", onGrid, len(l.codes))
		}
		if offGrid == 0 {
			t.Errorf("no off-grid codes")
		}
	}
}

// iqTestRows builds rows of mixed content: normal values, all-zero rows,
// rows with all-zero blocks of 16 and 32, and rows of one sign, so that
// every path of the quantizers, including the shift IQ1_S and IQ1_M carry
// from row to row, is taken.
func iqTestRows(rows, cols int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 11))
	x := make([]float32, rows*cols)
	for row := range rows {
		y := x[row*cols : (row+1)*cols]
		switch row % 5 {
		case 0:
			for i := range y {
				y[i] = float32(r.NormFloat64() * 0.02)
			}
		case 1: // left zero
		case 2:
			for i := range y {
				if (i/16)%3 != 0 {
					y[i] = float32(r.NormFloat64())
				}
			}
		case 3:
			for i := range y {
				if (i/32)%2 == 1 {
					y[i] = float32(r.ExpFloat64())
				}
			}
		case 4:
			for i := range y {
				y[i] = -float32(r.ExpFloat64() * math.Exp(r.NormFloat64()))
			}
		}
	}
	return x
}

func iqTestWeights(cols int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 13))
	w := make([]float32, cols)
	for i := range w {
		z := r.NormFloat64()
		w[i] = float32(z*z + 0.1)
		if r.IntN(64) == 0 {
			w[i] *= 1000
		}
	}
	return w
}

// weightChoices lists the weight vectors each grid type is tested with:
// none where ggml allows it, and random ones.
func weightChoices(t ggml.Type, cols int) map[string][]float32 {
	m := map[string][]float32{"weighted": iqTestWeights(cols, uint64(cols))}
	if !RequiresWeights(t) {
		m["unweighted"] = nil
	}
	return m
}

func quantizeAll(t *testing.T, typ ggml.Type, x []float32, cols int, w []float32, workers int) []byte {
	t.Helper()
	rb, err := typ.RowSize(int64(cols))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, int64(len(x)/cols)*rb)
	if err := QuantizeRowsWeighted(typ, x, cols, w, out, workers); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestIQGridDeterministic(t *testing.T) {
	const rows, cols = 23, 512
	x := iqTestRows(rows, cols, 5)
	for _, typ := range iqGridTypes {
		for name, w := range weightChoices(typ, cols) {
			t.Run(typ.String()+"/"+name, func(t *testing.T) {
				want := quantizeAll(t, typ, x, cols, w, 1)
				for workers := 2; workers <= 8; workers++ {
					if got := quantizeAll(t, typ, x, cols, w, workers); !bytes.Equal(got, want) {
						t.Fatalf("workers=%d: bytes differ from one worker's", workers)
					}
				}
				// Row by row, each row its own call, differs only where a
				// block carries state from an earlier row: never for rows
				// whose blocks are all non-zero.
				rb := len(want) / rows
				for r := 0; r < rows; r += 5 {
					got := quantizeAll(t, typ, x[r*cols:(r+1)*cols], cols, w, 1)
					if !bytes.Equal(got, want[r*rb:(r+1)*rb]) {
						t.Fatalf("row %d alone differs from the row within the matrix", r)
					}
				}
			})
		}
	}
}

func TestIQGridZeroRows(t *testing.T) {
	const cols = 512
	x := make([]float32, 3*cols)
	for _, typ := range iqGridTypes {
		for name, w := range weightChoices(typ, cols) {
			enc := quantizeAll(t, typ, x, cols, w, 2)
			if i := bytes.IndexFunc(enc, func(r rune) bool { return r != 0 }); i >= 0 {
				t.Errorf("%s %s: byte %d of zero rows is not zero", typ, name, i)
			}
			y := make([]float32, len(x))
			if err := DequantizeRows(typ, enc, cols, y, 2); err != nil {
				t.Fatal(err)
			}
			for i, v := range y {
				if v != 0 {
					t.Fatalf("%s %s: element %d of zero rows came back as %g", typ, name, i, v)
				}
			}
		}
	}
}

// Scaling every weight by 4^10 changes every weight, their square roots and
// all sums by exact powers of two, so the bytes must not change; far
// larger weights overflow the sums, and nothing may then blow up.
func TestIQGridWeightScale(t *testing.T) {
	const rows, cols = 10, 256
	x := iqTestRows(rows, cols, 9)
	w := iqTestWeights(cols, 3)
	scaled := make([]float32, cols)
	huge := make([]float32, cols)
	zero := make([]float32, cols)
	for i, v := range w {
		scaled[i] = v * 0x1p20
		huge[i] = v * 1e30
	}
	for _, typ := range iqGridTypes {
		t.Run(typ.String(), func(t *testing.T) {
			want := quantizeAll(t, typ, x, cols, w, 2)
			if got := quantizeAll(t, typ, x, cols, scaled, 2); !bytes.Equal(got, want) {
				t.Errorf("weights ×2^20 change the bytes")
			}
			if got := quantizeAll(t, typ, x, cols, slices.Repeat([]float32{1}, cols), 2); bytes.Equal(got, want) {
				t.Errorf("weights have no effect")
			}
			for name, ww := range map[string][]float32{"huge": huge, "zero": zero} {
				enc := quantizeAll(t, typ, x, cols, ww, 2)
				y := make([]float32, len(x))
				if err := DequantizeRows(typ, enc, cols, y, 2); err != nil {
					t.Fatal(err)
				}
				if i, ok := FindNonFinite(y); !ok {
					t.Errorf("%s weights: element %d decodes to %g", name, i, y[i])
				}
			}
		})
	}
}

// iqGridRMSE is an envelope for the relative RMS error of each type on
// N(0,1) rows with importance weights of ones: about 1.25 times what
// ggml's quantizers reach, ordered by bits per weight.
var iqGridRMSE = map[ggml.Type]float64{
	ggml.IQ3_S:   0.16,
	ggml.IQ3_XXS: 0.19,
	ggml.IQ2_S:   0.30,
	ggml.IQ2_XS:  0.33,
	ggml.IQ2_XXS: 0.38,
	ggml.IQ1_M:   0.50,
	ggml.IQ1_S:   0.58,
}

func TestIQGridRoundTripError(t *testing.T) {
	const rows, cols = 32, 1024
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	ones := slices.Repeat([]float32{1}, cols)
	prev := 0.0
	for _, typ := range []ggml.Type{ggml.IQ3_S, ggml.IQ3_XXS, ggml.IQ2_S, ggml.IQ2_XS, ggml.IQ2_XXS, ggml.IQ1_M, ggml.IQ1_S} {
		enc := quantizeAll(t, typ, x, cols, ones, 0)
		y := make([]float32, len(x))
		if err := DequantizeRows(typ, enc, cols, y, 0); err != nil {
			t.Fatal(err)
		}
		var se, ss float64
		for i := range x {
			d := float64(x[i] - y[i])
			se += d * d
			ss += float64(x[i]) * float64(x[i])
		}
		rel := math.Sqrt(se / ss)
		t.Logf("%-8s relative RMSE %.4f", typ, rel)
		if rel > iqGridRMSE[typ] {
			t.Errorf("%s: relative RMSE %.4f above %.2f", typ, rel, iqGridRMSE[typ])
		}
		if rel < prev {
			t.Errorf("%s: relative RMSE %.4f below that of a type with more bits (%.4f)", typ, rel, prev)
		}
		prev = rel
	}
}

func TestIQGridLengths(t *testing.T) {
	for _, typ := range iqGridTypes {
		x := make([]float32, 512)
		enc := make([]byte, 2*typ.TypeSize())
		w := make([]float32, 512)
		for _, c := range []struct {
			name string
			err  error
		}{
			{"dst short", QuantizeRowsWeighted(typ, x, 512, w, enc[:len(enc)-1], 1)},
			{"weights short", QuantizeRowsWeighted(typ, x, 512, w[:256], enc, 1)},
			{"row not whole blocks", QuantizeRowsWeighted(typ, x, 128, w[:128], enc, 1)},
			{"negative weight", QuantizeRowsWeighted(typ, x, 512, append(make([]float32, 511), -1), enc, 1)},
		} {
			if c.err == nil {
				t.Errorf("%s %s: no error", typ, c.name)
			}
		}
		err := Quantize(typ, x, enc)
		if RequiresWeights(typ) != (err != nil) {
			t.Errorf("%s: Quantize without weights: %v", typ, err)
		}
		if err := QuantizeRowsWeighted(typ, x, 512, w, enc, 1); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
}

// FuzzIQGrid quantizes arbitrary finite rows with arbitrary weights: no
// panic, and values and weights within the range float16 scales can
// hold decode to finite values.
func FuzzIQGrid(f *testing.F) {
	f.Add([]byte{}, []byte{})
	f.Add([]byte{0, 0, 0x80, 0x3f, 0, 0, 0x80, 0xbf}, []byte{0, 0, 0, 0})
	f.Add(bytes.Repeat([]byte{0x12, 0x34, 0x56, 0x40}, 300), bytes.Repeat([]byte{1, 0, 0, 0x3f}, 64))
	f.Fuzz(func(t *testing.T, data, wdata []byte) {
		const cols = 256
		x := fuzzFloats(data, 2*cols, 1e4)
		w := fuzzFloats(wdata, cols, 1e6)
		for i, v := range w {
			w[i] = abs32(v)
		}
		for _, typ := range iqGridTypes {
			for _, ww := range [][]float32{w, nil} {
				if ww == nil && RequiresWeights(typ) {
					continue
				}
				enc := quantizeAll(t, typ, x, cols, ww, 2)
				y := make([]float32, len(x))
				if err := DequantizeRows(typ, enc, cols, y, 1); err != nil {
					t.Fatal(err)
				}
				if i, ok := FindNonFinite(y); !ok {
					t.Fatalf("%s: element %d (input %g) decodes to %g", typ, i, x[i], y[i])
				}
			}
		}
	})
}

// fuzzFloats reads n float32 from data (zero past its end), replacing
// values that are not finite by 0 and clamping magnitudes to limit.
func fuzzFloats(data []byte, n int, limit float32) []float32 {
	x := make([]float32, n)
	for i := range min(n, len(data)/4) {
		v := math.Float32frombits(uint32(data[4*i]) | uint32(data[4*i+1])<<8 | uint32(data[4*i+2])<<16 | uint32(data[4*i+3])<<24)
		switch {
		case v != v || math.IsInf(float64(v), 0):
			v = 0
		case v > limit:
			v = limit
		case v < -limit:
			v = -limit
		}
		x[i] = v
	}
	return x
}
