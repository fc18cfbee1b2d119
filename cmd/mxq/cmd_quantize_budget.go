package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mxq-dev/mxq/budget"
	"github.com/mxq-dev/mxq/convert"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/imatrix"
	"github.com/mxq-dev/mxq/inspect"
	"github.com/mxq-dev/mxq/quantplan"
)

// budgetFlags choose per-tensor types for a size budget instead of a file
// type.
func budgetFlags() []cli.Flag {
	const cat = "GGUF size budget"
	return []cli.Flag{
		&cli.StringFlag{Name: "target-size", Category: cat, Usage: "plan per-tensor types so the whole file is at most `SIZE` (bytes, KB/MB/GB or KiB/MiB/GiB) with the least measured damage"},
		&cli.Float64Flag{Name: "target-bpw", Category: cat, Usage: "plan per-tensor types for at most `X` bits per weight of tensor data", DefaultText: "off"},
		&cli.Float64Flag{Name: "fit", Category: cat, Usage: "plan for a GPU of `GB` (10^9 bytes): the file plus the KV cache and compute buffer of --ctx tokens", DefaultText: "off"},
		&cli.IntFlag{Name: "ctx", Category: cat, Value: 8192, Usage: "context length in `TOKENS` that --fit keeps room for and the plan's VRAM line assumes"},
		&cli.StringFlag{Name: "ladder", Category: cat, Usage: "comma-separated ggml `TYPES` the planner may choose from", DefaultText: "F16 and every quantized type with a kernel but TQ1_0/TQ2_0"},
	}
}

// budgetRequested reports whether a size budget replaces the file type.
func budgetRequested(c *cli.Context) bool {
	return c.IsSet("target-size") || c.IsSet("target-bpw") || c.IsSet("fit")
}

// checkBudgetFlags refuses the budget flags where they mean nothing.
func checkBudgetFlags(c *cli.Context, format string) error {
	for _, f := range []string{"target-size", "target-bpw", "fit", "ctx", "ladder"} {
		if !c.IsSet(f) {
			continue
		}
		if format != "gguf" {
			return usageError("--%s plans GGUF tensor types; it does not apply to --format %s", f, format)
		}
		if !budgetRequested(c) {
			return usageError("--%s needs a budget: --target-size, --target-bpw or --fit", f)
		}
	}
	return nil
}

// sizeBudget is a parsed budget: whole-file bytes, or tensor-data bits per
// weight, or a GPU to fit with a context.
type sizeBudget struct {
	fileBytes int64   // --target-size
	bpw       float64 // --target-bpw
	gpuBytes  int64   // --fit
	ctx       int
	ladder    []ggml.Type
}

func parseBudget(c *cli.Context) (sizeBudget, error) {
	var b sizeBudget
	n := 0
	for _, f := range []string{"target-size", "target-bpw", "fit"} {
		if c.IsSet(f) {
			n++
		}
	}
	if n != 1 {
		return b, usageError("give one of --target-size, --target-bpw and --fit")
	}
	for _, f := range []string{"bits", "type", "pure", "tensor-type", "output-tensor-type", "token-embedding-type"} {
		if c.IsSet(f) {
			return b, usageError("--%s cannot be combined with a size budget: the planner chooses every tensor's type", f)
		}
	}
	b.ctx = c.Int("ctx")
	if err := intInRange(c, "ctx", 1, inspect.MaxContext); err != nil {
		return b, err
	}
	switch {
	case c.IsSet("target-size"):
		v, err := convert.ParseSize(c.String("target-size"))
		if err != nil {
			return b, usageError("--target-size: %v", err)
		}
		b.fileBytes = v
	case c.IsSet("target-bpw"):
		b.bpw = c.Float64("target-bpw")
		if !(b.bpw > 0 && b.bpw <= 16) {
			return b, usageError("--target-bpw must be above 0 and at most 16 (F16), got %v", b.bpw)
		}
	default:
		gb := c.Float64("fit")
		if !(gb > 0 && gb < 1e6) {
			return b, usageError("--fit must be a GPU size in GB above 0, got %v", gb)
		}
		b.gpuBytes = int64(gb * inspect.GB)
	}
	if s := c.String("ladder"); s != "" {
		for _, name := range strings.Split(s, ",") {
			t, err := ggml.ParseType(strings.TrimSpace(name))
			if err != nil {
				return b, usageError("--ladder: %v", err)
			}
			b.ladder = append(b.ladder, t)
		}
	} else if c.IsSet("ladder") {
		return b, usageError("--ladder: give comma-separated types")
	}
	return b, nil
}

