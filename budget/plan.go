package budget

import (
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/imatrix"
	"github.com/mxq-dev/mxq/model"
	"github.com/mxq-dev/mxq/quant"
	"github.com/mxq-dev/mxq/quantplan"
)

// Tensor is one tensor of the file to plan.
type Tensor struct {
	Name  string
	Dims  []uint64 // GGUF ne order: rows of Dims[0] values
	Role  model.Role
	Layer int
	// Parts are the experts stacked in a merged expert tensor (1
	// otherwise), each PartRows rows.
	Parts, PartRows int
	// Quantizable is false for tensors that keep Fixed whatever the
	// budget: norms and the router stay F32.
	Quantizable bool
	Fixed       ggml.Type
}

// RowReader reads rows of a tensor's part as float32: the plan's source.
type RowReader interface {
	ReadRows(tensor, part int, rows []int, dst []float32) error
}

// Options say what the planner may choose and how it measures.
type Options struct {
	Ladder  []ggml.Type     // candidate types; DefaultLadder when empty
	Imatrix *imatrix.Matrix // importance weights and routing counts; nil: plain error, uniform routing
	// Data is the tensors' source; nil plans with the prior damage model
	// and reads nothing.
	Data        RowReader
	RowsPerPart int    // rows sampled per expert (per tensor when dense); 0: 64
	Seed        uint64 // of the row sample
	Workers     int    // 0: all cores
}

// Candidate is one type a tensor may take.
type Candidate struct {
	Type   ggml.Type
	Bytes  int64
	RelErr float64 // relative squared error, routing-weighted mean over the experts
	Damage float64 // what the knapsack minimises
}

// Entry is a tensor with its candidates and the one chosen.
type Entry struct {
	Tensor
	Candidates []Candidate
	Pick       int
}

// Chosen is the entry's chosen candidate.
func (e *Entry) Chosen() Candidate { return e.Candidates[e.Pick] }

// Plan is every tensor's candidates and, after Fit, its choice.
type Plan struct {
	Entries []Entry
	// Measured is false when the damage comes from the prior model.
	Measured bool
}

// DefaultLadder is every storage type mxq can quantize to, F16 on top,
// without the ternary types (made for models trained ternary) and, with no
// importance matrix, without the types that require one.
func DefaultLadder(haveImatrix bool) []ggml.Type {
	out := []ggml.Type{ggml.F16}
	for _, t := range quant.SupportedTypes() {
		if !t.IsQuantized() || t == ggml.TQ1_0 || t == ggml.TQ2_0 || t == ggml.Q8_1 || t == ggml.Q8_K {
			continue
		}
		if quant.RequiresWeights(t) && !haveImatrix {
			continue
		}
		out = append(out, t)
	}
	return out
}

// CheckLadder refuses a ladder type that has no kernel, that needs an
// importance matrix when there is none, or whose block divides the rows
// of no quantizable tensor.
func CheckLadder(tensors []Tensor, ladder []ggml.Type, haveImatrix bool) error {
	for _, t := range ladder {
		if !quant.Supported(t) || (!t.IsQuantized() && t != ggml.F16 && t != ggml.BF16) {
			return fmt.Errorf("type %s cannot be planned (no quantization kernel in mxq)", t)
		}
		if quant.RequiresWeights(t) && !haveImatrix {
			return fmt.Errorf("type %s needs an importance matrix, and none is given", t)
		}
		usable := false
		for _, x := range tensors {
			if x.Quantizable && quantplan.RowFits(t, x.Dims) {
				usable = true
				break
			}
		}
		if !usable {
			return fmt.Errorf("type %s: its %d-value blocks divide the rows of no tensor of this model", t, t.BlockSize())
		}
	}
	return nil
}

// Build lists every tensor's candidates with their sizes and damage.
func Build(tensors []Tensor, opts Options) (*Plan, error) {
	ladder := opts.Ladder
	if len(ladder) == 0 {
		ladder = DefaultLadder(opts.Imatrix != nil)
	}
	rowsPer := opts.RowsPerPart
	if rowsPer <= 0 {
		rowsPer = 64
	}
	p := &Plan{Entries: make([]Entry, len(tensors)), Measured: opts.Data != nil}
	type job struct{ entry, part int }
	var jobs []job
	for i, t := range tensors {
		e := Entry{Tensor: t}
		types := []ggml.Type{t.Fixed}
		if t.Quantizable {
			types = types[:0]
			for _, typ := range ladder {
				if quantplan.RowFits(typ, t.Dims) && (!quant.RequiresWeights(typ) || hasWeights(opts.Imatrix, t)) {
					types = append(types, typ)
				}
			}
			if len(types) == 0 {
				types = []ggml.Type{ggml.F16} // llama-quantize's last fallback
			}
		}
		for _, typ := range types {
			b, err := quantplan.TensorBytes(typ, t.Dims)
			if err != nil {
				return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
			}
			e.Candidates = append(e.Candidates, Candidate{Type: typ, Bytes: b})
		}
		p.Entries[i] = e
		if !t.Quantizable {
			continue
		}
		if opts.Data == nil {
			for k := range e.Candidates {
				rel, err := PriorRelativeError(e.Candidates[k].Type)
				if err != nil {
					return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
				}
				e.Candidates[k].RelErr = rel
			}
			continue
		}
		for part := range t.Parts {
			jobs = append(jobs, job{i, part})
		}
	}
	if opts.Data != nil {
		// relErr[entry][part][candidate]
		relErr := make([][][]float64, len(p.Entries))
		for i, e := range p.Entries {
			relErr[i] = make([][]float64, e.Parts)
		}
		workers := opts.Workers
		if workers <= 0 {
			workers = runtime.GOMAXPROCS(0)
		}
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			firstErr error
			next     int
		)
		for range min(workers, max(len(jobs), 1)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					mu.Lock()
					if next >= len(jobs) || firstErr != nil {
						mu.Unlock()
						return
					}
					j := jobs[next]
					next++
					mu.Unlock()
					errs, err := measurePart(opts, &p.Entries[j.entry], j.entry, j.part, rowsPer)
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = err
					}
					relErr[j.entry][j.part] = errs
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return nil, firstErr
		}
		for i := range p.Entries {
			e := &p.Entries[i]
			if !e.Quantizable {
				continue
			}
			freq := routingFrequency(opts.Imatrix, e.Tensor)
			for k := range e.Candidates {
				var s float64
				for part := range e.Parts {
					s += freq[part] * relErr[i][part][k]
				}
				e.Candidates[k].RelErr = s / float64(e.Parts)
			}
		}
	}
	for i := range p.Entries {
		e := &p.Entries[i]
		n := float64(elements(e.Dims))
		for k := range e.Candidates {
			e.Candidates[k].Damage = e.Candidates[k].RelErr * n * RoleSensitivity(e.Role)
		}
	}
	return p, nil
}

