package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mxq-dev/mxq/imatrix"
	"github.com/mxq-dev/mxq/internal/output"
	"github.com/mxq-dev/mxq/model"
	"github.com/mxq-dev/mxq/validate"
)

func imatrixCommand() *cli.Command {
	return &cli.Command{
		Name:      "imatrix",
		Usage:     "compute an importance matrix (llama.cpp's imatrix format) with the Go forward pass",
		ArgsUsage: "SRC",
		Description: `SRC is anything mxq's forward pass reads: a Hugging Face folder (floating point, or
compressed-tensors, GPTQ or MLX safetensors) or a GGUF file of any supported type.

The calibration tokens (--tokens: ids separated by white space, or a JSON array; --text:
text tokenized with the model's own tokenizer) are cut into chunks of --chunk-size; each
chunk is run on its own at positions 0..chunk-1, as llama-imatrix does, and tokens past
the last whole chunk are not used. With --text, each chunk starts with BOS (llama-imatrix
replaces its first token) when the tokenizer adds one; --tokens are fed as given.

For every decoder-layer weight (attention, router, experts) mxq sums the squared input of
each column, per expert from the tokens routed to it, with llama-imatrix's rules, and writes
llama.cpp's GGUF imatrix (--dat: its legacy format) for llama-quantize --imatrix or mxq.
Experts no token reached are reported; llama-quantize quantizes them without importance
weights. --fill-unrouted gives them the mean statistics of their layer's other experts and
lists them in the output's imatrix.mxq.filled_unrouted metadata.

The model is read layer by layer, each weight once (each expert once per group of tokens
whose MoE block runs together): memory holds one layer's shared weights, one expert, the
statistics and at most 2 GiB of activations; the hidden states of all chunks between layers
go to a temporary file beyond 1 GiB.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output `FILE` (.imatrix.gguf, or .dat with --dat)", Required: true},
			&cli.StringFlag{Name: "text", Usage: "calibrate on the text in `FILE`"},
			&cli.StringFlag{Name: "tokens", Usage: "calibrate on the token ids in `FILE`"},
			&cli.IntFlag{Name: "chunk-size", Value: 512, Usage: "`N` tokens per chunk"},
			&cli.IntFlag{Name: "chunks", Usage: "use at most `N` chunks; 0 uses all"},
			&cli.BoolFlag{Name: "fill-unrouted", Usage: "give experts no token reached their layer's mean statistics"},
			&cli.BoolFlag{Name: "dat", Usage: "write llama.cpp's legacy .dat format instead of GGUF"},
			&cli.BoolFlag{Name: "json", Usage: "print the summary as JSON"},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing output"},
			&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, Usage: "`N` worker goroutines; 0 uses all cores"},
			arithmeticFlag,
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
		},
		OnUsageError: onUsageError,
		Action:       runImatrix,
	}
}

// imatrixSummary is what `mxq imatrix` reports.
type imatrixSummary struct {
	Source          string  `json:"source"`
	Output          string  `json:"output"`
	Format          string  `json:"format"`
	Tokens          int     `json:"tokens"`
	Chunks          int     `json:"chunks"`
	ChunkSize       int     `json:"chunk_size"`
	Arithmetic      string  `json:"arithmetic"`
	Entries         int     `json:"entries"`
	Seconds         float64 `json:"seconds"`
	TokensPerSecond float64 `json:"tokens_per_second"`
	// Layers holds, per MoE layer, the tokens routed to each expert (each
	// token counts for each of its top-k experts).
	Layers []layerExperts `json:"layers,omitempty"`
	// Unrouted lists the experts no token reached.
	Unrouted []expertSlot `json:"unrouted"`
	// Filled is true when --fill-unrouted gave them their layer's mean.
	Filled bool `json:"filled_unrouted"`
}

type layerExperts struct {
	Layer        int     `json:"layer"`
	ExpertTokens []int64 `json:"expert_tokens"`
}

type expertSlot struct {
	Layer  int `json:"layer"`
	Expert int `json:"expert"`
}

func runImatrix(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("imatrix takes one SRC argument, got %d", c.NArg())
	}
	src, out := c.Args().First(), c.String("output")
	if c.IsSet("text") == c.IsSet("tokens") {
		return usageError("give exactly one of --text and --tokens")
	}
	if c.Int("chunk-size") <= 0 {
		return usageError("--chunk-size must be positive")
	}
	if c.Int("chunks") < 0 {
		return usageError("--chunks must not be negative")
	}
	if c.Bool("dat") && c.Bool("fill-unrouted") {
		return usageError("--fill-unrouted needs the GGUF output: the .dat format cannot record which experts were filled")
	}
	arith, err := arithmetic(c)
	if err != nil {
		return err
	}
	input := c.String("tokens") + c.String("text")
	// The same rules as every output: never an input or inside one (the
	// model folder included), --force replaces only an earlier importance
	// matrix, and the folder must be there to write in.
	inputs, err := output.Inputs(src)
	if err != nil {
		return err
	}
	if err := checkPaths(append(inputs, input), imatrixTarget(c)); err != nil {
		return err
	}

	m, err := validate.Open(src)
	if err != nil {
		return err
	}
	defer m.Close()
	tokens, bos, err := imatrixTokens(c, m, input)
	if err != nil {
		return err
	}
	d := m.Source.Dims()
	bar := newProgress(c, "imatrix (token-layers)")
	start := time.Now()
	coll, chunks, err := imatrix.Compute(c.Context, m.Source, tokens, imatrix.ComputeOptions{
		ChunkSize: c.Int("chunk-size"), Chunks: c.Int("chunks"), BOS: bos, Workers: c.Int("threads"), Arithmetic: arith, Progress: bar.update,
	})
	bar.finish()
	if err != nil {
		return fmt.Errorf("%s: %w", input, err)
	}
	seconds := time.Since(start).Seconds()
	mat := coll.Matrix([]string{input}, chunks, c.Int("chunk-size"))

	s := &imatrixSummary{
		Source: src, Output: out, Format: "gguf", Tokens: chunks * c.Int("chunk-size"), Chunks: chunks,
		ChunkSize: c.Int("chunk-size"), Arithmetic: arith.String(), Entries: len(mat.Entries), Seconds: seconds, Unrouted: []expertSlot{},
	}
	if seconds > 0 {
		s.TokensPerSecond = float64(s.Tokens) / seconds
	}
	if !d.Dense() {
		for l := range d.Layers {
			name := model.GGUFName(model.TensorRole{Role: model.RoleExpertGate, Layer: l, Expert: model.AllExperts})
			e, ok := mat.Lookup(name)
			if !ok {
				continue
			}
			le := layerExperts{Layer: l}
			for x, n := range e.Counts {
				le.ExpertTokens = append(le.ExpertTokens, int64(n))
				if n == 0 {
					s.Unrouted = append(s.Unrouted, expertSlot{l, x})
				}
			}
			s.Layers = append(s.Layers, le)
		}
	}
	if c.Bool("fill-unrouted") {
		s.Filled = len(mat.FillUnrouted()) > 0
	}
	encode := mat.EncodeGGUF
	if c.Bool("dat") {
		s.Format, encode = "dat", mat.EncodeDat
	}
	staged, err := output.Stage(imatrixTarget(c))
	if err != nil {
		return err
	}
	defer staged.Discard()
	if err := encode(staged.File); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if _, err := output.Commit(staged); err != nil {
		return err
	}
	if c.Bool("json") {
		return writeJSON(c.App.Writer, s)
	}
	return s.writeText(c.App.Writer)
}

// imatrixTarget is the output of an imatrix run.
func imatrixTarget(c *cli.Context) output.Target {
	return output.Target{Path: c.String("output"), Kind: output.Imatrix, Flag: "output", Replace: c.Bool("force")}
}

// imatrixTokens reads the calibration tokens and the token that starts
// every chunk (-1: none).
func imatrixTokens(c *cli.Context, m *validate.Model, path string) ([]int, int, error) {
	data, err := readSmall(path, 16<<20)
	if err != nil {
		return nil, 0, err
	}
	if c.IsSet("tokens") {
		ids, err := validate.ParseTokens(data, path)
		return ids, -1, err
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, 0, fmt.Errorf("%s: no text", path)
	}
	vocab, err := m.Tokenizer()
	if err != nil {
		return nil, 0, fmt.Errorf("%s: no tokenizer to encode %s (%v); give --tokens instead", m.Path, path, err)
	}
	addBOS := vocab.AddBOS == nil || *vocab.AddBOS
	bos := -1
	if addBOS {
		bos = vocab.BOSToken()
	}
	return vocab.Encode(string(data), addBOS), bos, nil
}

func (s *imatrixSummary) writeText(w io.Writer) error {
	p := &linePrinter{w: w}
	p.f("mxq imatrix: %d tokens in %d chunks of %d, %d entries, %.2f s (%.1f tokens/s, %s arithmetic)\n",
		s.Tokens, s.Chunks, s.ChunkSize, s.Entries, s.Seconds, s.TokensPerSecond, s.Arithmetic)
	p.f("  wrote %s (%s)\n", s.Output, s.Format)
	if len(s.Layers) > 0 {
		p.f("\ntokens per expert (each token counts for each expert it is routed to)\n")
		p.f("  layer")
		for x := range s.Layers[0].ExpertTokens {
			p.f(" %7s", fmt.Sprintf("e%d", x))
		}
		p.f("\n")
		for _, l := range s.Layers {
			p.f("  %5d", l.Layer)
			for _, n := range l.ExpertTokens {
				p.f(" %7d", n)
			}
			p.f("\n")
		}
	}
	if len(s.Unrouted) > 0 {
		byLayer := map[int][]string{}
		var layers []int
		for _, u := range s.Unrouted {
			if byLayer[u.Layer] == nil {
				layers = append(layers, u.Layer)
			}
			byLayer[u.Layer] = append(byLayer[u.Layer], fmt.Sprint(u.Expert))
		}
		p.f("\nexperts no calibration token reached (%d):\n", len(s.Unrouted))
		for _, l := range layers {
			p.f("  layer %d: expert %s\n", l, strings.Join(byLayer[l], ", "))
		}
		if s.Filled {
			p.f("they were given their layer's mean statistics (--fill-unrouted), listed in imatrix.mxq.filled_unrouted\n")
		} else {
			p.f("llama-quantize quantizes them without importance weights; more calibration text, or --fill-unrouted, helps\n")
		}
	}
	return p.err
}

// linePrinter keeps the first write error so the report code stays linear.
type linePrinter struct {
	w   io.Writer
	err error
}

func (p *linePrinter) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}
