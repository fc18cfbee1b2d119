package main

import (
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
)

func convertCommand() *cli.Command {
	return &cli.Command{
		Name:      "convert",
		Usage:     "turn a GGUF (any supported type) back into a Hugging Face safetensors checkpoint",
		ArgsUsage: "IN",
		Description: `IN is a GGUF file (a Hugging Face folder also works, to change its dtype).
Every tensor is dequantized and written in --dtype (default bf16 for a GGUF,
which reproduces a bf16 source exactly from an F32, BF16 or F16 GGUF; fp32
keeps a quantized GGUF's values exactly). Experts are unmerged into
experts.E.w1/w2/w3, the q/k RoPE permutation is undone, and config.json,
generation_config.json and the tokenizer files are rebuilt from the
metadata. The folder is written beside OUTDIR and renamed when complete.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output folder `OUTDIR`; required"},
			&cli.StringFlag{Name: "format", Value: "safetensors", Usage: "output `FORMAT`: safetensors"},
			&cli.StringFlag{Name: "dtype", Usage: "`DTYPE` to write: bf16, fp16 or fp32", DefaultText: "bf16 for a GGUF, else the source's"},
			&cli.StringFlag{Name: "shard-size", Value: "5GB", Usage: "largest shard, as `SIZE` in bytes, KB/MB/GB or KiB/MiB/GiB"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the plan without writing"},
			&cli.BoolFlag{Name: "force", Usage: "replace an earlier checkpoint folder at OUTDIR (and an earlier report)"},
		}, reportFlags()...),
		OnUsageError: onUsageError,
		Action:       runConvert,
	}
}

func runConvert(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("convert takes one IN argument, got %d", c.NArg())
	}
	if err := checkReportFlags(c, "convert"); err != nil {
		return err
	}
	if f := strings.ToLower(c.String("format")); f != "safetensors" {
		return usageError("convert writes --format safetensors; for GGUF output use mxq quantize --format gguf (got %q)", f)
	}
	if out := c.String("output"); strings.EqualFold(filepath.Ext(out), ".gguf") {
		return usageError("convert writes a safetensors folder, not the GGUF file -o %s; for GGUF output use mxq quantize", out)
	}
	th, err := thresholds(c)
	if err != nil {
		return err
	}
	opts, err := safetensorsOptions(c)
	if err != nil {
		return err
	}
	opts.Bits = 16
	return writeSafetensors(c, th, opts, "converting")
}