func elements(dims []uint64) int64 {
	n := int64(1)
	for _, d := range dims {
		n *= int64(d)
	}
	return n
}

func hasWeights(m *imatrix.Matrix, t Tensor) bool {
	if m == nil {
		return false
	}
	_, ok := m.Lookup(t.Name)
	return ok
}

// measurePart measures every candidate of one expert (or dense tensor) on
// its row sample.
func measurePart(opts Options, e *Entry, entry, part, rowsPer int) ([]float64, error) {
	cols := int(e.Dims[0])
	rows := SampleRows(e.PartRows, rowsPer, opts.Seed, e.Name, part)
	slices.Sort(rows) // read forward
	data := make([]float32, len(rows)*cols)
	if err := opts.Data.ReadRows(entry, part, rows, data); err != nil {
		return nil, err
	}
	var w []float32
	if opts.Imatrix != nil {
		var ok bool
		var err error
		w, ok, err = opts.Imatrix.ExpertWeights(e.Name, part, cols, e.Parts)
		if err != nil {
			return nil, err
		}
		if !ok {
			w = nil
		}
	}
	out := make([]float64, len(e.Candidates))
	for k, c := range e.Candidates {
		rel, err := RelativeError(c.Type, data, cols, w)
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %s: %w", e.Name, c.Type, err)
		}
		out[k] = rel
	}
	return out, nil
}

// routingFrequency is each expert's share of the tokens relative to an even
// split (1 = average), from the importance matrix's counts; all 1 without
// one or for a dense tensor.
func routingFrequency(m *imatrix.Matrix, t Tensor) []float64 {
	freq := make([]float64, t.Parts)
	for i := range freq {
		freq[i] = 1
	}
	if m == nil || m.Legacy || t.Parts < 2 {
		return freq
	}
	e, ok := m.Lookup(t.Name)
	if !ok || len(e.Counts) != t.Parts {
		return freq
	}
	var sum float64
	for _, c := range e.Counts {
		sum += float64(c)
	}
	if sum <= 0 {
		return freq
	}
	for i, c := range e.Counts {
		freq[i] = float64(c) * float64(t.Parts) / sum
	}
	return freq
}

// MinBytes and MaxBytes are the tensor data of the smallest and the
// largest choice of every tensor.
func (p *Plan) MinBytes() int64 { return p.extreme(func(a, b int64) bool { return a < b }) }
func (p *Plan) MaxBytes() int64 { return p.extreme(func(a, b int64) bool { return a > b }) }

func (p *Plan) extreme(better func(a, b int64) bool) int64 {
	var n int64
	for _, e := range p.Entries {
		best := e.Candidates[0].Bytes
		for _, c := range e.Candidates[1:] {
			if better(c.Bytes, best) {
				best = c.Bytes
			}
		}
		n += best
	}
	return n
}

// Fit chooses every tensor's type so the tensor data is at most capacity
// bytes with the least total damage.
func (p *Plan) Fit(capacity int64) error {
	items := make([][]Choice, len(p.Entries))
	for i, e := range p.Entries {
		for _, c := range e.Candidates {
			items[i] = append(items[i], Choice{Bytes: c.Bytes, Damage: c.Damage})
		}
	}
	pick, err := Solve(items, capacity)
	if err != nil {
		return err
	}
	for i := range p.Entries {
		p.Entries[i].Pick = pick[i]
	}
	return nil
}

// Types maps each quantizable tensor to its chosen type.
func (p *Plan) Types() map[string]ggml.Type {
	out := map[string]ggml.Type{}
	for _, e := range p.Entries {
		if e.Quantizable {
			out[e.Name] = e.Chosen().Type
		}
	}
	return out
}

// Totals are the chosen tensor data and damage.
func (p *Plan) Totals() (bytes int64, damage float64) {
	for _, e := range p.Entries {
		c := e.Chosen()
		bytes += c.Bytes
		damage += c.Damage
	}
	return bytes, damage
}
