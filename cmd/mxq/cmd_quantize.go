package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mxq-dev/mxq/convert"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/imatrix"
	"github.com/mxq-dev/mxq/inspect"
	"github.com/mxq-dev/mxq/internal/output"
	"github.com/mxq-dev/mxq/quantplan"
	"github.com/mxq-dev/mxq/report"
)

func quantizeCommand() *cli.Command {
	return &cli.Command{
		Name:      "quantize",
		Usage:     "quantize a checkpoint to GGUF or to a safetensors layout, measuring every tensor's error",
		ArgsUsage: "SRC",
		Description: `SRC is a Hugging Face folder (safetensors in BF16, F16 or F32) or a GGUF file.
--bits 16 gives F16 (BF16 with --type BF16), --bits 8 gives Q8_0, --bits 4 gives Q4_K_M;
--type names any supported llama.cpp file type. The output is written through a
temporary file and renamed only when complete.

--imatrix FILE quantizes a GGUF with an importance matrix (llama-imatrix's GGUF or .dat,
or mxq imatrix's), per tensor and per expert, byte for byte as llama-quantize --imatrix;
it is checked against the model before anything is read or written.`,
		Flags: slices.Concat([]cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output `PATH` (FILE.gguf, or a folder for safetensors); required"},
			&cli.IntFlag{Name: "bits", Usage: "target `BITS`: 16, 8 or 4", DefaultText: "none; give --bits or --type"},
			&cli.StringFlag{Name: "type", Usage: "GGUF file `TYPE`: " + strings.Join(fileTypeNames(), ", ")},
			&cli.StringFlag{Name: "format", Usage: "output `FORMAT`: gguf or safetensors; required unless the output ends in .gguf"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the plan (type per tensor, sizes, VRAM) without writing"},
			&cli.BoolFlag{Name: "force", Usage: "replace an earlier output of the same kind (a GGUF file, a checkpoint folder, a report)"},
		}, reportFlags(), []cli.Flag{
			&cli.BoolFlag{Name: "pure", Category: "GGUF", Usage: "every quantizable tensor gets the base type (llama-quantize --pure)"},
			&cli.StringSliceFlag{Name: "tensor-type", Category: "GGUF", Usage: "`REGEX=TYPE` type override for matching tensor names; first match wins; repeatable"},
			&cli.BoolFlag{Name: "leave-output-tensor", Category: "GGUF", Usage: "keep output.weight unquantized"},
			&cli.StringFlag{Name: "output-tensor-type", Category: "GGUF", Usage: "ggml `TYPE` for output.weight"},
			&cli.StringFlag{Name: "token-embedding-type", Category: "GGUF", Usage: "ggml `TYPE` for token_embd.weight"},
			&cli.BoolFlag{Name: "allow-requantize", Category: "GGUF", Usage: "allow quantizing an already quantized GGUF"},
			&cli.StringFlag{Name: "imatrix", Category: "GGUF", Usage: "importance matrix `FILE` (llama.cpp's GGUF or .dat format) to weight the quantizers with, per expert"},
		}, budgetFlags(), safetensorsFlags()),
		OnUsageError: onUsageError,
		Action:       runQuantize,
	}
}

func fileTypeNames() []string {
	var out []string
	for _, f := range quantplan.Supported() {
		out = append(out, f.String())
	}
	return out
}

// outputFormat decides gguf or safetensors from --format and the path.
// Only a .gguf name implies a format: any other name needs --format, so a
// mistyped extension never turns into a folder of another format.
func outputFormat(c *cli.Context) (string, error) {
	out := c.String("output")
	isGGUF := strings.EqualFold(filepath.Ext(out), ".gguf")
	switch f := strings.ToLower(c.String("format")); f {
	case "":
		if isGGUF {
			return "gguf", nil
		}
		return "", usageError("-o %s does not end in .gguf: give --format safetensors to write a safetensors folder there, or name a .gguf file", out)
	case "gguf":
		if !isGGUF {
			return "", usageError("--format gguf needs an output ending in .gguf, got %s", out)
		}
		return f, nil
	case "safetensors":
		if isGGUF {
			return "", usageError("--format safetensors writes a folder, not %s", out)
		}
		return f, nil
	default:
		return "", usageError("--format must be gguf or safetensors, got %q", f)
	}
}

