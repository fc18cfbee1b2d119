package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/inspect"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "count parameters (shared vs per expert, active per token) and estimate VRAM",
		ArgsUsage: "PATH",
		Description: `PATH is a Hugging Face checkpoint folder, a .safetensors file, a .gguf file,
or a config.json alone. Only headers are read.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON (schema: inspect/SCHEMA.md)"},
			&cli.BoolFlag{Name: "layers", Usage: "add the per-layer parameter table"},
			&cli.IntFlag{Name: "ctx", Aliases: []string{"c"}, Usage: fmt.Sprintf("KV cache context length in tokens, up to %d", inspect.MaxContext), DefaultText: "the model's context length"},
			&cli.IntFlag{Name: "batch", Aliases: []string{"np"}, Value: 1, Usage: fmt.Sprintf("parallel sequences, each with its own cache, up to %d", inspect.MaxSequences)},
			&cli.IntFlag{Name: "ubatch", Value: 512, Usage: "physical batch the compute buffer is sized for"},
			&cli.StringFlag{Name: "kv-type", Value: "f16", Usage: "KV cache type: " + strings.Join(inspect.KVTypeNames(), ", ")},
			&cli.BoolFlag{Name: "flash-attn", Aliases: []string{"fa"}, Usage: "size the compute buffer for flash attention"},
			&cli.StringFlag{Name: "offload-type", Usage: "file type assumed by the expert-offload plan", DefaultText: "Q4_K_M; a GGUF uses its own"},
			&cli.BoolFlag{Name: "strict", Usage: "exit 3 when a finding is an [error] (for CI)"},
		},
		OnUsageError: onUsageError,
		Action:       runInspect,
	}
}

func runInspect(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("inspect takes one PATH argument, got %d", c.NArg())
	}
	err := firstError(
		intInRange(c, "ctx", 0, inspect.MaxContext),
		intInRange(c, "batch", 1, inspect.MaxSequences),
		intInRange(c, "ubatch", 1, inspect.MaxUBatch),
	)
	if err != nil {
		return err
	}
	if kv := c.String("kv-type"); !inspect.IsKVType(kv) {
		return usageError("--kv-type %q: want one of %s", kv, strings.Join(inspect.KVTypeNames(), ", "))
	}
	if ft := c.String("offload-type"); ft != "" {
		if _, err := ggml.ParseFileType(ft); err != nil {
			return usageError("--offload-type: %v", err)
		}
	}
	r, err := inspect.Inspect(c.Args().First(), inspect.Options{
		Context: c.Int("ctx"), Batch: c.Int("batch"), UBatch: c.Int("ubatch"),
		KVType: c.String("kv-type"), FlashAttention: c.Bool("flash-attn"),
		OffloadQuant: c.String("offload-type"), Layers: c.Bool("layers"),
	})
	if err != nil && r == nil {
		return err
	}
	// An unknown architecture still shows its tensor headers, then fails
	// with the error naming it.
	write := r.WriteText
	if c.Bool("json") {
		write = func(w io.Writer) error { return writeJSON(w, r) }
	}
	if werr := write(c.App.Writer); werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	for _, f := range r.Findings {
		if f.Code == "single-shard" { // easily missed at the end of the report
			fmt.Fprintf(c.App.ErrWriter, "mxq: warning: %s\n", f.Message)
		}
	}
	if n := errorFindings(r); n > 0 && c.Bool("strict") {
		return &codedError{code: exitThresholds, err: fmt.Errorf("--strict: %d [error] finding(s) in %s", n, c.Args().First())}
	}
	return nil
}

// errorFindings counts the findings of severity error.
func errorFindings(r *inspect.Report) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == inspect.SeverityError {
			n++
		}
	}
	return n
}

// vramOfFile is the memory report of a written model file, for the
// quantize report.
func vramOfFile(path string) (any, error) {
	r, err := inspect.Inspect(path, inspect.Options{})
	if err != nil {
		return nil, err
	}
	return r.Memory, nil
}
