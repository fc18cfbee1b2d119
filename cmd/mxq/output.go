package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/mxq-dev/mxq/inspect"
	"github.com/mxq-dev/mxq/internal/output"
	"github.com/mxq-dev/mxq/report"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// runOutputs are the paths a quantize or convert run writes: the model
// (-o) and, with --report, the report.
type runOutputs struct {
	model  output.Target
	report *output.Target
}

// checkOutputs reads -o, --report and --force and refuses, before the
// source is read and with --dry-run too, paths the run may not write: a
// missing or read-only folder, an input (or a folder holding one, or a
// path inside one), the same path twice, or an existing path that is not
// to be replaced (exit 2).
func checkOutputs(c *cli.Context, kind output.Kind) (runOutputs, error) {
	force := c.Bool("force")
	o := runOutputs{model: output.Target{Path: filepath.Clean(c.String("output")), Kind: kind, Flag: "output", Replace: force}}
	targets := []output.Target{o.model}
	if path := c.String("report"); path != "" {
		o.report = &output.Target{Path: filepath.Clean(path), Kind: output.Report, Flag: "report", Replace: force}
		targets = append(targets, *o.report)
	}
	inputs, err := output.Inputs(c.Args().First())
	if err != nil {
		return o, err
	}
	return o, checkPaths(inputs, targets...)
}

// checkPaths is output.Check with its refusals as usage errors (exit 2):
// a path mxq will not write is the caller's mistake, found before any
// data is read.
func checkPaths(inputs []string, targets ...output.Target) error {
	err := output.Check(inputs, targets...)
	var refusal *output.Refusal
	if errors.As(err, &refusal) {
		return &codedError{code: exitUsage, err: err}
	}
	return err
}

// finish completes a run: the report is written beside its path, then
// the staged model output (nil for --dry-run, which writes nothing) and
// the report are put in place together, or neither is; then the report is
// printed, with the memory section of mem in text mode when mem is not
// nil, and threshold breaches become exit code 3.
func (o runOutputs) finish(c *cli.Context, r *report.Report, th report.Thresholds, model *output.Staged, mem *inspect.Report) error {
	r.Thresholds = th
	r.Summarize()
	if model != nil {
		items := []*output.Staged{model}
		if o.report != nil {
			rs, err := output.Stage(*o.report)
			if err != nil {
				return err
			}
			defer rs.Discard()
			if err := writeJSON(rs.File, r); err != nil {
				return fmt.Errorf("writing %s: %w", o.report.Path, err)
			}
			if err := rs.File.Sync(); err != nil {
				return fmt.Errorf("writing %s: %w", o.report.Path, err)
			}
			items = append(items, rs)
		}
		kept, err := output.Commit(items...)
		if err != nil {
			return err
		}
		for _, k := range kept {
			fmt.Fprintf(c.App.ErrWriter, "mxq: the replaced output changed during the run and was kept at %s\n", k)
		}
	}
	if c.Bool("json") {
		if err := writeJSON(c.App.Writer, r); err != nil {
			return err
		}
	} else {
		if err := r.WriteText(c.App.Writer, 0); err != nil {
			return err
		}
		if mem != nil {
			if err := mem.WriteMemoryText(c.App.Writer); err != nil {
				return err
			}
		}
	}
	if r.Failed() {
		return &codedError{code: exitThresholds, err: fmt.Errorf("%d tensors breached the validation thresholds (output and report were written)", len(r.Breaches))}
	}
	return nil
}
