package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mxq-dev/mxq/validate"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "compare a quantized model with its original through a Go forward pass (KL divergence, top-1, expert routing)",
		ArgsUsage: "REFERENCE CANDIDATE",
		Description: `REFERENCE and CANDIDATE are anything mxq reads: Hugging Face folders (floating point,
or compressed-tensors, GPTQ or MLX safetensors) and GGUF files of any supported type.
Both run on the same tokens: --prompt, --text (a file) or --tokens (a file of ids, a JSON
array or separated by white space); without them a built-in English paragraph. Text is
tokenized with the reference's own tokenizer (the candidate's if the reference has none).

End to end (the default) reports KL(reference ‖ candidate) of the next-token distributions
(mean, p99, max, in nats), top-1 agreement, both perplexities on the tokens, and per layer
the share of tokens whose top-k expert set is unchanged, the mean expert overlap and the mean
change Σ|Δw| of the renormalised routing weights.

--layer-wise compares the MoE blocks of --layers on identical inputs instead: the reference's
own MoE inputs on the tokens, or seeded random ones (norm weight ⊙ unit-RMS Gaussian), for
models too large to run end to end (--states auto picks reference states when the run is
small). Both modes read one expert at a time.

Exit status 3 means the report was printed but a threshold was breached.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "prompt", Usage: "compare on `TEXT`"},
			&cli.StringFlag{Name: "text", Usage: "compare on the text in `FILE`"},
			&cli.StringFlag{Name: "tokens", Usage: "compare on the token ids in `FILE` (- for stdin)"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
			&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, Usage: threadsUsage, DefaultText: "all cores"},
			arithmeticFlag,
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
			&cli.BoolFlag{Name: "layer-wise", Category: "layer-wise", Usage: "compare MoE blocks on identical inputs instead of whole models"},
			&cli.StringFlag{Name: "layers", Category: "layer-wise", Value: "all", Usage: "layers to compare: all, or a `LIST` such as 0,15,31 or 0-3"},
			&cli.StringFlag{Name: "states", Category: "layer-wise", Value: "auto", Usage: "`MODE` of the MoE inputs: reference, random or auto"},
			&cli.IntFlag{Name: "samples", Category: "layer-wise", Value: validate.DefaultSamples, Usage: fmt.Sprintf("`N` random states per layer, up to %d", maxSamples)},
			&cli.Uint64Flag{Name: "seed", Category: "layer-wise", Usage: "`SEED` of the random states"},
			&cli.Float64Flag{Name: "max-kld", Category: "thresholds", Usage: "exit 3 when the mean KL divergence exceeds `X` nats (X ≥ 0)", DefaultText: "off"},
			&cli.Float64Flag{Name: "min-top1", Category: "thresholds", Usage: "exit 3 when top-1 agreement is below `Y` (0..1)", DefaultText: "off"},
			&cli.Float64Flag{Name: "min-routing-agreement", Category: "thresholds", Usage: "exit 3 when a layer's routing agreement is below `Z` (0..1)", DefaultText: "off"},
			&cli.Float64Flag{Name: "max-moe-error", Category: "thresholds", Usage: "exit 3 when a layer's MoE output relative error exceeds `X` (X ≥ 0; layer-wise)", DefaultText: "off"},
		},
		OnUsageError: onUsageError,
		Action:       runValidate,
	}
}

func runValidate(c *cli.Context) error {
	if c.NArg() != 2 {
		return usageError("validate takes REFERENCE and CANDIDATE, got %d arguments", c.NArg())
	}
	layerWise := c.Bool("layer-wise")
	th, err := validateThresholds(c, layerWise)
	if err != nil {
		return err
	}
	inputs := 0
	for _, f := range []string{"prompt", "text", "tokens"} {
		if c.IsSet(f) {
			inputs++
		}
	}
	if inputs > 1 {
		return usageError("give at most one of --prompt, --text and --tokens")
	}
	if !layerWise {
		for _, f := range []string{"layers", "states", "samples", "seed"} {
			if c.IsSet(f) {
				return usageError("--%s needs --layer-wise", f)
			}
		}
	}
	states := c.String("states")
	switch states {
	case "auto":
		states = ""
	case "reference", "random":
	default:
		return usageError("--states must be reference, random or auto, got %q", states)
	}
	if err := intInRange(c, "samples", 1, maxSamples); err != nil {
		return err
	}
	threads, err := workers(c)
	if err != nil {
		return err
	}
	arith, err := arithmetic(c)
	if err != nil {
		return err
	}
	layers, err := parseLayers(c.String("layers"))
	if err != nil {
		return err
	}

	ref, err := validate.Open(c.Args().Get(0))
	if err != nil {
		return err
	}
	defer ref.Close()
	cand, err := validate.Open(c.Args().Get(1))
	if err != nil {
		return err
	}
	defer cand.Close()

	var tokens []int
	if !(layerWise && states == "random") {
		if tokens, err = validateTokens(c, ref, cand); err != nil {
			return err
		}
	}
	bar := newProgressIn(c, "validating", "layers")
	opts := validate.Options{Workers: threads, Arithmetic: arith, Progress: bar.update}
	var r *validate.Report
	if layerWise {
		r, err = validate.LayerWise(c.Context, ref, cand, validate.LayerWiseOptions{
			Options: opts, Layers: layers, States: states, Tokens: tokens,
			Samples: c.Int("samples"), Seed: c.Uint64("seed"),
		})
	} else {
		r, err = validate.EndToEnd(c.Context, ref, cand, tokens, opts)
	}
	bar.finish()
	if err != nil {
		return err
	}
	r.Check(th)
	if c.Bool("json") {
		err = writeJSON(c.App.Writer, r)
	} else {
		err = r.WriteText(c.App.Writer)
	}
	if err != nil {
		return err
	}
	if r.Failed() {
		return &codedError{code: exitThresholds, err: fmt.Errorf("%d validation thresholds breached: %s", len(r.Breaches), strings.Join(r.Breaches, "; "))}
	}
	return nil
}

// maxSamples bounds --samples: each sample is a hidden-size row of both
// models' states, so a million would already be gigabytes.
const maxSamples = 1 << 16

// validateThresholds collects the threshold flags that were given.
func validateThresholds(c *cli.Context, layerWise bool) (validate.Thresholds, error) {
	var th validate.Thresholds
	err := firstError(
		nonNegative(c, "max-kld"),
		floatInRange(c, "min-top1", 0, 1),
		floatInRange(c, "min-routing-agreement", 0, 1),
		nonNegative(c, "max-moe-error"),
	)
	if err != nil {
		return th, err
	}
	for _, f := range []struct {
		name      string
		dst       **float64
		layerWise bool // only meaningful in that mode
		endToEnd  bool
	}{
		{"max-kld", &th.MaxKLD, false, true},
		{"min-top1", &th.MinTop1, false, true},
		{"min-routing-agreement", &th.MinRoutingAgreement, false, false},
		{"max-moe-error", &th.MaxMoEError, true, false},
	} {
		if !c.IsSet(f.name) {
			continue
		}
		if f.endToEnd && layerWise {
			return th, usageError("--%s applies to end-to-end runs; layer-wise mode computes no logits", f.name)
		}
		if f.layerWise && !layerWise {
			return th, usageError("--%s needs --layer-wise", f.name)
		}
		v := c.Float64(f.name)
		*f.dst = &v
	}
	return th, nil
}

// validateTokens resolves the token ids both models run on.
func validateTokens(c *cli.Context, ref, cand *validate.Model) ([]int, error) {
	if path := c.String("tokens"); path != "" {
		var data []byte
		var err error
		if path == "-" {
			data, err = io.ReadAll(io.LimitReader(c.App.Reader, 16<<20+1))
		} else {
			data, err = readSmall(path, 16<<20)
		}
		if err != nil {
			return nil, err
		}
		return validate.ParseTokens(data, path)
	}
	text := validate.DefaultPrompt
	switch {
	case c.IsSet("prompt"):
		text = c.String("prompt")
	case c.IsSet("text"):
		data, err := readSmall(c.String("text"), 16<<20)
		if err != nil {
			return nil, err
		}
		text = string(data)
	}
	if text == "" {
		return nil, usageError("the prompt is empty")
	}
	vocab, err := ref.Tokenizer()
	if err != nil {
		var err2 error
		if vocab, err2 = cand.Tokenizer(); err2 != nil {
			return nil, fmt.Errorf("no tokenizer to encode the text (reference: %v; candidate: %v); give --tokens instead", err, err2)
		}
	}
	return vocab.Encode(text, true), nil
}

// readSmall reads a file of at most limit bytes.
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return data, nil
}

// parseLayers reads "all", or a comma-separated list of layers and
// inclusive ranges ("0,15,31", "0-3,8"); nil means all.
func parseLayers(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "all") {
		return nil, nil
	}
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a || b-a > 1<<16 {
			return nil, usageError("--layers: %q is not a layer or range (use all, or a list such as 0,15,31 or 0-3)", part)
		}
		for l := a; l <= b; l++ {
			out = append(out, l)
		}
	}
	return out, nil
}
