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
	"time"

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

// stuckGrace is how long an interrupted command may take to notice and
// clean up before mxq exits anyway; commands check for cancellation far
// more often, so only a system call that never returns reaches it.
const stuckGrace = 3 * time.Second

func main() {
	// Signals are caught before anything else runs, so an interrupt at
	// any point ends in the same clean exit.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		// A second signal now kills mxq at once; a command stuck in a
		// system call is left behind after stuckGrace.
		stop()
		time.Sleep(stuckGrace)
		fmt.Fprintln(os.Stderr, "mxq: interrupted")
		os.Exit(exitCancelled)
	}()
	os.Exit(run(ctx, os.Args, os.Stdout, os.Stderr))
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

// run runs mxq with args and returns its exit code; a cancelled ctx (a
// signal) stops the command, which then exits 130.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
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
	case errors.As(err, new(cli.ExitCoder)):
		// urfave/cli's own refusals, such as `mxq help nope`.
		code = exitUsage
	}
	fmt.Fprintf(stderr, "mxq: %v\n", err)
	return code
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
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
		Action:       commandNotFound,
		OnUsageError: onUsageError,
		// Errors are printed once, by run.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	tidyHelp(app.Commands)
	return app
}

// onUsageError gives flag-parsing mistakes exit code 2, distinct from
// failures, on one line with flags written as they are typed.
func onUsageError(_ *cli.Context, err error, _ bool) error {
	return &codedError{code: exitUsage, err: errors.New(usageMessage(err))}
}
