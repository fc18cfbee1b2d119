package convert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/internal/output"
	"github.com/mxq-dev/mxq/internal/safetext"
	"github.com/mxq-dev/mxq/quant"
	"github.com/mxq-dev/mxq/quantplan"
	"github.com/mxq-dev/mxq/report"
	"github.com/mxq-dev/mxq/tokenizer"
)

// GGUFOptions choose what a GGUF conversion produces.
type GGUFOptions struct {
	FileType        ggml.FileType
	Plan            quantplan.Options
	AllowRequantize bool // a quantized GGUF source may be quantized again
	Workers         int  // 0: all cores
	// Imatrix, if set, gives the quantizers importance weights per
	// tensor (per expert), as llama-quantize --imatrix does.
	Imatrix *Imatrix
	// Progress, if set, is called with source elements done and the total.
	Progress func(done, total int64)
}

// GGUFPlan is a fully laid out GGUF conversion: every tensor's type and
// offset and the metadata are fixed before any tensor data is read.
type GGUFPlan struct {
	src     *Source
	opts    GGUFOptions
	tensors []*outTensor
	layout  *gguf.Layout
}

// PlanGGUF maps the source's tensors to GGUF, chooses each tensor's type as
// llama-quantize would for opts.FileType, and lays the file out.
func PlanGGUF(src *Source, opts GGUFOptions) (_ *GGUFPlan, err error) {
	defer func() { err = safetext.Error(err) }() // names from the files may be quoted
	var (
		tensors []*outTensor
		kv      []gguf.KV
	)
	if src.IsGGUF() {
		// The same tensor-set check as a conversion back to Hugging Face:
		// a vocabulary-only or incomplete file is refused, not requantized
		// into a model that has nothing to run.
		if _, err := hfFromGGUF(src); err != nil {
			return nil, err
		}
		if tensors, err = ggufFromGGUF(src); err != nil {
			return nil, err
		}
		if !opts.AllowRequantize {
			for _, t := range tensors {
				if t.Type.IsQuantized() {
					return nil, fmt.Errorf("%s: tensor %s is already quantized (%s); requantizing loses more precision, pass --allow-requantize to do it anyway", src.Path, t.Name, t.Type)
				}
			}
		}
		kv = requantMetadata(src.gg, opts.FileType)
	} else {
		if tensors, err = ggufFromHF(src.Config, src.ckpt); err != nil {
			return nil, err
		}
		for _, t := range tensors {
			t.Type = ggml.F32 // what the converter stores unquantized tensors as
		}
		vocab, err := tokenizer.Load(src.Dir, src.Config.VocabSize)
		if err != nil {
			return nil, fmt.Errorf("%s: tokenizer: %w", src.Dir, err)
		}
		vkv, err := vocabKVs(vocab)
		if err != nil {
			return nil, err
		}
		kv = append(llamaMetadata(src.Name, src.Config, opts.FileType), vkv...)
	}

	opts.Plan.TiedEmbeddings = src.Config.TieWordEmbeddings
	opts.Plan.Imatrix = opts.Imatrix != nil
	gqa := 1
	if src.Config.NumKVHeads > 0 {
		gqa = src.Config.NumHeads / src.Config.NumKVHeads
	}
	infos := make([]gguf.TensorInfo, len(tensors))
	for i, t := range tensors {
		d, err := quantplan.Decide(opts.FileType, quantplan.TensorDesc{
			Name: t.Name, Dims: t.Dims, Layer: t.Role.Layer,
			NExpert: src.Config.NumExperts, NLayer: src.Config.NumLayers,
			Source: t.Type, GQA: gqa,
		}, opts.Plan)
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		if !quant.Supported(d.Type) {
			return nil, fmt.Errorf("tensor %s: type %s has no quantization kernel in mxq", t.Name, d.Type)
		}
		t.Type, t.Rule = d.Type, d.Rule
		infos[i] = gguf.TensorInfo{Name: t.Name, Dims: slices.Clone(t.Dims), Type: t.Type}
	}
	if opts.Imatrix != nil {
		if err := attachImatrix(opts.Imatrix, tensors); err != nil {
			return nil, err
		}
		kv = imatrixMetadata(kv, opts.Imatrix)
	}
	layout, err := gguf.NewLayout(kv, infos, 32)
	if err != nil {
		return nil, err
	}
	return &GGUFPlan{src: src, opts: opts, tensors: tensors, layout: layout}, nil
}

// Size is the size of the file the plan writes.
func (p *GGUFPlan) Size() int64 { return p.layout.Size() }

