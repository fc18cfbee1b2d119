package validate

import (
	"math"
	"slices"
)

// logSoftmax returns log p for logits, in float64.
func logSoftmax(logits []float32) []float64 {
	m := math.Inf(-1)
	for _, l := range logits {
		m = max(m, float64(l))
	}
	var sum float64
	for _, l := range logits {
		sum += math.Exp(float64(l) - m)
	}
	lse := m + math.Log(sum)
	out := make([]float64, len(logits))
	for i, l := range logits {
		out[i] = float64(l) - lse
	}
	return out
}

// klDivergence is KL(p‖q) = Σ p·(log p − log q) from log-probabilities, in
// nats. Rounding can make a tiny true divergence negative; it is clamped
// to 0.
func klDivergence(lp, lq []float64) float64 {
	var kl float64
	for i, a := range lp {
		if p := math.Exp(a); p > 0 {
			kl += p * (a - lq[i])
		}
	}
	return max(kl, 0)
}

// argmax is the index of the largest value, the lowest one on ties.
func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// percentile is the p-quantile (0..1) of values with linear interpolation
// between order statistics (numpy's default): position p·(n−1) of the
// sorted values.
func percentile(values []float64, p float64) float64 {
	if len(values) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(values))
	pos := p * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (pos-float64(lo))*(s[hi]-s[lo])
}

// compareLogits computes the next-token statistics of two runs over the
// same tokens.
func compareLogits(ref, cand [][]float32, tokens []int) *LogitStats {
	n := len(ref)
	st := &LogitStats{Positions: n}
	kld := make([]float64, n)
	var nllRef, nllCand float64
	agree := 0
	for t := range n {
		lr, lc := logSoftmax(ref[t]), logSoftmax(cand[t])
		kld[t] = klDivergence(lr, lc)
		if argmax(ref[t]) == argmax(cand[t]) {
			agree++
		}
		if t+1 < len(tokens) {
			nllRef -= lr[tokens[t+1]]
			nllCand -= lc[tokens[t+1]]
		}
	}
	st.KLD = Distribution{Mean: mean(kld), P99: percentile(kld, 0.99), Max: slices.Max(kld)}
	st.Top1Agreement = float64(agree) / float64(n)
	st.Top1Same = agree
	if n >= 2 {
		st.PerplexityReference = perplexity(nllRef, n-1)
		st.PerplexityCandidate = perplexity(nllCand, n-1)
	}
	return st
}

// perplexity is exp(nll/n), saturating at the largest float64 so that a
// hopeless model still has a report JSON can encode.
func perplexity(nll float64, n int) float64 {
	return min(math.Exp(nll/float64(n)), math.MaxFloat64)
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// compareRouting compares two layers' routing decisions for the same
// tokens: topk[t] are the chosen experts of token t and w[t] their
// renormalised weights.
func compareRouting(layer int, refK, candK [][]int, refW, candW [][]float32) RoutingStats {
	st := RoutingStats{Layer: layer, Tokens: len(refK)}
	var overlap, l1 float64
	for t := range refK {
		shared := 0
		for _, e := range refK[t] {
			if slices.Contains(candK[t], e) {
				shared++
			}
		}
		k := max(len(refK[t]), len(candK[t]))
		if shared == len(refK[t]) && shared == len(candK[t]) {
			st.Same++
		}
		overlap += float64(shared) / float64(k)
		// Σ over the union of experts of |w_ref(e) − w_cand(e)|, where an
		// expert not chosen by a model has weight 0 there.
		var d float64
		for i, e := range refK[t] {
			d += math.Abs(float64(refW[t][i]) - weightOf(e, candK[t], candW[t]))
		}
		for i, e := range candK[t] {
			if !slices.Contains(refK[t], e) {
				d += math.Abs(float64(candW[t][i]))
			}
		}
		l1 += d
	}
	if n := float64(len(refK)); n > 0 {
		st.Agreement = float64(st.Same) / n
		st.Overlap = overlap / n
		st.WeightL1 = l1 / n
	}
	return st
}

func weightOf(e int, experts []int, w []float32) float64 {
	if i := slices.Index(experts, e); i >= 0 {
		return float64(w[i])
	}
	return 0
}

// compareOutputs measures a candidate block output against the reference
// one over all tokens at once.
func compareOutputs(ref, cand [][]float32) (relErr, cosine, maxAbs float64) {
	var num, den, dot, nc float64
	for t := range ref {
		for i, r := range ref[t] {
			c := cand[t][i]
			d := float64(c) - float64(r)
			num += d * d
			den += float64(r) * float64(r)
			dot += float64(r) * float64(c)
			nc += float64(c) * float64(c)
			maxAbs = max(maxAbs, math.Abs(d))
		}
	}
	switch {
	case den > 0:
		relErr = math.Sqrt(num / den)
	case num > 0:
		relErr = 1 // an all-zero reference output: any deviation is total
	}
	switch {
	case den > 0 && nc > 0:
		cosine = dot / math.Sqrt(den*nc)
	case den == 0 && nc == 0:
		cosine = 1
	}
	return relErr, cosine, maxAbs
}

// firstNonFinite finds a NaN or ±Inf in m.
func firstNonFinite(m [][]float32) (row, col int, ok bool) {
	for r, v := range m {
		for c, x := range v {
			if x-x != 0 {
				return r, c, true
			}
		}
	}
	return 0, 0, false
}
