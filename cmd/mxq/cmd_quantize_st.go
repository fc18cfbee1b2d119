package main

import (
	"errors"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mxq-dev/mxq/convert"
	"github.com/mxq-dev/mxq/inspect"
	"github.com/mxq-dev/mxq/internal/output"
	"github.com/mxq-dev/mxq/report"
)

// safetensorsFlags are quantize's flags for safetensors output.
func safetensorsFlags() []cli.Flag {
	const cat = "safetensors"
	return []cli.Flag{
		&cli.StringFlag{Name: "layout", Category: cat, Usage: "8- and 4-bit `LAYOUT`: " + strings.Join(convert.Layouts(), ", "), DefaultText: "compressed-tensors"},
		&cli.IntFlag{Name: "group-size", Category: cat, Usage: "`N` inputs per scale: 32, 64 or 128, or -1 per output channel", DefaultText: "128; 64 for mlx"},
		&cli.StringFlag{Name: "dtype", Category: cat, Usage: "`DTYPE` of unquantized tensors and scales: bf16 or fp16", DefaultText: "the source's, bf16 for a GGUF"},
		&cli.StringFlag{Name: "shard-size", Category: cat, Value: "5GB", Usage: "largest shard, as `SIZE` in bytes, KB/MB/GB or KiB/MiB/GiB"},
		&cli.BoolFlag{Name: "quantize-embeddings", Category: cat, Usage: "quantize the token embedding too (mlx layout)"},
		&cli.BoolFlag{Name: "quantize-head", Category: cat, Usage: "quantize lm_head too"},
	}
}

// ggufOnlyFlags make no sense for safetensors output.
var ggufOnlyFlags = []string{"type", "pure", "tensor-type", "leave-output-tensor", "output-tensor-type", "token-embedding-type"}

// safetensorsOnlyFlags make no sense for GGUF output.
var safetensorsOnlyFlags = []string{"layout", "group-size", "dtype", "shard-size", "quantize-embeddings", "quantize-head"}

// safetensorsOptions reads the flags shared by quantize and convert.
func safetensorsOptions(c *cli.Context) (convert.SafetensorsOptions, error) {
	threads, err := workers(c)
	if err != nil {
		return convert.SafetensorsOptions{}, err
	}
	opts := convert.SafetensorsOptions{
		Replace: c.Bool("force"),
		Workers: threads,
	}
	if s := c.String("dtype"); s != "" {
		d, err := convert.ParseDType(s)
		if err != nil {
			return opts, usageError("--dtype: %v", err)
		}
		opts.DType = d
	}
	size, err := convert.ParseSize(c.String("shard-size"))
	if err != nil {
		return opts, usageError("--shard-size: %v", err)
	}
	opts.ShardSize = size
	return opts, nil
}

// runQuantizeSafetensors is quantize with safetensors output: a plain bf16
// or fp16 checkpoint at 16 bits, an integer layout at 8 or 4.
func runQuantizeSafetensors(c *cli.Context, th report.Thresholds) error {
	for _, name := range ggufOnlyFlags {
		if c.IsSet(name) {
			return usageError("--%s is for GGUF output; safetensors output takes --bits, --layout, --group-size and --dtype", name)
		}
	}
	opts, err := safetensorsOptions(c)
	if err != nil {
		return err
	}
	opts.Bits = c.Int("bits")
	if opts.Bits == 0 {
		return usageError("give --bits 16, 8 or 4")
	}
	if opts.Bits == 16 && opts.DType == "F32" {
		return usageError("--bits 16 writes bf16 or fp16; use mxq convert for an fp32 checkpoint")
	}
	opts.Layout = c.String("layout")
	opts.GroupSize = c.Int("group-size")
	opts.QuantizeEmbeddings = c.Bool("quantize-embeddings")
	opts.QuantizeHead = c.Bool("quantize-head")
	opts.AllowRequantize = c.Bool("allow-requantize")
	return writeSafetensors(c, th, opts, "quantizing")
}

// writeSafetensors plans and writes (or, with --dry-run, only plans) a
// safetensors folder and reports on it.
func writeSafetensors(c *cli.Context, th report.Thresholds, opts convert.SafetensorsOptions, what string) error {
	outs, err := checkOutputs(c, output.Checkpoint)
	if err != nil {
		return err
	}
	src, err := convert.OpenSource(c.Args().First())
	if err != nil {
		return err
	}
	defer src.Close()
	bar := newProgress(c, what)
	opts.Progress = bar.update
	p, err := convert.PlanSafetensors(src, opts)
	if errors.Is(err, convert.ErrBadOptions) {
		return usageError("%v", err)
	}
	if err != nil {
		return err
	}
	if c.Bool("dry-run") {
		r := p.Report(outs.model.Path)
		// The memory estimate is an extra: a source inspect cannot
		// account for leaves it out rather than failing the plan.
		mem, err := inspect.Inspect(src.Path, inspect.Options{})
		if err == nil && mem.Memory != nil {
			r.VRAM = mem.Memory
		} else {
			mem = nil
		}
		return outs.finish(c, r, th, nil, mem)
	}
	staged, r, err := p.Stage(c.Context, outs.model)
	bar.finish()
	if err != nil {
		return err
	}
	defer staged.Discard()
	// The memory estimate is an extra; a layout inspect does not read
	// leaves it out rather than failing a finished run.
	if vram, err := vramOfFile(staged.Tmp); err == nil {
		r.VRAM = vram
	}
	return outs.finish(c, r, th, staged, nil)
}