// ggufFileType resolves --bits and --type to a llama.cpp file type.
func ggufFileType(c *cli.Context) (ggml.FileType, error) {
	byBits := map[int]ggml.FileType{16: ggml.FileTypeMostlyF16, 8: ggml.FileTypeQ8_0, 4: ggml.FileTypeQ4_K_M}
	bits, name := c.Int("bits"), c.String("type")
	if name == "" {
		if bits == 0 {
			return 0, usageError("give --bits 16|8|4 or --type")
		}
		ft, ok := byBits[bits]
		if !ok {
			return 0, usageError("--bits must be 16, 8 or 4, got %d", bits)
		}
		return ft, nil
	}
	ft, err := ggml.ParseFileType(name)
	if err != nil {
		return 0, usageError("--type: %v (supported: %s)", err, strings.Join(fileTypeNames(), ", "))
	}
	if bits != 0 {
		if got := typeBits(ft); got != bits {
			return 0, usageError("--type %s is not a %d-bit type", ft, bits)
		}
	}
	return ft, nil
}

// typeBits is the --bits class a file type belongs to (0: none).
func typeBits(ft ggml.FileType) int {
	switch ft.DefaultType() {
	case ggml.F16, ggml.BF16:
		return 16
	case ggml.Q8_0:
		return 8
	case ggml.Q4_0, ggml.Q4_1, ggml.Q4_K, ggml.IQ4_NL, ggml.IQ4_XS, ggml.MXFP4:
		return 4
	}
	return 0
}

func planOptions(c *cli.Context) (quantplan.Options, error) {
	opts := quantplan.Options{Pure: c.Bool("pure"), LeaveOutput: c.Bool("leave-output-tensor")}
	for _, spec := range c.StringSlice("tensor-type") {
		pat, typ, ok := strings.Cut(spec, "=")
		if !ok {
			return opts, usageError("--tensor-type %q: want REGEX=TYPE", spec)
		}
		re, err := regexp.Compile(pat)
		if err != nil {
			return opts, usageError("--tensor-type %q: %v", spec, err)
		}
		t, err := ggml.ParseType(typ)
		if err != nil {
			return opts, usageError("--tensor-type %q: %v", spec, err)
		}
		opts.Overrides = append(opts.Overrides, quantplan.Override{Pattern: re, Type: t})
	}
	for flag, dst := range map[string]**ggml.Type{"output-tensor-type": &opts.OutputType, "token-embedding-type": &opts.TokenEmbeddingType} {
		if s := c.String(flag); s != "" {
			t, err := ggml.ParseType(s)
			if err != nil {
				return opts, usageError("--%s: %v", flag, err)
			}
			*dst = &t
		}
	}
	return opts, nil
}

func runQuantize(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("quantize takes one SRC argument, got %d", c.NArg())
	}
	if err := checkReportFlags(c, "quantize"); err != nil {
		return err
	}
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	if format == "gguf" {
		for _, name := range safetensorsOnlyFlags {
			if c.IsSet(name) {
				return usageError("--%s is for safetensors output, but %s is a GGUF file", name, c.String("output"))
			}
		}
	}
	th, err := thresholds(c)
	if err != nil {
		return err
	}
	if err := checkBudgetFlags(c, format); err != nil {
		return err
	}
	if format == "safetensors" {
		if c.IsSet("imatrix") {
			return usageError("--imatrix is for GGUF output: the safetensors layouts have no importance-weighted quantizer")
		}
		return runQuantizeSafetensors(c, th)
	}
	ft := ggml.FileTypeQ8_0 // with a size budget, planBudget decides
	if !budgetRequested(c) {
		if ft, err = ggufFileType(c); err != nil {
			return err
		}
	}
	plan, err := planOptions(c)
	if err != nil {
		return err
	}
	if c.IsSet("imatrix") && c.String("imatrix") == "" {
		return usageError("--imatrix needs a FILE")
	}
	if err := checkImatrix(ft, tensorTypeFlags(plan), c.String("imatrix") != ""); err != nil {
		return err
	}
	threads, err := workers(c)
	if err != nil {
		return err
	}
	outs, err := checkOutputs(c, output.GGUF)
	if err != nil {
		return err
	}
	if budgetRequested(c) {
		if ft, err = planBudget(c, &plan, threads); err != nil {
			return err
		}
	}
	var im *convert.Imatrix
	if path := c.String("imatrix"); path != "" {
		m, err := imatrix.Read(path)
		if err != nil {
			return err
		}
		im = &convert.Imatrix{Matrix: m, Path: path}
		noteUnrouted(c, path, m.Unrouted())
	}
	src, err := convert.OpenSource(c.Args().First())
	if err != nil {
		return err
	}
	defer src.Close()
	bar := newProgress(c, "quantizing")
	p, err := convert.PlanGGUF(src, convert.GGUFOptions{
		FileType: ft, Plan: plan, AllowRequantize: c.Bool("allow-requantize"),
		Workers: threads, Progress: bar.update, Imatrix: im,
	})
	if err != nil {
		return err
	}
	if c.Bool("dry-run") {
		r := p.Report(outs.model.Path)
		mem, err := inspect.Inspect(src.Path, inspect.Options{OffloadQuant: r.Target})
		if err != nil {
			return err
		}
		r.VRAM = mem.Memory
		return outs.finish(c, r, th, nil, mem)
	}
	staged, r, err := p.Stage(c.Context, outs.model)
	bar.finish()
	if err != nil {
		return err
	}
	defer staged.Discard()
	if r.VRAM, err = vramOfFile(staged.Tmp); err != nil {
		return err
	}
	return outs.finish(c, r, th, staged, nil)
}

