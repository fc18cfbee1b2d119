package main

import (
	"math"
	"regexp"
	"runtime"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mxq-dev/mxq/forward"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/quant"
)

// Flag checks shared by the commands. Every mistake they catch is a usage
// error (exit 2) with one line naming the flag as it is typed, before any
// file is read.

// arithmeticFlag is --arithmetic of the commands that run the forward
// pass.
var arithmeticFlag = &cli.StringFlag{
	Name: "arithmetic", Value: "float32",
	Usage: "`MODE` of the forward pass's products with the weights: float32, or bf16 (activations and weights " +
		"rounded to bfloat16, sums in float32, as llama.cpp on BF16 weights: about twice as fast with AVX512_BF16, " +
		"coarser; without it a portable Go loop computes the same results, far slower)",
}

// arithmetic reads --arithmetic.
func arithmetic(c *cli.Context) (forward.Arithmetic, error) {
	a, err := forward.ParseArithmetic(c.String("arithmetic"))
	if err != nil {
		return 0, usageError("--arithmetic must be float32 or bf16, got %q", c.String("arithmetic"))
	}
	return a, nil
}

// threadsUsage documents the cap that workers applies.
const threadsUsage = "`N` worker goroutines, at most one per core (more would only cost memory)"

// workers reads --threads: 0 means all cores (the libraries resolve it),
// a negative count is a usage error, and more workers than cores are
// capped, since each holds its own buffers and adds no speed.
func workers(c *cli.Context) (int, error) {
	n := c.Int("threads")
	if n < 0 {
		return 0, usageError("--threads must be 0 (all cores) or a positive count, got %d", n)
	}
	return min(n, runtime.GOMAXPROCS(0)), nil
}

// intInRange refuses an int flag outside [lo, hi].
func intInRange(c *cli.Context, name string, lo, hi int) error {
	if v := c.Int(name); v < lo || v > hi {
		return usageError("--%s must be between %d and %d, got %d", name, lo, hi, v)
	}
	return nil
}

// floatInRange refuses a float flag that was given outside [lo, hi] (NaN
// included); an unset flag is not checked, as it means "no threshold".
func floatInRange(c *cli.Context, name string, lo, hi float64) error {
	if !c.IsSet(name) {
		return nil
	}
	v := c.Float64(name)
	if !(v >= lo && v <= hi) {
		return usageError("--%s must be between %v and %v, got %v", name, lo, hi, v)
	}
	return nil
}

// nonNegative refuses a float flag given below 0, or not finite.
func nonNegative(c *cli.Context, name string) error {
	if !c.IsSet(name) {
		return nil
	}
	if v := c.Float64(name); !(v >= 0 && v <= math.MaxFloat64) {
		return usageError("--%s must be a finite number of at least 0, got %v", name, v)
	}
	return nil
}

// firstError returns the first non-nil error.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// requireOutput refuses a missing --output with a usage error (urfave's
// Required would print the whole help and exit 1).
func requireOutput(c *cli.Context, cmd string) error {
	if c.String("output") == "" {
		return usageError("%s needs an output: give -o/--output PATH", cmd)
	}
	return nil
}

// checkImatrix refuses a file type or tensor type that cannot be made
// without an importance matrix when none is given, as llama-quantize does
// before it reads anything (IQ1_S, IQ1_M, IQ2_*, Q2_K_S).
func checkImatrix(ft ggml.FileType, types []typeFlag, imatrixGiven bool) error {
	if imatrixGiven {
		return nil
	}
	if ft == ggml.FileTypeQ2_K_S || quant.RequiresWeights(ft.DefaultType()) {
		return usageError("--type %s needs an importance matrix, and none is given; choose another type (e.g. Q2_K or Q3_K_S)", ft)
	}
	for _, tf := range types {
		if quant.RequiresWeights(tf.typ) {
			return usageError("%s needs an importance matrix, and none is given", tf.flag)
		}
	}
	return nil
}

// typeFlag is a ggml type some flag asks for, with the flag as typed.
type typeFlag struct {
	flag string
	typ  ggml.Type
}

// goFlagName matches the single-dash flag names of the flag package's
// parse errors ("flag provided but not defined: -nope").
var goFlagName = regexp.MustCompile(`(^|[\s:])-([A-Za-z0-9][A-Za-z0-9-]*)`)

// usageMessage rewrites a flag-parsing error so flags appear as they are
// typed: --name, or -x for a one-letter alias.
func usageMessage(err error) string {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	return goFlagName.ReplaceAllStringFunc(msg, func(m string) string {
		sub := goFlagName.FindStringSubmatch(m)
		if len(sub[2]) == 1 {
			return m
		}
		return sub[1] + "--" + sub[2]
	})
}

// commandNotFound is the action of a command that only holds subcommands
// (and of the app): without arguments it shows the help, with an unknown
// name it is a usage error.
func commandNotFound(c *cli.Context) error {
	if !c.Args().Present() {
		return cli.ShowSubcommandHelp(c)
	}
	var names []string
	for _, cmd := range c.Command.Subcommands {
		if cmd.Name != "help" && !cmd.Hidden {
			names = append(names, cmd.Name)
		}
	}
	return usageError("unknown command %q (commands: %s)", c.Args().First(), strings.Join(names, ", "))
}

// tidyHelp makes --help show each flag's default once: boolean flags show
// none (they are off unless given), the others their Value or DefaultText.
// Usage strings never repeat a default themselves (TestHelpDefaults).
func tidyHelp(cmds []*cli.Command) {
	for _, cmd := range cmds {
		for _, f := range cmd.Flags {
			if b, ok := f.(*cli.BoolFlag); ok {
				b.DisableDefaultText = true
			}
		}
		tidyHelp(cmd.Subcommands)
	}
}
