package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/mxq-dev/mxq/ggml"
)

// compareCase is one row of the side-by-side table: a type, quantized
// with or without importance weights.
type compareCase struct {
	typ      ggml.Type
	weighted bool
}

// runBenchCompare prints mxq's kernel throughput next to ggml's, measured
// by the ggml-bench program at ggmlBench (ggml's ggml_quantize_chunk on
// one thread, input of the same shape and distribution), on one core and
// on all cores. ggml-bench is single-threaded, so its all-cores figure is
// that many copies running at once, summed. The two programs alternate
// for the given rounds and each keeps its best figure, which evens out
// the load of a shared machine.
func runBenchCompare(ctx context.Context, w io.Writer, ggmlBench string, cases []compareCase, src, weights []float32, cols, rounds int, minTime time.Duration) error {
	cores := runtime.GOMAXPROCS(0)
	fmt.Fprintf(w, "machine: %s, %s; load average at start: %s\n", cpuModel(), coresText(cores), loadAverage())
	fmt.Fprintf(w, "best of %d alternating rounds, each at least %s; ggml on %s = %d ggml-bench processes at once, summed\n\n",
		rounds, minTime, coresText(cores), cores)
	tw := tabwriter.NewWriter(w, 2, 0, 2, ' ', tabwriter.AlignRight)
	all := coresText(cores)
	// The scaling columns put mxq's own speed-up from 1 core to all next to
	// that of independent ggml processes, which no shared state slows: the
	// machine's ceiling (turbo, shared caches and memory, sibling threads).
	fmt.Fprintf(tw, "type\tmxq 1 core MB/s\tggml 1 core MB/s\tmxq/ggml\tmxq %s MB/s\tggml %s MB/s\tmxq/ggml\tmxq scaling\tggml scaling\t\n", all, all)
	mb := float64(len(src)*4) / 1e6
	rows := len(src) / cols
	for _, k := range cases {
		size, _ := k.typ.RowSize(int64(len(src)))
		dst := make([]byte, size)
		var qw []float32
		if k.weighted {
			qw = weights
		}
		var mxq1, mxqN, ggml1, ggmlN float64
		for range rounds {
			g1, err := runGGMLBench(ctx, ggmlBench, k, rows, cols, minTime, 1)
			if err != nil {
				return err
			}
			one, err := measure(ctx, minTime, func() error { return quantizeInChunks(ctx, k.typ, src, cols, qw, dst, 1) })
			if err != nil {
				return err
			}
			gN, err := runGGMLBench(ctx, ggmlBench, k, rows, cols, minTime, cores)
			if err != nil {
				return err
			}
			all, err := measure(ctx, minTime, func() error { return quantizeInChunks(ctx, k.typ, src, cols, qw, dst, cores) })
			if err != nil {
				return err
			}
			ggml1, ggmlN = max(ggml1, g1), max(ggmlN, gN)
			mxq1, mxqN = max(mxq1, mb/one.Seconds()), max(mxqN, mb/all.Seconds())
		}
		name := k.typ.String()
		if k.weighted {
			name += " imatrix"
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f×\t%.0f\t%.0f\t%.2f×\t%.2f×\t%.2f×\t\n", name, mxq1, ggml1, mxq1/ggml1, mxqN, ggmlN, mxqN/ggmlN, mxqN/mxq1, ggmlN/ggml1)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nload average at end: %s\n", loadAverage())
	return nil
}

// runGGMLBench runs procs copies of ggml-bench at once on a rows×cols
// matrix and returns the sum of the MB/s they report.
func runGGMLBench(ctx context.Context, path string, k compareCase, rows, cols int, minTime time.Duration, procs int) (float64, error) {
	args := []string{k.typ.String(), strconv.Itoa(rows), strconv.Itoa(cols), strconv.FormatFloat(minTime.Seconds(), 'g', -1, 64)}
	if k.weighted {
		args = append(args, "imatrix")
	}
	outs := make([]float64, procs)
	errs := make([]error, procs)
	var wg sync.WaitGroup
	for p := range procs {
		wg.Go(func() {
			var stdout, stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, path, args...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				errs[p] = fmt.Errorf("%s %s: %v: %s", path, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
				return
			}
			outs[p], errs[p] = parseGGMLBench(stdout.String())
			if errs[p] != nil {
				errs[p] = fmt.Errorf("%s %s: %w", path, strings.Join(args, " "), errs[p])
			}
		})
	}
	wg.Wait()
	var sum float64
	for p := range procs {
		if errs[p] != nil {
			return 0, errs[p]
		}
		sum += outs[p]
	}
	return sum, nil
}

// parseGGMLBench reads the MB/s figure of ggml-bench's one-line report,
// "TYPE [imatrix] 123.4 MB/s (best of N, S s)".
func parseGGMLBench(out string) (float64, error) {
	fields := strings.Fields(out)
	for i := 1; i < len(fields); i++ {
		if fields[i] == "MB/s" {
			v, err := strconv.ParseFloat(fields[i-1], 64)
			if err == nil && v > 0 {
				return v, nil
			}
		}
	}
	return 0, fmt.Errorf("no MB/s figure in its output %q", strings.TrimSpace(out))
}

func coresText(n int) string {
	if n == 1 {
		return "1 core"
	}
	return fmt.Sprintf("%d cores", n)
}

// cpuModel names the processor (Linux), or the architecture.
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v) + " (" + runtime.GOARCH + ")"
			}
		}
	}
	return runtime.GOARCH
}

// loadAverage is the 1, 5 and 15 minute load averages (Linux).
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}
