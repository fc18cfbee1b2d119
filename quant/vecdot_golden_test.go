package quant

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

// vecDotCase is one (row, activations) pair of the dot-product goldens.
type vecDotCase struct {
	name string
	row  int
	w    []byte
	x    []float32
}

// vecDotGoldenCases builds the cases of testdata/vecdot-golden from the
// ggml golden rows: every row of each input dotted with the next row of
// the same input, and three long rows made by joining rows, which
// exercise the float32 accumulation across many blocks.
func vecDotGoldenCases(t testing.TB, typ ggml.Type) []vecDotCase {
	load := func(in string) ([]float32, []byte) {
		return readF32File(t, filepath.Join("testdata", "ggml-golden", in+".f32")), readGolden(t, in+"."+typ.String()+".bin")
	}
	rowBytes, _ := typ.RowSize(256)
	var cases []vecDotCase
	for _, in := range kGoldenInputs {
		src, bin := load(in)
		rows := len(src) / 256
		for r := range rows {
			cases = append(cases, vecDotCase{in, r, bin[r*int(rowBytes) : (r+1)*int(rowBytes)], src[(r+1)%rows*256:][:256]})
		}
	}
	gauss, gaussBin := load("gauss")
	weights, weightsBin := load("weights")
	_, skewedBin := load("skewed")
	edge, _ := load("edge")
	cases = append(cases,
		vecDotCase{"weights*gauss", 0, weightsBin[:16*rowBytes], gauss[16*256 : 32*256]},
		vecDotCase{"gauss*weights", 0, gaussBin, weights},
		vecDotCase{"skewed*edge", 0, skewedBin, edge},
	)
	return cases
}

// TestVecDotGoldenBits checks VecDot bit for bit against results of
// ggml's generic C dot-product kernels (testdata/vecdot-golden/README.md).
func TestVecDotGoldenBits(t *testing.T) {
	want := map[string]uint32{}
	f, err := os.Open(filepath.Join("testdata", "vecdot-golden", "dots.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 4 {
			t.Fatalf("bad golden line %q", line)
		}
		bits, err := strconv.ParseUint(fs[3], 16, 32)
		if err != nil {
			t.Fatalf("bad golden line %q: %v", line, err)
		}
		want[fs[0]+" "+fs[1]+" "+fs[2]] = uint32(bits)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, typ := range vecDotTypes {
		for _, c := range vecDotGoldenCases(t, typ) {
			key := fmt.Sprintf("%s %s %d", typ, c.name, c.row)
			w, ok := want[key]
			if !ok {
				t.Fatalf("no golden for %s", key)
			}
			got, err := VecDot(typ, c.w, c.x)
			if err != nil {
				t.Fatal(err)
			}
			if math.Float32bits(got) != w {
				t.Errorf("%s: VecDot = %g (%#08x), ggml %g (%#08x)", key, got, math.Float32bits(got), math.Float32frombits(w), w)
			}
			checked++
		}
	}
	if checked != len(want) {
		t.Errorf("checked %d cases, golden file has %d", checked, len(want))
	}
}
