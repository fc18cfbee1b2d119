// Command mxq inspects Mixture-of-Experts checkpoints and quantizes them
// into files that inference engines load: GGUF for llama.cpp and its
// descendants, safetensors layouts for vLLM, transformers and MLX.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

// Exit codes, documented in the README; scripts rely on them.
const (
	exitOK         = 0
	exitError      = 1   // the command failed; nothing was written
	exitUsage      = 2   // bad flags or arguments
	exitThresholds = 3   // finished and wrote its output and report, but a validation threshold was breached
	exitCancelled  = 130 // interrupted (SIGINT/SIGTERM); nothing was written
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// exitError carries a specific exit code out of a command.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &codedError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, interspersed(app, args))
	if err == nil {
		return exitOK
	}
	code := exitError
	var ce *codedError
	switch {
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		code = exitCancelled
		err = errors.New("interrupted; no output was written")
	case errors.As(err, &ce):
		code = ce.code
	}
	fmt.Fprintf(stderr, "mxq: %v\n", err)
	return code
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "mxq",
		Usage:     "inspect and quantize Mixture-of-Experts checkpoints (Mixtral) for llama.cpp, vLLM and MLX",
		Version:   version,
		Writer:    stdout,
		ErrWriter: stderr,
		Commands: []*cli.Command{
			inspectCommand(),
			quantizeCommand(),
			convertCommand(),
			validateCommand(),
			benchCommand(),
			imatrixCommand(),
		},
		// Usage mistakes get exit code 2, distinct from failures.
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return &codedError{code: exitUsage, err: err}
		},
		ExitErrHandler: func(*cli.Context, error) {},
	}
}
