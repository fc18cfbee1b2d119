package convert

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/mxq-dev/mxq/report"
)

// staged is a temporary file or folder ".OUT.tmp-*" beside an output,
// written completely before it is moved into place.
type staged struct {
	path string
	file *os.File // the open file; nil for a folder
	kept bool     // moved into place: cleanup leaves it alone
}

// stage creates the temporary for out: a folder if dir, else a file.
func stage(out string, dir bool) (*staged, error) {
	parent, pattern := filepath.Dir(out), "."+filepath.Base(out)+".tmp-*"
	if dir {
		path, err := os.MkdirTemp(parent, pattern)
		if err != nil {
			return nil, fmt.Errorf("creating output: %w", err)
		}
		return &staged{path: path}, nil
	}
	f, err := os.CreateTemp(parent, pattern)
	if err != nil {
		return nil, fmt.Errorf("creating output: %w", err)
	}
	return &staged{path: f.Name(), file: f}, nil
}

// cleanup removes the temporary unless it was kept; writers defer it.
func (s *staged) cleanup() {
	if s.kept {
		return
	}
	if s.file != nil {
		s.file.Close()
	}
	os.RemoveAll(s.path)
}

// progressCounter turns the engine's increments into calls of notify with
// the running count and total; nil when notify is nil.
func progressCounter(notify func(done, total int64), total int64) func(int64) {
	if notify == nil {
		return nil
	}
	var done int64
	return func(n int64) { done += n; notify(done, total) }
}

// measured completes a plan's report r after writing: the measurements of
// each tensor and the files written.
func measured(r *report.Report, stats []TensorStats, files []report.File) *report.Report {
	r.DryRun = false
	for i := range r.Tensors {
		r.Tensors[i].Metrics = stats[i].Total
		r.Tensors[i].Experts = stats[i].Experts
	}
	r.Files = files
	r.Summarize()
	return r
}
