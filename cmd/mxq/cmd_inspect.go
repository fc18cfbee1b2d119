package main

import (
	"io"

	"github.com/urfave/cli/v2"

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
			&cli.IntFlag{Name: "ctx", Aliases: []string{"c"}, Usage: "KV cache context length in tokens (default: the model's)"},
			&cli.IntFlag{Name: "batch", Aliases: []string{"np"}, Value: 1, Usage: "parallel sequences, each with its own cache"},
			&cli.IntFlag{Name: "ubatch", Usage: "physical batch the compute buffer is sized for (default 512)"},
			&cli.StringFlag{Name: "kv-type", Value: "f16", Usage: "KV cache type: f16, q8_0, q4_0, bf16 or f32"},
			&cli.BoolFlag{Name: "flash-attn", Aliases: []string{"fa"}, Usage: "size the compute buffer for flash attention"},
			&cli.StringFlag{Name: "offload-type", Usage: "file type assumed by the expert-offload plan (default Q4_K_M; a GGUF uses its own)"},
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError("inspect takes one PATH argument, got %d", c.NArg())
			}
			r, err := inspect.Inspect(c.Args().First(), inspect.Options{
				Context: c.Int("ctx"), Batch: c.Int("batch"), UBatch: c.Int("ubatch"),
				KVType: c.String("kv-type"), FlashAttention: c.Bool("flash-attn"),
				OffloadQuant: c.String("offload-type"), Layers: c.Bool("layers"),
			})
			if err != nil && r == nil {
				return err
			}
			// An unknown architecture still shows its tensor headers, then
			// fails with the error naming it.
			werr := r.WriteText
			if c.Bool("json") {
				werr = func(w io.Writer) error { return writeJSON(w, r) }
			}
			if werr := werr(c.App.Writer); werr != nil {
				return werr
			}
			return err
		},
	}
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
