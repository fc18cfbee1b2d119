package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mxq-dev/mxq/convert"
	"github.com/mxq-dev/mxq/ggml"
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
temporary file and renamed only when complete.`,
		Flags: slices.Concat([]cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output `PATH` (FILE.gguf, or a folder for safetensors)", Required: true},
			&cli.IntFlag{Name: "bits", Usage: "target bits: 16, 8 or 4"},
			&cli.StringFlag{Name: "type", Usage: "GGUF file `TYPE`: " + strings.Join(fileTypeNames(), ", ")},
			&cli.StringFlag{Name: "format", Usage: "gguf or safetensors (default: gguf for a .gguf output, else safetensors)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the plan (type per tensor, sizes, VRAM) without writing"},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing output"},
		}, reportFlags(), []cli.Flag{
			&cli.BoolFlag{Name: "pure", Category: "GGUF", Usage: "every quantizable tensor gets the base type (llama-quantize --pure)"},
			&cli.StringSliceFlag{Name: "tensor-type", Category: "GGUF", Usage: "`REGEX=TYPE` type override for matching tensor names; first match wins; repeatable"},
			&cli.BoolFlag{Name: "leave-output-tensor", Category: "GGUF", Usage: "keep output.weight unquantized"},
			&cli.StringFlag{Name: "output-tensor-type", Category: "GGUF", Usage: "ggml `TYPE` for output.weight"},
			&cli.StringFlag{Name: "token-embedding-type", Category: "GGUF", Usage: "ggml `TYPE` for token_embd.weight"},
			&cli.BoolFlag{Name: "allow-requantize", Category: "GGUF", Usage: "allow quantizing an already quantized GGUF"},
		}, safetensorsFlags()),
		OnUsageError: onUsageError,
		Action:       runQuantize,
	}
}

func onUsageError(_ *cli.Context, err error, _ bool) error {
	return &codedError{code: exitUsage, err: err}
}

func fileTypeNames() []string {
	var out []string
	for _, f := range quantplan.Supported() {
		out = append(out, f.String())
	}
	return out
}

// outputFormat decides gguf or safetensors from --format and the path.
func outputFormat(c *cli.Context) (string, error) {
	out := c.String("output")
	isGGUF := strings.EqualFold(filepath.Ext(out), ".gguf")
	switch f := strings.ToLower(c.String("format")); f {
	case "":
		if isGGUF {
			return "gguf", nil
		}
		return "safetensors", nil
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
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	out, err := newOutput(c)
	if err != nil {
		return err
	}
	th := thresholds(c)
	if format == "safetensors" {
		return runQuantizeSafetensors(c, out, th)
	}
	ft, err := ggufFileType(c)
	if err != nil {
		return err
	}
	plan, err := planOptions(c)
	if err != nil {
		return err
	}
	src, err := convert.OpenSource(c.Args().First())
	if err != nil {
		return err
	}
	defer src.Close()
	bar := newProgress(c, "quantizing")
	p, err := convert.PlanGGUF(src, convert.GGUFOptions{
		FileType: ft, Plan: plan, AllowRequantize: c.Bool("allow-requantize"),
		Workers: c.Int("threads"), Progress: bar.update,
	})
	if err != nil {
		return err
	}
	var r *report.Report
	if c.Bool("dry-run") {
		r = p.Report(out)
		r.VRAM, err = vramForPlan(src, r)
	} else {
		r, err = p.Write(c.Context, out)
		bar.finish()
		if err == nil {
			r.VRAM, err = vramOfFile(out)
		}
	}
	if err != nil {
		return err
	}
	return finishReport(c, r, th)
}

// reportFlags are the flags of the commands that write a checkpoint and
// report on it: the report, its thresholds, the workers and the progress
// bar. finishReport and thresholds read them.
func reportFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "report", Usage: "write the validation report as JSON to `FILE`"},
		&cli.BoolFlag{Name: "json", Usage: "print the report as JSON on stdout instead of tables"},
		&cli.Float64Flag{Name: "max-rel-error", Usage: "exit 3 when a tensor's ‖W−Ŵ‖/‖W‖ exceeds `X`"},
		&cli.Float64Flag{Name: "min-cosine", Usage: "exit 3 when a tensor's cosine similarity is below `Y`"},
		&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, Usage: "worker goroutines (default: all cores)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
	}
}

// newOutput returns --output, refusing an existing one unless --force or
// --dry-run is given.
func newOutput(c *cli.Context) (string, error) {
	out := c.String("output")
	if !c.Bool("dry-run") && !c.Bool("force") {
		if _, err := os.Stat(out); err == nil {
			return "", fmt.Errorf("%s already exists; pass --force to replace it", out)
		}
	}
	return out, nil
}

// thresholds reads --max-rel-error and --min-cosine.
func thresholds(c *cli.Context) report.Thresholds {
	return report.Thresholds{MaxRelError: c.Float64("max-rel-error"), MinCosine: c.Float64("min-cosine")}
}

// finishReport prints and saves the report and turns threshold breaches
// into exit code 3.
func finishReport(c *cli.Context, r *report.Report, th report.Thresholds) error {
	r.Thresholds = th
	r.Summarize()
	if path := c.String("report"); path != "" {
		if err := writeJSONFile(path, r); err != nil {
			return err
		}
	}
	if c.Bool("json") {
		if err := writeJSON(c.App.Writer, r); err != nil {
			return err
		}
	} else if err := r.WriteText(c.App.Writer, 0); err != nil {
		return err
	}
	if r.Failed() {
		return &codedError{code: exitThresholds, err: fmt.Errorf("%d tensors breached the validation thresholds (output and report were written)", len(r.Breaches))}
	}
	return nil
}
