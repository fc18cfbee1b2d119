package intq

import (
	"errors"
	"fmt"
	"math"
)

// Errors returned by this package wrap one of these.
var (
	// ErrUnsupported: the scheme (bits, group size, scale dtype,
	// symmetry) is not one the layout can store.
	ErrUnsupported = errors.New("unsupported quantization scheme")
	// ErrShape: a dimension, row range or buffer length does not fit.
	ErrShape = errors.New("shape mismatch")
	// ErrNonFinite: the weight holds NaN or ±Inf.
	ErrNonFinite = errors.New("non-finite weight")
	// ErrRange: a scale is too large for the dtype it is stored in.
	ErrRange = errors.New("scale out of range")
	// ErrFormat: tensors given to Dequantize are missing or malformed.
	ErrFormat = errors.New("malformed quantized tensors")
)

// Scheme describes an integer quantization.
type Scheme struct {
	Bits      int  // 4 or 8
	GroupSize int  // 32, 64 or 128 inputs per group; -1 = one group per output channel (not MLX)
	Symmetric bool // compressed-tensors: symmetric or asymmetric; GPTQ: must be true; MLX: ignored (affine)
	// ScaleDType is the safetensors dtype of the scales (and MLX biases):
	// the model dtype, "BF16", "F16" or "F32". GPTQ always stores F16; there
	// it names the dtype the engine computes in ("" or "F16", or "BF16").
	ScaleDType string
}

func (s Scheme) String() string {
	sym := "asym"
	if s.Symmetric {
		sym = "sym"
	}
	return fmt.Sprintf("%d-bit %s group %d scales %q", s.Bits, sym, s.GroupSize, s.ScaleDType)
}

// Stored is one tensor to write next to (instead of) the module's weight.
type Stored struct {
	Suffix string  // e.g. "weight_packed"; the tensor name is module path + "." + Suffix
	DType  string  // safetensors dtype: "I32", "U32", "I64", "F16", "BF16", "F32"
	Shape  []int64 // outermost first
	Data   []byte  // little-endian, len = product(Shape) × dtype size
	// Fixed marks a tensor whose Data a new Plan already holds in full: it
	// does not depend on the weight (a shape, constant zero points, group
	// indices), so a writer can store it before quantizing.
	Fixed bool
}

// Layout is one on-disk packing. The package-level values are safe for
// concurrent use.
type Layout interface {
	// Name is "compressed-tensors", "gptq" or "mlx".
	Name() string
	// NewPlan checks the scheme and shape and allocates the tensors for an
	// out×in weight.
	NewPlan(out, in int, s Scheme) (*Plan, error)
	// Quantize quantizes the whole out×in weight w and returns the tensors
	// and the dequantized weight (what an engine decodes from them).
	Quantize(w []float32, out, in int, s Scheme) (stored []Stored, deq []float32, err error)
	// Dequantize decodes tensors written by Quantize (or by the reference
	// tool) back to an out×in float32 weight.
	Dequantize(stored []Stored, out, in int, s Scheme) ([]float32, error)
	// Suffixes names the tensors a weight quantized with s is stored as,
	// in the order Quantize returns them.
	Suffixes(s Scheme) []string
	// ScaleSuffix names the stored tensor whose dtype is Scheme.ScaleDType
	// ("" when the layout fixes it).
	ScaleSuffix() string
	// LogicalShape is the out×in weight that stored tensors (shapes and
	// dtypes; Data only where the shape is written as a value) hold,
	// checked against what Quantize writes for that shape.
	LogicalShape(stored []Stored, s Scheme) (out, in int, err error)
}

// The layouts.
var (
	CompressedTensors Layout = layout{ctCodec{}}
	GPTQ              Layout = layout{gptqCodec{}}
	MLX               Layout = layout{mlxCodec{}}
)

// codec is what each layout implements; layout adds the shared checks.
type codec interface {
	name() string
	// check validates the scheme for an out×in weight (out, in > 0).
	check(out, in int, s Scheme) error
	// alloc returns zeroed tensors with constant parts (shapes, g_idx,
	// fixed zero points) filled in.
	alloc(out, in int, s Scheme) []Stored
	// rowAlign is the row multiple at which concurrent ranges may start.
	rowAlign(s Scheme) int
	// quantize encodes rows r0..r1-1 (w holds exactly those rows, all
	// finite) into p's tensors and, if deq is not nil, their decoded values.
	quantize(p *Plan, w []float32, r0, r1 int, deq []float32) error
	// dequantize decodes tensors of the expected shapes into dst (out×in);
	// it reports values no encoder writes that would index out of range.
	dequantize(t map[string]*Stored, out, in int, s Scheme, dst []float32) error
	// expect lists the tensors dequantize needs, as alloc would make them.
	expect(out, in int, s Scheme) []Stored
	// scaleSuffix names the tensor whose dtype is Scheme.ScaleDType.
	scaleSuffix() string
	// logicalShape reads out and in from the stored tensors, each present
	// under its suffix with the rank expect gives it.
	logicalShape(t map[string]*Stored, s Scheme) (out, in int, err error)
}