// reportFlags are the flags of the commands that write a checkpoint and
// report on it: the report, its thresholds, the workers and the progress
// bar. finishReport and thresholds read them.
func reportFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "report", Usage: "write the validation report as JSON to `FILE`"},
		&cli.BoolFlag{Name: "json", Usage: "print the report as JSON on stdout instead of tables"},
		&cli.Float64Flag{Name: "max-rel-error", Usage: "exit 3 when a tensor's ‖W−Ŵ‖/‖W‖ exceeds `X` (X ≥ 0)", DefaultText: "off"},
		&cli.Float64Flag{Name: "min-cosine", Usage: "exit 3 when a tensor's cosine similarity is below `Y` (-1..1)", DefaultText: "off"},
		&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, Usage: threadsUsage, DefaultText: "all cores"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
	}
}

// checkReportFlags refuses what reportFlags' readers would misread: no
// output, negative workers. thresholds checks the thresholds' ranges.
func checkReportFlags(c *cli.Context, cmd string) error {
	if err := requireOutput(c, cmd); err != nil {
		return err
	}
	_, err := workers(c)
	return err
}

// tensorTypeFlags lists the ggml types the per-tensor flags ask for, each
// with the flag as it was typed.
func tensorTypeFlags(p quantplan.Options) []typeFlag {
	var out []typeFlag
	for _, o := range p.Overrides {
		out = append(out, typeFlag{fmt.Sprintf("--tensor-type %s=%s", o.Pattern, o.Type), o.Type})
	}
	if t := p.OutputType; t != nil {
		out = append(out, typeFlag{"--output-tensor-type " + t.String(), *t})
	}
	if t := p.TokenEmbeddingType; t != nil {
		out = append(out, typeFlag{"--token-embedding-type " + t.String(), *t})
	}
	return out
}

// thresholds reads --max-rel-error and --min-cosine.
func thresholds(c *cli.Context) (report.Thresholds, error) {
	th := report.Thresholds{MaxRelError: c.Float64("max-rel-error"), MinCosine: c.Float64("min-cosine")}
	if err := th.Validate(); err != nil {
		return th, usageError("%v", err)
	}
	return th, nil
}

// noteUnrouted tells the user which experts of an importance matrix no
// calibration token reached: they are quantized with weight 1 for every
// column, i.e. as without the matrix, as llama-quantize does.
func noteUnrouted(c *cli.Context, path string, unrouted []imatrix.ExpertRef) {
	if len(unrouted) == 0 {
		return
	}
	const shown = 6
	var names []string
	for _, u := range unrouted[:min(len(unrouted), shown)] {
		names = append(names, u.String())
	}
	if len(unrouted) > shown {
		names = append(names, fmt.Sprintf("and %d more", len(unrouted)-shown))
	}
	fmt.Fprintf(c.App.ErrWriter, "mxq: note: %s: %d expert matrices got no calibration token and are quantized without importance weights: %s\n",
		path, len(unrouted), strings.Join(names, ", "))
}
