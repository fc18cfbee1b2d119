package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Caps that keep Metrics finite, so that it always encodes as JSON (which
// has no Inf or NaN): a lossless reconstruction reports SNRCapDB rather than
// +Inf, and a relative error against an all-zero reference reports
// RelErrorCap rather than +Inf (or 0 when the error is zero too).
const (
	SNRCapDB    = 999.0
	RelErrorCap = 1e9
)

// Metrics summarises how far a dequantized tensor is from the original.
//
// Element pairs in which either side is NaN or ±Inf are counted in the
// NaN*/Inf* fields and left out of the sums, so that one bad value is
// reported instead of poisoning them. A finite value that comes back NaN
// or ±Inf is an encoding failure, never hidden: the error figures then
// take their worst values (RelErrorCap, -SNRCapDB, cosine -1).
type Metrics struct {
	RMSE         float64 `json:"rmse"`          // sqrt(mean((w-ŵ)²))
	MaxAbsError  float64 `json:"max_abs_error"` // max |w-ŵ|
	RelFrobenius float64 `json:"rel_frobenius"` // ‖W-Ŵ‖/‖W‖
	SNRdB        float64 `json:"snr_db"`        // 10·log10(Σw²/Σ(w-ŵ)²), within ±SNRCapDB
	Cosine       float64 `json:"cosine"`        // cosine similarity of W and Ŵ as flat vectors
	// MatmulRelError is sqrt(Σ(W·x-Ŵ·x)²/Σ(W·x)²) over all rows and all
	// activation vectors x: the relative error of a layer's output. It is
	// 0 when there are no activation vectors.
	MatmulRelError float64 `json:"matmul_rel_error"`
	// ImatrixError is Σ w·(x−x̂)² / Σ w·x² over the finite values, w the
	// importance weight of each value's column (an imatrix's in_sum2 /
	// count): the error the importance-weighted quantizers minimise,
	// relative to the weighted energy of the tensor. Nil when no weights
	// were given (AddWeightedRows).
	ImatrixError *float64 `json:"imatrix_weighted_error,omitempty"`
	Count        int64    `json:"count"` // elements seen, non-finite ones included
	NaNIn        int64    `json:"nan_in"`
	InfIn        int64    `json:"inf_in"`
	NaNOut       int64    `json:"nan_out"`
	InfOut       int64    `json:"inf_out"`
}

// Stats accumulates Metrics over the rows of one weight matrix in a single
// streaming pass. A Stats is not safe for concurrent use: give each
// goroutine its own (see Fork) and Merge them at the end.
type Stats struct {
	rowLen int
	act    []float64 // activation vectors, each rowLen long, back to back; shared by forks, never written
	nAct   int
	// simd is set when the SIMD row kernel applies: there is one, and
	// there are exactly the four probes it takes.
	simd bool

	count, finite                int64
	lost                         int64 // finite values that came back NaN or ±Inf
	nanIn, infIn, nanOut, infOut int64
	sse, sumW2, sumQ2, dot, maxE float64
	sumY2, sumYErr2              float64
	weighted                     bool // AddWeightedRows was called
	wErr, wRef                   float64
	// sums is the SIMD kernel's output, kept here because a local passed
	// to a kernel through a function value would be allocated per row.
	sums rowSums
}

// probeStream is PCG's second seed word for the probe vectors, fixed so a
// given seed always yields the same probes.
const probeStream = 0x6d78715f70726f62

// NewStats returns a Stats for rows of rowLen elements whose matmul check
// uses probes activation vectors with N(0,1) entries drawn from a PCG
// generator seeded with seed, so equal arguments give equal probes.
func NewStats(rowLen, probes int, seed uint64) *Stats {
	s := &Stats{rowLen: max(rowLen, 0)}
	if probes > 0 && s.rowLen > 0 {
		rng := rand.New(rand.NewPCG(seed, probeStream))
		s.nAct = probes
		s.act = make([]float64, probes*s.rowLen)
		for i := range s.act {
			s.act[i] = rng.NormFloat64()
		}
	}
	s.simd = rowPass.statsRow != nil && s.nAct == 4
	return s
}

// SetActivations replaces the random probes with real activation vectors,
// each rowLen long, for the matmul check. It must be called before any rows
// are added; xs is copied.
func (s *Stats) SetActivations(xs [][]float32) error {
	if s.count > 0 {
		return fmt.Errorf("quant: activations set after %d elements were added", s.count)
	}
	act := make([]float64, 0, len(xs)*s.rowLen)
	for i, x := range xs {
		if len(x) != s.rowLen {
			return fmt.Errorf("quant: activation vector %d has %d elements, want %d", i, len(x), s.rowLen)
		}
		if j, ok := FindNonFinite(x); !ok {
			return fmt.Errorf("quant: activation vector %d element %d is %g", i, j, x[j])
		}
		for _, v := range x {
			act = append(act, float64(v))
		}
	}
	s.act, s.nAct = act, len(xs)
	s.simd = rowPass.statsRow != nil && s.nAct == 4
	return nil
}

// Fork returns an empty Stats with the same row length and activation
// vectors (shared, read-only), for accumulating another chunk of rows in
// parallel before Merge.
func (s *Stats) Fork() *Stats {
	return &Stats{rowLen: s.rowLen, act: s.act, nAct: s.nAct, simd: s.simd}
}

// Merge adds the rows accumulated in o to s. Both should have been made
// with the same row length and activations (NewStats with equal arguments,
// or Fork).
func (s *Stats) Merge(o *Stats) {
	if o == nil {
		return
	}
	s.count += o.count
	s.finite += o.finite
	s.nanIn += o.nanIn
	s.infIn += o.infIn
	s.nanOut += o.nanOut
	s.infOut += o.infOut
	s.lost += o.lost
	s.sse += o.sse
	s.sumW2 += o.sumW2
	s.sumQ2 += o.sumQ2
	s.dot += o.dot
	s.maxE = max(s.maxE, o.maxE)
	s.sumY2 += o.sumY2
	s.sumYErr2 += o.sumYErr2
	s.weighted = s.weighted || o.weighted
	s.wErr += o.wErr
	s.wRef += o.wRef
}

// AddWeightedRows accumulates the importance-weighted error of whole rows
// (orig and deq as for AddRows; w holds one weight per column, applied to
// every row) without counting them again: call it beside AddRows for the
// rows that have weights.
func (s *Stats) AddWeightedRows(orig, deq, w []float32) error {
	if len(orig) != len(deq) {
		return fmt.Errorf("quant: %d original values but %d dequantized", len(orig), len(deq))
	}
	if len(w) == 0 || len(orig)%len(w) != 0 {
		return fmt.Errorf("quant: %d values is not a whole number of rows of %d weights", len(orig), len(w))
	}
	s.weighted = true
	for r := 0; r < len(orig); r += len(w) {
		var e2, x2 float64
		for i, wi := range w {
			a, b := orig[r+i], deq[r+i]
			if !isFinite32(a) || !isFinite32(b) {
				continue
			}
			d := float64(a) - float64(b)
			e2 += float64(wi) * d * d
			x2 += float64(wi) * float64(a) * float64(a)
		}
		s.wErr += e2
		s.wRef += x2
	}
	return nil
}

// AddRows accumulates whole rows: orig holds the original values and deq
// their dequantization, row after row.
func (s *Stats) AddRows(orig, deq []float32) error {
	if len(orig) != len(deq) {
		return fmt.Errorf("quant: %d original values but %d dequantized", len(orig), len(deq))
	}
	if s.rowLen == 0 || len(orig)%s.rowLen != 0 {
		return fmt.Errorf("quant: %d values is not a whole number of %d-element rows", len(orig), s.rowLen)
	}
	for r := 0; r < len(orig); r += s.rowLen {
		s.addRow(orig[r:][:s.rowLen], deq[r:][:s.rowLen])
	}
	return nil
}

func isFinite32(x float32) bool { return math.Float32bits(x)&0x7f800000 != 0x7f800000 }

// statLanes is how many partial sums each row sum is split into: value i
// of a row goes to lane i%statLanes, so that SIMD code adds a register of
// values per step; the lanes are added up at the end of the row.
const statLanes = 4

// rowSums holds the lanes of a row's sums: Σe², Σw², Σq², Σw·q, max|e|,
// then y and ye of each of four probes (the SIMD kernel's layout).
type rowSums [13][statLanes]float64

const (
	sumE2 = iota
	sumW2
	sumQ2
	sumDot
	sumMax
	sumY             // sumY+p: probe p's Σw·x
	sumYE = sumY + 4 // sumYE+p: probe p's Σe·x
)

// laneTotal adds up the lanes of one sum in a fixed order.
func laneTotal(l *[statLanes]float64) float64 { return (l[0] + l[1]) + (l[2] + l[3]) }

func (s *Stats) addRow(w, q []float32) {
	if s.simd {
		out := &s.sums
		n := len(w)
		rowPass.statsRow(w, q[:n], s.act[:4*n], (*[13][4]float64)(out))
		// The SIMD kernel leaves the last len(w)%4 values, which fall in
		// lanes 0..2 after it, to this loop.
		for i := n &^ 3; i < n; i++ {
			a, b := float64(w[i]), float64(q[i])
			e := a - b
			l := out
			k := i % statLanes
			l[sumE2][k] = math.FMA(e, e, l[sumE2][k])
			l[sumW2][k] = math.FMA(a, a, l[sumW2][k])
			l[sumQ2][k] = math.FMA(b, b, l[sumQ2][k])
			l[sumDot][k] = math.FMA(a, b, l[sumDot][k])
			l[sumMax][k] = max(l[sumMax][k], math.Abs(e))
			for p := range 4 {
				x := s.act[p*n+i]
				l[sumY+p][k] = math.FMA(a, x, l[sumY+p][k])
				l[sumYE+p][k] = math.FMA(e, x, l[sumYE+p][k])
			}
		}
		// Σw² and Σq² are finite exactly when every value is (float32
		// squares cannot overflow float64): otherwise the row is redone
		// value by value, counting the non-finite ones.
		sw, sq := laneTotal(&out[sumW2]), laneTotal(&out[sumQ2])
		if isFinite64(sw) && isFinite64(sq) {
			s.count += int64(n)
			s.finite += int64(n)
			s.sse += laneTotal(&out[sumE2])
			s.sumW2 += sw
			s.sumQ2 += sq
			s.dot += laneTotal(&out[sumDot])
			s.maxE = max(s.maxE, slices.Max(out[sumMax][:]))
			for p := range 4 {
				s.addProbe(laneTotal(&out[sumY+p]), laneTotal(&out[sumYE+p]))
			}
			return
		}
	}
	s.addRowGo(w, q)
}

// addProbe adds one probe's products of a row: y = w·x and ye = (w−ŵ)·x.
// The conversions keep the squares from being fused into the sums.
func (s *Stats) addProbe(y, ye float64) {
	s.sumY2 += float64(y * y)
	s.sumYErr2 += float64(ye * ye)
}

func isFinite64(x float64) bool { return math.Float64bits(x)&0x7ff0000000000000 != 0x7ff0000000000000 }

// addRowGo is the portable row pass, and the reference of rowPass.statsRow:
// every sum is split into statLanes lanes of fused multiply-adds, value i
// in lane i%statLanes, added up by laneTotal at the end of the row.
// Per-row partial sums also keep the float64 totals accurate on big
// tensors.
func (s *Stats) addRowGo(w, q []float32) {
	q = q[:len(w)]
	var sse, sw, sq, dot [statLanes]float64
	var maxE float64
	var finite int64
	clean := true
	for i, a32 := range w {
		b32 := q[i]
		if !isFinite32(a32) || !isFinite32(b32) {
			s.countNonFinite(a32, b32)
			clean = false
			continue
		}
		a, b := float64(a32), float64(b32)
		e := a - b
		k := i % statLanes
		sse[k] = math.FMA(e, e, sse[k])
		sw[k] = math.FMA(a, a, sw[k])
		sq[k] = math.FMA(b, b, sq[k])
		dot[k] = math.FMA(a, b, dot[k])
		// e is finite, so a compare gives max's result without its
		// NaN and signed-zero cases.
		if ae := math.Abs(e); ae > maxE {
			maxE = ae
		}
		finite++
	}
	s.count += int64(len(w))
	s.finite += finite
	s.sse += laneTotal(&sse)
	s.sumW2 += laneTotal(&sw)
	s.sumQ2 += laneTotal(&sq)
	s.dot += laneTotal(&dot)
	s.maxE = max(s.maxE, maxE)

	for p := range s.nAct {
		x := s.act[p*s.rowLen:][:len(w)]
		var y, ye [statLanes]float64
		for i, a32 := range w {
			if !clean && (!isFinite32(a32) || !isFinite32(q[i])) {
				continue
			}
			a := float64(a32)
			e := a - float64(q[i])
			k := i % statLanes
			y[k] = math.FMA(a, x[i], y[k])
			ye[k] = math.FMA(e, x[i], ye[k])
		}
		s.addProbe(laneTotal(&y), laneTotal(&ye))
	}
}

func (s *Stats) countNonFinite(a, b float32) {
	if isFinite32(a) {
		s.lost++
	}
	switch {
	case a != a:
		s.nanIn++
	case !isFinite32(a):
		s.infIn++
	}
	switch {
	case b != b:
		s.nanOut++
	case !isFinite32(b):
		s.infOut++
	}
}

// NonFiniteOut is how many of the dequantized values added so far were
// NaN or ±Inf.
func (s *Stats) NonFiniteOut() int64 { return s.nanOut + s.infOut }

// Result computes the metrics of the rows added so far.
func (s *Stats) Result() Metrics {
	m := Metrics{
		MaxAbsError: s.maxE,
		Count:       s.count,
		NaNIn:       s.nanIn,
		InfIn:       s.infIn,
		NaNOut:      s.nanOut,
		InfOut:      s.infOut,
	}
	if s.finite > 0 {
		m.RMSE = math.Sqrt(s.sse / float64(s.finite))
	}
	m.RelFrobenius = relError(s.sse, s.sumW2)
	m.MatmulRelError = relError(s.sumYErr2, s.sumY2)
	switch {
	case s.sse == 0:
		m.SNRdB = SNRCapDB
	case s.sumW2 == 0:
		m.SNRdB = -SNRCapDB
	default:
		m.SNRdB = min(SNRCapDB, max(-SNRCapDB, 10*math.Log10(s.sumW2/s.sse)))
	}
	switch {
	case s.sumW2 == 0 && s.sumQ2 == 0:
		m.Cosine = 1 // both all zero: identical
	case s.sumW2 == 0 || s.sumQ2 == 0:
		m.Cosine = 0
	default:
		// sqrt of the product is exact for identical tensors (cosine 1);
		// the product of roots only guards against overflow.
		norm := math.Sqrt(s.sumW2 * s.sumQ2)
		if math.IsInf(norm, 0) {
			norm = math.Sqrt(s.sumW2) * math.Sqrt(s.sumQ2)
		}
		m.Cosine = min(1, max(-1, s.dot/norm))
	}
	if s.weighted {
		v := RelErrorCap
		switch {
		case s.wErr == 0:
			v = 0
		case s.wRef > 0:
			v = min(RelErrorCap, s.wErr/s.wRef)
		}
		m.ImatrixError = &v
	}
	if s.lost > 0 {
		if s.weighted {
			*m.ImatrixError = RelErrorCap
		}
		m.RelFrobenius, m.MatmulRelError = RelErrorCap, RelErrorCap
		m.SNRdB, m.Cosine = -SNRCapDB, -1
	}
	return m
}

// relError is sqrt(errSq/refSq), capped at RelErrorCap.
func relError(errSq, refSq float64) float64 {
	if errSq == 0 {
		return 0
	}
	if refSq == 0 {
		return RelErrorCap
	}
	return min(RelErrorCap, math.Sqrt(errSq/refSq))
}
