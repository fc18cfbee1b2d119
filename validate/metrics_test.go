package validate

import (
	"context"
	"math"
	"strings"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestKLDivergence(t *testing.T) {
	// p = softmax(0, 0) = (1/2, 1/2); q = softmax(log 3, 0) = (3/4, 1/4):
	// KL = ½ log(½/¾) + ½ log(½/¼) = ½ log(4/3).
	lp, lq := logSoftmax([]float32{0, 0}), logSoftmax([]float32{float32(math.Log(3)), 0})
	if got, want := klDivergence(lp, lq), 0.5*math.Log(4.0/3); !near(got, want, 1e-7) {
		t.Errorf("KL = %v, want %v", got, want)
	}
	if got := klDivergence(lp, lp); got != 0 {
		t.Errorf("KL(p‖p) = %v", got)
	}
	// Large logits must not overflow.
	big := logSoftmax([]float32{1000, 999, -1e30})
	if math.IsNaN(big[0]) || !near(math.Exp(big[0])+math.Exp(big[1]), 1, 1e-12) {
		t.Errorf("log-softmax of large logits: %v", big)
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{5, 1, 4, 2, 3}
	for _, c := range []struct{ p, want float64 }{{0, 1}, {0.5, 3}, {1, 5}, {0.99, 4.96}, {0.25, 2}} {
		if got := percentile(v, c.p); !near(got, c.want, 1e-12) {
			t.Errorf("percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if percentile(nil, 0.5) != 0 || percentile([]float64{7}, 0.99) != 7 {
		t.Error("degenerate percentiles")
	}
}

func TestCompareLogits(t *testing.T) {
	ref := [][]float32{{2, 1, 0}, {0, 3, 0}, {1, 1, 5}}
	cand := [][]float32{{2, 1, 0}, {3, 0, 0}, {1, 1, 4}}
	tokens := []int{0, 1, 2}
	st := compareLogits(ref, cand, tokens)
	if st.Top1Same != 2 || !near(st.Top1Agreement, 2.0/3, 1e-15) {
		t.Errorf("top-1 %d (%v), want 2 of 3", st.Top1Same, st.Top1Agreement)
	}
	k1 := klDivergence(logSoftmax(ref[1]), logSoftmax(cand[1]))
	k2 := klDivergence(logSoftmax(ref[2]), logSoftmax(cand[2]))
	if st.KLD.Max != k1 || !near(st.KLD.Mean, (k1+k2)/3, 1e-15) || k1 <= k2 {
		t.Errorf("KLD %+v, per position 0, %v, %v", st.KLD, k1, k2)
	}
	// Perplexity from positions 0 and 1, predicting tokens 1 and 2.
	nll := -(logSoftmax(ref[0])[1] + logSoftmax(ref[1])[2]) / 2
	if !near(st.PerplexityReference, math.Exp(nll), 1e-12) {
		t.Errorf("reference perplexity %v, want %v", st.PerplexityReference, math.Exp(nll))
	}
	one := compareLogits(ref[:1], cand[:1], tokens[:1])
	if one.PerplexityReference != 0 || one.KLD.Max != 0 || one.Top1Agreement != 1 {
		t.Errorf("one position: %+v", one)
	}
}

func TestCompareRouting(t *testing.T) {
	refK := [][]int{{0, 1}, {2, 3}, {4, 5}, {6, 7}}
	candK := [][]int{{1, 0}, {2, 4}, {0, 1}, {6, 7}}
	refW := [][]float32{{0.6, 0.4}, {0.5, 0.5}, {0.7, 0.3}, {0.9, 0.1}}
	candW := [][]float32{{0.6, 0.4}, {0.8, 0.2}, {0.5, 0.5}, {0.8, 0.2}}
	st := compareRouting(3, refK, candK, refW, candW)
	// token 0: same set; w_ref(0)=.6 vs w_cand(0)=.4, w(1)=.4 vs .6: L1 0.4
	// token 1: {2,3} vs {2,4}: overlap ½; L1 |.5−.8| + .5 + .2 = 1.0
	// token 2: disjoint: L1 2
	// token 3: same set; L1 0.1 + 0.1 = 0.2
	if st.Layer != 3 || st.Tokens != 4 || st.Same != 2 || st.Agreement != 0.5 {
		t.Errorf("agreement: %+v", st)
	}
	if !near(st.Overlap, (1+0.5+0+1)/4, 1e-12) {
		t.Errorf("overlap %v", st.Overlap)
	}
	if !near(st.WeightL1, (0.4+1.0+2+0.2)/4, 1e-6) {
		t.Errorf("weight L1 %v, want %v", st.WeightL1, (0.4+1.0+2+0.2)/4)
	}
	same := compareRouting(0, refK, refK, refW, refW)
	if same.Agreement != 1 || same.Overlap != 1 || same.WeightL1 != 0 {
		t.Errorf("identical routing: %+v", same)
	}
}

func TestCompareOutputs(t *testing.T) {
	ref := [][]float32{{3, 0}, {0, 4}}
	cand := [][]float32{{3, 0}, {0, 3}}
	rel, cos, mx := compareOutputs(ref, cand)
	if !near(rel, 1.0/5, 1e-12) || !near(cos, 21/(5*math.Sqrt(18)), 1e-12) || mx != 1 {
		t.Errorf("rel %v cos %v max %v", rel, cos, mx)
	}
	zero := [][]float32{{0, 0}}
	if rel, cos, _ := compareOutputs(zero, zero); rel != 0 || cos != 1 {
		t.Errorf("zero vs zero: rel %v cos %v", rel, cos)
	}
	if rel, _, _ := compareOutputs(zero, [][]float32{{1, 0}}); rel != 1 {
		t.Errorf("zero reference: rel %v", rel)
	}
}

func TestReportCheck(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	r := &Report{
		Logits:  &LogitStats{KLD: Distribution{Mean: 0.02}, Top1Agreement: 0.9},
		Routing: []RoutingStats{{Layer: 0, Agreement: 0.95}, {Layer: 1, Agreement: 0.7}},
		Layers:  []LayerStats{{RoutingStats: RoutingStats{Layer: 5, Agreement: 0.99}, RelError: 0.3}},
	}
	r.Check(Thresholds{MaxKLD: f(0.05), MinTop1: f(0.85), MinRoutingAgreement: f(0.8)})
	if len(r.Breaches) != 1 || !strings.Contains(r.Breaches[0], "layer 1: routing agreement 0.7000") {
		t.Errorf("breaches %q", r.Breaches)
	}
	r.Check(Thresholds{MaxKLD: f(0.01), MinTop1: f(0.95), MaxMoEError: f(0.1)})
	if len(r.Breaches) != 3 || !r.Failed() {
		t.Errorf("breaches %q", r.Breaches)
	}
	r.Check(Thresholds{})
	if r.Failed() {
		t.Errorf("no thresholds, breaches %q", r.Breaches)
	}
}

func TestRandomStates(t *testing.T) {
	g := []float32{1, 2, 0.5, -1, 3, 1, 1, 1}
	a, _ := RandomStates(context.Background(), g, 50, 7, 3)
	b, _ := RandomStates(context.Background(), g, 50, 7, 3)
	c, _ := RandomStates(context.Background(), g, 50, 7, 4)
	if a[10][2] != b[10][2] || a[10][2] == c[10][2] {
		t.Error("states are not a function of (seed, stream)")
	}
	for _, x := range a {
		var ss float64
		for i, v := range x {
			n := float64(v / g[i])
			ss += n * n
		}
		if !near(ss/float64(len(g)), 1, 1e-5) {
			t.Fatalf("x/g has mean square %v, want 1", ss/float64(len(g)))
		}
	}
}

func TestParseTokens(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []int
		err  string
	}{
		{"[1, 2, 3]", []int{1, 2, 3}, ""},
		{" 1 22\n333\t4,5 ", []int{1, 22, 333, 4, 5}, ""},
		{"[1, -2]", nil, "negative"},
		{"1 two 3", nil, `item 2 ("two")`},
		{"[1, 2.5]", nil, "JSON array"},
		{"  ", nil, "no token ids"},
		{"[]", nil, "no token ids"},
	} {
		got, err := ParseTokens([]byte(c.in), "ids.txt")
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "ids.txt") {
				t.Errorf("%q: error %v, want one mentioning %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || len(got) != len(c.want) {
			t.Errorf("%q: %v %v", c.in, got, err)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%q: %v, want %v", c.in, got, c.want)
				break
			}
		}
	}
}

func FuzzParseTokens(f *testing.F) {
	for _, s := range []string{"[1, 2, 3]", "1 2 3\n", "1,2,3", "[]", "[-1]", "9999999999999999999999"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, err := ParseTokens(b, "fuzz")
		if err != nil {
			return
		}
		if len(ids) == 0 {
			t.Fatal("no ids and no error")
		}
		for _, id := range ids {
			if id < 0 {
				t.Fatalf("negative id %d accepted", id)
			}
		}
	})
}