type layout struct{ c codec }

func (l layout) Name() string { return l.c.name() }

func (l layout) errorf(base error, format string, args ...any) error {
	return fmt.Errorf("intq: %s: %s: %w", l.c.name(), fmt.Sprintf(format, args...), base)
}

func (l layout) checkShape(out, in int, s Scheme) error {
	if out <= 0 || in <= 0 {
		return l.errorf(ErrShape, "weight is %d×%d", out, in)
	}
	// Packed sizes and element counts must fit an int with room to spare.
	if int64(out) > math.MaxInt32 || int64(in) > math.MaxInt32 || int64(out)*int64(in) > math.MaxInt/8 {
		return l.errorf(ErrShape, "weight %d×%d is too large", out, in)
	}
	if err := l.c.check(out, in, s); err != nil {
		return fmt.Errorf("intq: %s: %s: %w", l.c.name(), s, err)
	}
	return nil
}

func (l layout) NewPlan(out, in int, s Scheme) (*Plan, error) {
	if err := l.checkShape(out, in, s); err != nil {
		return nil, err
	}
	return &Plan{l: l, out: out, in: in, s: s, tensors: l.c.alloc(out, in, s)}, nil
}

func (l layout) Quantize(w []float32, out, in int, s Scheme) ([]Stored, []float32, error) {
	p, err := l.NewPlan(out, in, s)
	if err != nil {
		return nil, nil, err
	}
	if len(w) != out*in {
		return nil, nil, l.errorf(ErrShape, "weight has %d values, want %d×%d", len(w), out, in)
	}
	deq := make([]float32, len(w))
	if err := p.QuantizeRows(w, 0, out, deq); err != nil {
		return nil, nil, err
	}
	return p.tensors, deq, nil
}

func (l layout) Dequantize(stored []Stored, out, in int, s Scheme) ([]float32, error) {
	if err := l.checkShape(out, in, s); err != nil {
		return nil, err
	}
	got, err := l.match(stored, out, in, s, true)
	if err != nil {
		return nil, err
	}
	dst := make([]float32, out*in)
	if err := l.c.dequantize(got, out, in, s, dst); err != nil {
		return nil, fmt.Errorf("intq: %s: %w", l.c.name(), err)
	}
	return dst, nil
}

// match indexes stored by suffix and checks each against what Quantize
// writes for an out×in weight: dtype, shape and, if withData, data length.
func (l layout) match(stored []Stored, out, in int, s Scheme, withData bool) (map[string]*Stored, error) {
	want := l.c.expect(out, in, s)
	got, err := l.bySuffix(stored)
	if err != nil {
		return nil, err
	}
	for _, w := range want {
		t, ok := got[w.Suffix]
		if !ok {
			return nil, l.errorf(ErrFormat, "tensor %q missing", w.Suffix)
		}
		if t.DType != w.DType || !equalShape(t.Shape, w.Shape) {
			return nil, l.errorf(ErrFormat, "tensor %q is %s %v, want %s %v", w.Suffix, t.DType, t.Shape, w.DType, w.Shape)
		}
		if withData && len(t.Data) != len(w.Data) {
			return nil, l.errorf(ErrFormat, "tensor %q holds %d bytes, want %d", w.Suffix, len(t.Data), len(w.Data))
		}
	}
	return got, nil
}

func (l layout) bySuffix(stored []Stored) (map[string]*Stored, error) {
	got := make(map[string]*Stored, len(stored))
	for i := range stored {
		if _, dup := got[stored[i].Suffix]; dup {
			return nil, l.errorf(ErrFormat, "tensor %q given twice", stored[i].Suffix)
		}
		got[stored[i].Suffix] = &stored[i]
	}
	return got, nil
}

func (l layout) Suffixes(s Scheme) []string {
	// The tensors of a 128×128 weight, which every valid scheme accepts,
	// carry the same names as any other. The scale dtype does not change
	// names; F16 is one every layout takes.
	s.ScaleDType = "F16"
	if l.c.check(128, 128, s) != nil {
		return nil
	}
	var names []string
	for _, t := range l.c.expect(128, 128, s) {
		names = append(names, t.Suffix)
	}
	return names
}

func (l layout) ScaleSuffix() string { return l.c.scaleSuffix() }