// planBudget chooses every quantizable tensor's type for the budget (into
// popts.Types), prints the plan unless --json, and returns the file type
// recorded in the file. The quantization itself is the file type path's.
func planBudget(c *cli.Context, popts *quantplan.Options, threads int) (ggml.FileType, error) {
	b, err := parseBudget(c)
	if err != nil {
		return 0, err
	}
	var im *imatrix.Matrix
	if path := c.String("imatrix"); path != "" {
		if im, err = imatrix.Read(path); err != nil {
			return 0, err
		}
	}
	src, err := convert.OpenSource(c.Args().First())
	if err != nil {
		return 0, err
	}
	defer src.Close()
	gopts := convert.GGUFOptions{FileType: ggml.FileTypeQ8_0, Plan: *popts, AllowRequantize: c.Bool("allow-requantize"), Workers: threads}
	base, err := convert.PlanGGUF(src, gopts)
	if err != nil {
		return 0, err
	}
	tensors := budgetTensors(base, *popts)
	if b.ladder != nil {
		if err := budget.CheckLadder(tensors, b.ladder, im != nil); err != nil {
			return 0, usageError("--ladder: %v", err)
		}
	}
	// Sizes first, from the prior (no data read): a budget out of range
	// is refused before any tensor is measured.
	bopts := budget.Options{Ladder: b.ladder, Imatrix: im, Workers: threads, Seed: 1}
	bp, err := budget.Build(tensors, bopts)
	if err != nil {
		return 0, err
	}
	mem, err := inspect.Inspect(src.Path, inspect.Options{Context: b.ctx})
	if err != nil {
		return 0, err
	}
	// The header, and the padding: every tensor starts on a 32-byte
	// boundary, so each may add up to 31 bytes whatever its type.
	overhead := base.Size() - base.TensorBytes() + 31*int64(len(tensors))
	var capacity, fileLimit int64 = 0, math.MaxInt64
	what := ""
	switch {
	case b.fileBytes > 0:
		fileLimit, what = b.fileBytes, "--target-size "+c.String("target-size")
		capacity = b.fileBytes - overhead
	case b.bpw > 0:
		var params int64
		for _, t := range tensors {
			params += elementsOf(t.Dims)
		}
		capacity, what = int64(b.bpw*float64(params)/8), fmt.Sprintf("--target-bpw %v", b.bpw)
	default:
		kv, compute := mem.Memory.KV.Bytes, mem.Memory.Compute.Bytes
		fileLimit = b.gpuBytes - kv - compute
		what = fmt.Sprintf("--fit %v GB with %d tokens of KV cache (%s) and a %s compute buffer", c.Float64("fit"), b.ctx, gbText(kv), gbText(compute))
		capacity = fileLimit - overhead
	}
	if lo := bp.MinBytes(); capacity < lo {
		return 0, usageError("%s: below the smallest possible file of %s with this ladder (%s)", what, c.Args().First(), gbText(lo+overhead))
	}
	if f16 := f16Bytes(tensors); capacity > f16 {
		return 0, usageError("%s: above the F16 size of %s (%s); use --type F16", what, c.Args().First(), gbText(f16+overhead))
	}
	if !c.Bool("dry-run") {
		bopts.Data = base
		if bp, err = budget.Build(tensors, bopts); err != nil {
			return 0, err
		}
	}
	if err := bp.Fit(capacity); err != nil {
		return 0, err
	}
	popts.Types = bp.Types()
	gopts.Plan, gopts.FileType = *popts, dominantFileType(bp)
	p, err := convert.PlanGGUF(src, gopts)
	if err != nil {
		return 0, err
	}
	if p.Size() > fileLimit {
		return 0, fmt.Errorf("%s: the planned file is %d bytes, over the budget of %d", c.Args().First(), p.Size(), fileLimit)
	}
	if !c.Bool("json") {
		printBudgetPlan(c.App.Writer, bp, p.Size(), mem, b, c.Float64("fit"), what)
	}
	return gopts.FileType, nil
}

// budgetTensors describes the plan's tensors to the planner.
func budgetTensors(p *convert.GGUFPlan, popts quantplan.Options) []budget.Tensor {
	pts := p.Tensors()
	out := make([]budget.Tensor, len(pts))
	for i, t := range pts {
		out[i] = budget.Tensor{
			Name: t.Name, Dims: t.Dims, Role: t.Role.Role, Layer: t.Role.Layer,
			Parts: t.Parts, PartRows: t.PartRows,
			Quantizable: quantplan.Quantizable(quantplan.TensorDesc{Name: t.Name, Dims: t.Dims}, popts),
			Fixed:       t.Type,
		}
	}
	return out
}

