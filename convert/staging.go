package convert

import "github.com/mxq-dev/mxq/report"

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