func (l layout) LogicalShape(stored []Stored, s Scheme) (int, int, error) {
	got, err := l.bySuffix(stored)
	if err != nil {
		return 0, 0, err
	}
	suffixes := l.Suffixes(s)
	if suffixes == nil {
		return 0, 0, l.errorf(ErrUnsupported, "%s", s)
	}
	for _, suffix := range suffixes {
		t, ok := got[suffix]
		if !ok {
			return 0, 0, l.errorf(ErrFormat, "tensor %q missing", suffix)
		}
		for _, d := range t.Shape {
			if d <= 0 || d > math.MaxInt32 {
				return 0, 0, l.errorf(ErrFormat, "tensor %q has shape %v", suffix, t.Shape)
			}
		}
	}
	probe := s
	probe.ScaleDType = "F16"
	for _, t := range l.c.expect(128, 128, probe) {
		if len(got[t.Suffix].Shape) != len(t.Shape) {
			return 0, 0, l.errorf(ErrFormat, "tensor %q has shape %v, want %d dimensions", t.Suffix, got[t.Suffix].Shape, len(t.Shape))
		}
	}
	out, in, err := l.c.logicalShape(got, s)
	if err != nil {
		return 0, 0, l.errorf(ErrFormat, "%v", err)
	}
	if err := l.checkShape(out, in, s); err != nil {
		return 0, 0, err
	}
	if _, err := l.match(stored, out, in, s, false); err != nil {
		return 0, 0, err
	}
	return out, in, nil
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Plan holds the output tensors of one weight while its rows are quantized.
type Plan struct {
	l       layout
	out, in int
	s       Scheme
	tensors []Stored
}

// Tensors returns the output tensors; their Data is complete once every
// row has been quantized.
func (p *Plan) Tensors() []Stored { return p.tensors }

// RowAlign is the multiple of rows at which a range passed to a concurrent
// QuantizeRows call must start (1 unless rows share packed words).
func (p *Plan) RowAlign() int { return p.l.c.rowAlign(p.s) }

// QuantizeRows quantizes rows r0..r1-1 of the weight; w holds exactly those
// rows ((r1-r0)×in values). If deq is not nil it receives their dequantized
// values (same length as w). Calls on disjoint ranges may run concurrently
// when r0 is a multiple of RowAlign and r1 is too or equals out.
func (p *Plan) QuantizeRows(w []float32, r0, r1 int, deq []float32) error {
	l := p.l
	if r0 < 0 || r1 > p.out || r0 > r1 {
		return l.errorf(ErrShape, "rows %d..%d outside 0..%d", r0, r1, p.out)
	}
	if a := p.RowAlign(); r0%a != 0 || (r1%a != 0 && r1 != p.out) {
		return l.errorf(ErrShape, "rows %d..%d not aligned to %d", r0, r1, a)
	}
	n := (r1 - r0) * p.in
	if len(w) != n {
		return l.errorf(ErrShape, "rows %d..%d need %d values, got %d", r0, r1, n, len(w))
	}
	if deq != nil && len(deq) != n {
		return l.errorf(ErrShape, "dequantized buffer has %d values, want %d", len(deq), n)
	}
	if i, ok := firstNonFinite(w); ok {
		r, c := r0+i/p.in, i%p.in
		return l.errorf(ErrNonFinite, "weight[%d][%d] (index %d) is %v", r, c, r*p.in+c, w[i])
	}
	return l.c.quantize(p, w, r0, r1, deq)
}

// firstNonFinite finds the first NaN or ±Inf: x-x is 0 exactly for finite x.
func firstNonFinite(w []float32) (int, bool) {
	for i, x := range w {
		if x-x != 0 {
			return i, true
		}
	}
	return 0, false
}

// groupsOf returns the group length and count along a row of in inputs.
func groupsOf(in int, s Scheme) (gs, groups int) {
	if s.GroupSize == -1 {
		return in, 1
	}
	return s.GroupSize, in / s.GroupSize
}

// rowOf returns row i of the in-wide rows in w, and the same row of deq,
// which is nil when deq is nil (no dequantized copy wanted).
func rowOf(w, deq []float32, i, in int) (row, drow []float32) {
	row = w[i*in : (i+1)*in]
	if deq != nil {
		drow = deq[i*in : (i+1)*in]
	}
	return row, drow
}

// checkBitsGroup validates the choices every layout shares.
func checkBitsGroup(in int, s Scheme, allowChannel bool) error {
	if s.Bits != 4 && s.Bits != 8 {
		return fmt.Errorf("bits must be 4 or 8: %w", ErrUnsupported)
	}
	switch s.GroupSize {
	case 32, 64, 128:
		if in%s.GroupSize != 0 {
			return fmt.Errorf("group size %d does not divide %d inputs: %w", s.GroupSize, in, ErrShape)
		}
	case -1:
		if !allowChannel {
			return fmt.Errorf("per-channel groups (-1) not available, use 32, 64 or 128: %w", ErrUnsupported)
		}
	default:
		return fmt.Errorf("group size must be 32, 64, 128 or -1: %w", ErrUnsupported)
	}
	return nil
}