// Report describes the plan; after Write it also holds the measurements.
func (p *GGUFPlan) Report(out string) *report.Report {
	r := &report.Report{Source: p.src.Path, Output: out, Format: "gguf", Target: p.opts.FileType.String(), DryRun: true, OutputBytes: p.layout.Size()}
	for _, t := range p.tensors {
		bytes, _ := t.Type.RowSize(t.numElements())
		rt := report.Tensor{Name: t.Name, Role: t.Role.Role.String(), Layer: t.Role.Layer, Expert: t.Role.Expert,
			Type: t.Type.String(), Rule: t.Rule, Params: t.numElements(), Bytes: bytes}
		for _, d := range t.Dims {
			rt.Shape = append(rt.Shape, int64(d))
		}
		for _, pt := range t.parts {
			if len(rt.Source) == 0 || rt.Source[len(rt.Source)-1] != pt.src.tensor {
				rt.Source = append(rt.Source, pt.src.tensor)
			}
		}
		r.Tensors = append(r.Tensors, rt)
	}
	r.Summarize()
	return r
}

// Stage streams the conversion into a temporary file beside t.Path and
// returns it with the report; nothing is at t.Path until output.Commit
// puts it there. The caller discards the temporary.
func (p *GGUFPlan) Stage(ctx context.Context, t output.Target) (*output.Staged, *report.Report, error) {
	tmp, err := output.Stage(t)
	if err != nil {
		return nil, nil, err
	}
	r, err := p.stageInto(ctx, tmp)
	if err != nil {
		tmp.Discard()
		return nil, nil, err
	}
	return tmp, r, nil
}

func (p *GGUFPlan) stageInto(ctx context.Context, tmp *output.Staged) (*report.Report, error) {
	d := newOrderedDigest(tmp.File)
	stats, err := p.writeTo(ctx, d)
	if err != nil {
		return nil, err
	}
	if err := tmp.File.Sync(); err != nil {
		return nil, fmt.Errorf("writing %s: %w", tmp.Path, err)
	}
	digest, err := d.Sum(p.layout.Size())
	if err != nil {
		return nil, err
	}
	return measured(p.Report(tmp.Path), stats, []report.File{{Path: tmp.Path, Bytes: p.layout.Size(), SHA256: digest}}), nil
}

// Write streams the conversion into out through a temporary file in the
// same folder, moved to out only when everything succeeded and never over
// a file that exists by then.
func (p *GGUFPlan) Write(ctx context.Context, out string) (*report.Report, error) {
	tmp, r, err := p.Stage(ctx, output.Target{Path: out, Kind: output.GGUF, Flag: "output"})
	if err != nil {
		return nil, err
	}
	defer tmp.Discard()
	if _, err := output.Commit(tmp); err != nil {
		return nil, err
	}
	return r, nil
}

// Sink receives a conversion: sized first, then written at offsets by
// several goroutines at once. Where nothing is written it must read back
// zeros, as a new file does.
type Sink interface {
	io.WriterAt
	Truncate(size int64) error
}

// writeTo streams the file into w; Write uses it with the temporary file,
// benchmarks with Discard.
func (p *GGUFPlan) writeTo(ctx context.Context, w Sink) ([]TensorStats, error) {
	if err := w.Truncate(p.layout.Size()); err != nil {
		return nil, fmt.Errorf("sizing output: %w", err)
	}
	if _, err := w.WriteAt(p.layout.Header(), 0); err != nil {
		return nil, fmt.Errorf("writing header: %w", err)
	}
	offsets := make([]int64, len(p.tensors))
	for i := range p.tensors {
		offsets[i] = p.layout.TensorOffset(i)
	}
	// The alignment padding after each tensor is written too, so every
	// byte of the file passes through w once (see orderedDigest).
	for i, t := range p.tensors {
		size, err := t.Type.RowSize(t.numElements())
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		end := p.layout.Size()
		if i+1 < len(p.tensors) {
			end = offsets[i+1]
		}
		if pad := end - offsets[i] - size; pad > 0 {
			if _, err := w.WriteAt(make([]byte, pad), offsets[i]+size); err != nil {
				return nil, fmt.Errorf("writing padding: %w", err)
			}
		}
	}
	var total int64
	for _, t := range p.tensors {
		total += t.numElements()
	}
	return runEngine(ctx, p.tensors, offsets, w, p.opts.Workers, progressCounter(p.opts.Progress, total))
}

// Discard is a sink for measuring a conversion without storing it.
type Discard struct{}

func (Discard) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }
func (Discard) Truncate(int64) error                   { return nil }

// unreadable is a Sink that cannot hand its bytes back: should the digest
// ever need to re-read what it wrote (more than its hold limit waiting),
// the run fails instead of hashing something else.
type unreadable struct{ Sink }

func (unreadable) ReadAt([]byte, int64) (int, error) {
	return 0, errors.New("convert: the output sink cannot be read back for hashing")
}

// Run converts into w without renaming, for benchmarks: the output is
// hashed while it is written, as Write hashes it, and the digest dropped.
func (p *GGUFPlan) Run(ctx context.Context, w Sink) error {
	f, ok := w.(digestFile)
	if !ok {
		f = unreadable{w}
	}
	d := newOrderedDigest(f)
	if _, err := p.writeTo(ctx, d); err != nil {
		return err
	}
	_, err := d.Sum(p.layout.Size())
	return err
}