func elementsOf(dims []uint64) int64 {
	n := int64(1)
	for _, d := range dims {
		n *= int64(d)
	}
	return n
}

// f16Bytes is the tensor data with every quantizable tensor in F16.
func f16Bytes(tensors []budget.Tensor) int64 {
	var n int64
	for _, t := range tensors {
		typ := t.Fixed
		if t.Quantizable {
			typ = ggml.F16
		}
		b, _ := quantplan.TensorBytes(typ, t.Dims)
		n += b
	}
	return n
}

// dominantFileType is the file type recorded in general.file_type: the one
// whose default type holds most of the planned bytes (Q8_0 when no file
// type has it as default).
func dominantFileType(p *budget.Plan) ggml.FileType {
	bytes := map[ggml.Type]int64{}
	for _, e := range p.Entries {
		if e.Quantizable {
			bytes[e.Chosen().Type] += e.Chosen().Bytes
		}
	}
	var top ggml.Type
	for t, n := range bytes {
		if n > bytes[top] || (n == bytes[top] && t < top) {
			top = t
		}
	}
	for _, ft := range quantplan.Supported() {
		if ft.DefaultType() == top {
			return ft
		}
	}
	return ggml.FileTypeQ8_0
}

// gbText writes a size in GB, or in MB below a tenth of a GB.
func gbText(b int64) string {
	if b < inspect.GB/10 && b > -inspect.GB/10 {
		return fmt.Sprintf("%.2f MB", float64(b)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(b)/inspect.GB)
}

// printBudgetPlan prints each tensor's planned type, size and predicted
// error, the totals and what the file leaves of the GPU for the KV cache.
func printBudgetPlan(w io.Writer, p *budget.Plan, fileBytes int64, mem *inspect.Report, b sizeBudget, fitGB float64, what string) {
	fmt.Fprintf(w, "Size plan for %s\n", what)
	if p.Measured {
		fmt.Fprintln(w, "  damage measured: each candidate type quantized on a seeded sample of rows (rel err² = Σw(x−x̂)²/Σwx², damage = rel err² × elements × routing frequency × role sensitivity)")
	} else {
		fmt.Fprintln(w, "  damage PREDICTED, not measured: each type's error on seeded Gaussian data (the prior); no tensor data read")
	}
	fmt.Fprintf(w, "%-28s %-6s %14s %11s %11s\n", "tensor", "type", "bytes", "rel err²", "damage")
	byType := map[ggml.Type][2]int64{}
	var elems int64
	for _, e := range p.Entries {
		c := e.Chosen()
		elems += elementsOf(e.Dims)
		v := byType[c.Type]
		byType[c.Type] = [2]int64{v[0] + 1, v[1] + c.Bytes}
		if !e.Quantizable {
			continue
		}
		fmt.Fprintf(w, "%-28s %-6s %14d %11.3e %11.3e\n", e.Name, c.Type, c.Bytes, c.RelErr, c.Damage)
	}
	tb, dmg := p.Totals()
	types := make([]ggml.Type, 0, len(byType))
	for t := range byType {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool { return byType[types[i]][1] > byType[types[j]][1] })
	var mix []string
	for _, t := range types {
		mix = append(mix, fmt.Sprintf("%s ×%d %s", t, byType[t][0], gbText(byType[t][1])))
	}
	fmt.Fprintf(w, "total: tensor data %d bytes (%.3f bits per weight), file %d bytes (%s), damage %.4e\n",
		tb, float64(tb)*8/float64(elems), fileBytes, gbText(fileBytes), dmg)
	fmt.Fprintf(w, "types: %s\n", strings.Join(mix, ", "))
	if mem == nil || mem.Memory == nil {
		return
	}
	gpu := fitGB
	if gpu == 0 {
		gpu = inspect.DefaultGPUSizesGB[0]
	}
	kv, compute, perToken := mem.Memory.KV.Bytes, mem.Memory.Compute.Bytes, mem.Memory.KV.BytesPerToken
	left := int64(gpu*inspect.GB) - fileBytes - compute
	tokens := int64(0)
	if perToken > 0 && left > 0 {
		tokens = left / perToken
	}
	verdict := "fits"
	if left < kv {
		verdict = "does not fit"
	}
	fmt.Fprintf(w, "VRAM on a %v GB GPU: file %s + compute buffer %s (ubatch 512, %d-token context) leaves %s for the KV cache: %d tokens of f16 cache; a %d-token cache (%s) %s\n",
		gpu, gbText(fileBytes), gbText(compute), b.ctx, gbText(left), tokens, b.ctx, gbText(kv), verdict)
}
