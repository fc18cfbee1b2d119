package main

import (
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// progress is a progress bar on stderr, shown only to a person: never with
// --quiet, and never when stdout or stderr is not a terminal (CI, pipes).
type progress struct {
	bar *progressbar.ProgressBar
}

func newProgress(c *cli.Context, what string) *progress {
	return newProgressIn(c, what, "weights")
}

// newProgressIn is newProgress counting in unit.
func newProgressIn(c *cli.Context, what, unit string) *progress {
	if c.Bool("quiet") || !term.IsTerminal(int(os.Stdout.Fd())) || !term.IsTerminal(int(os.Stderr.Fd())) {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionShowIts(),
		progressbar.OptionThrottle(200_000_000),
		progressbar.OptionClearOnFinish(),
	)}
}

// update is a convert progress callback; nil-safe so callers need no checks.
func (p *progress) update(done, total int64) {
	if p == nil || p.bar == nil {
		return
	}
	if p.bar.GetMax64() != total {
		p.bar.ChangeMax64(total)
	}
	p.bar.Set64(done)
}

func (p *progress) finish() {
	if p != nil && p.bar != nil {
		p.bar.Finish()
	}
}
