package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mxq-dev/mxq/convert"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/internal/fixture"
	"github.com/mxq-dev/mxq/internal/synth"
	"github.com/mxq-dev/mxq/quant"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:   "bench",
		Usage:  "measure quantization throughput on this machine",
		Action: commandNotFound,
		Subcommands: []*cli.Command{
			{
				Name:  "kernels",
				Usage: "quantize a Mixtral-width matrix with every type, on 1 core and on all cores",
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "rows", Value: 14336, Usage: "matrix rows"},
					&cli.IntFlag{Name: "cols", Value: 4096, Usage: "matrix columns (a multiple of 256)"},
					&cli.StringFlag{Name: "types", Usage: "comma-separated ggml types", DefaultText: "all with kernels"},
					&cli.DurationFlag{Name: "min-time", Value: 2 * time.Second, Usage: "measure each case for at least this long"},
					&cli.BoolFlag{Name: "imatrix", Usage: "also quantize with importance weights (per column: Σx² over the first 64 rows + 1e-3)"},
					&cli.StringFlag{Name: "compare", Usage: "print a side-by-side table against ggml's quantizers, run by the ggml-bench program at `PATH`"},
					&cli.IntFlag{Name: "rounds", Value: 3, Usage: "with --compare, alternating rounds of mxq and ggml (best of each)"},
				},
				OnUsageError: onUsageError,
				Action:       runBenchKernels,
			},
			{
				Name:      "quantize",
				Usage:     "run the whole GGUF pipeline (read, quantize, validate) into a discarding sink",
				ArgsUsage: "[SRC]",
				Description: `Without SRC, a synthetic full-width Mixtral layer (hidden 4096, intermediate 14336,
8 experts, BF16, N(0, 0.02) weights) is written to a temporary folder first. With
--full-size-sparse, the full 93 GB Mixtral-8x7B checkpoint is recreated from its real
index as sparse files (real headers, data left as holes: all zeros), which measures
memory bounds and I/O plumbing, not kernel speed.`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "type", Value: "Q4_K_M", Usage: "GGUF file `TYPE`"},
					&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, Usage: threadsUsage, DefaultText: "all cores"},
					&cli.StringFlag{Name: "meta", Value: "testdata/mixtral-8x7b-meta", Usage: "Mixtral-8x7B config, index and tokenizer `FOLDER`"},
					&cli.BoolFlag{Name: "full-size-sparse", Usage: "benchmark the full-size checkpoint as sparse files"},
					&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile of the (first) pipeline run (for go tool pprof) to `FILE`"},
					&cli.BoolFlag{Name: "kernels", Value: true, Usage: "also time the quantizers alone on the same chunks, types and workers, and print the pipeline's speed as a share of theirs"},
					&cli.IntFlag{Name: "rounds", Value: 1, Usage: "alternating rounds of the pipeline and the quantizers alone (best of each)"},
				},
				OnUsageError: onUsageError,
				Action:       runBenchQuantize,
			},
		},
	}
}

// maxBenchElements bounds the benchmark matrix to 1 GiB of float32 (the
// default is 235 MB); its quantized copy comes on top.
const maxBenchElements = 1 << 28

func runBenchKernels(c *cli.Context) error {
	if c.NArg() != 0 {
		return usageError("bench kernels takes no arguments, got %q", c.Args().First())
	}
	rows, cols := c.Int("rows"), c.Int("cols")
	if rows <= 0 || cols <= 0 || cols%ggml.QK_K != 0 {
		return usageError("--rows must be positive and --cols a positive multiple of 256")
	}
	if int64(rows)*int64(cols) > maxBenchElements {
		return usageError("--rows × --cols must be at most %d values (1 GiB of float32), got %d × %d", maxBenchElements, rows, cols)
	}
	if d := c.Duration("min-time"); d <= 0 || d > time.Hour {
		return usageError("--min-time must be between 1ns and 1h, got %v", d)
	}
	types := quant.SupportedTypes()
	if s := c.String("types"); s != "" {
		types = nil
		for _, name := range strings.Split(s, ",") {
			t, err := ggml.ParseType(strings.TrimSpace(name))
			if err != nil || !quant.Supported(t) {
				return usageError("--types: no kernel for %q", name)
			}
			types = append(types, t)
		}
	}
	if path := c.String("compare"); path != "" {
		if _, err := os.Stat(path); err != nil {
			return usageError("--compare: %v", err)
		}
		if c.Int("rounds") < 1 {
			return usageError("--rounds must be positive")
		}
	}
	src := make([]float32, rows*cols)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range src {
		if i%benchChunk == 0 && c.Context.Err() != nil {
			return c.Context.Err()
		}
		src[i] = float32(rng.NormFloat64() * 0.02)
	}
	// Types that cannot quantize without importance weights get ggml-bench's
	// in every column.
	benchWeights := synth.BenchImportance(src, cols)
	cores := runtime.GOMAXPROCS(0)
	w := c.App.Writer
	if path := c.String("compare"); path != "" {
		var cases []compareCase
		for _, t := range types {
			// ggml-bench gives the types that require weights its own.
			cases = append(cases, compareCase{typ: t, weighted: quant.RequiresWeights(t)})
		}
		if c.Bool("imatrix") {
			for _, t := range types {
				if quant.RequiresWeights(t) {
					continue
				}
				if quant.UsesWeights(t) {
					cases = append(cases, compareCase{typ: t, weighted: true})
				}
			}
		}
		fmt.Fprintf(w, "quantizing a %d×%d N(0, 0.02) float32 matrix; MB/s of float32 input\n", rows, cols)
		return runBenchCompare(c.Context, w, path, cases, src, benchWeights, cols, c.Int("rounds"), c.Duration("min-time"))
	}
	fmt.Fprintf(w, "quantizing a %d×%d N(0, 0.02) float32 matrix (%.0f MB); MB/s of float32 input, %s, %d cores\n\n",
		rows, cols, float64(len(src)*4)/1e6, runtime.GOARCH, cores)
	var weights []float32
	header := fmt.Sprintf("type\t1 core MB/s\t%d cores MB/s\tspeed-up\t", cores)
	if c.Bool("imatrix") {
		weights = benchWeights
		header += fmt.Sprintf("imatrix 1 core MB/s\timatrix %d cores MB/s\t", cores)
	}
	tw := tabwriter.NewWriter(w, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, header)
	mb := float64(len(src)*4) / 1e6
	for _, t := range types {
		size, _ := t.RowSize(int64(len(src)))
		dst := make([]byte, size)
		var required []float32
		if quant.RequiresWeights(t) {
			required = benchWeights
		}
		one, err := measure(c.Context, c.Duration("min-time"), func() error { return quantizeInChunks(c.Context, t, src, cols, required, dst, 1) })
		if err != nil {
			return err
		}
		all, err := measure(c.Context, c.Duration("min-time"), func() error { return quantizeInChunks(c.Context, t, src, cols, required, dst, cores) })
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s	%.0f	%.0f	%.2f×	", t, mb/one.Seconds(), mb/all.Seconds(), one.Seconds()/all.Seconds())
		switch {
		case weights == nil:
		case !quant.UsesWeights(t):
			fmt.Fprint(tw, "-	-	")
		default:
			one, err := measure(c.Context, c.Duration("min-time"), func() error { return quantizeInChunks(c.Context, t, src, cols, weights, dst, 1) })
			if err != nil {
				return err
			}
			all, err := measure(c.Context, c.Duration("min-time"), func() error { return quantizeInChunks(c.Context, t, src, cols, weights, dst, cores) })
			if err != nil {
				return err
			}
			fmt.Fprintf(tw, "%.0f	%.0f	", mb/one.Seconds(), mb/all.Seconds())
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// benchChunk is how many values quantizeInChunks hands the kernel at once:
// 16 MB of float32, a quarter of a second at the slowest kernel on one
// core, so an interrupt is noticed promptly.
const benchChunk = 1 << 22

// quantizeInChunks quantizes src (rows of cols values) into dst a block of
// rows at a time, stopping with ctx's error between blocks.
func quantizeInChunks(ctx context.Context, t ggml.Type, src []float32, cols int, weights []float32, dst []byte, workers int) error {
	rowBytes, err := t.RowSize(int64(cols))
	if err != nil {
		return err
	}
	rows, step := len(src)/cols, max(1, benchChunk/cols)
	for lo := 0; lo < rows; lo += step {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+step, rows)
		if err := quant.QuantizeRowsWeighted(t, src[lo*cols:hi*cols], cols, weights, dst[int64(lo)*rowBytes:int64(hi)*rowBytes], workers); err != nil {
			return err
		}
	}
	return nil
}

// measure returns the fastest of repeated runs of f, repeated for at least
// atLeast in all, or the first error.
func measure(ctx context.Context, atLeast time.Duration, f func() error) (time.Duration, error) {
	best := time.Duration(math.MaxInt64)
	for start := time.Now(); time.Since(start) < atLeast || best == math.MaxInt64; {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		t0 := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		best = min(best, time.Since(t0))
	}
	return best, nil
}

func runBenchQuantize(c *cli.Context) error {
	if c.NArg() > 1 {
		return usageError("bench quantize takes at most one SRC argument, got %d", c.NArg())
	}
	ft, err := ggml.ParseFileType(c.String("type"))
	if err != nil {
		return usageError("--type: %v", err)
	}
	threads, err := workers(c)
	if err != nil {
		return err
	}
	if err := checkImatrix(ft, nil, false); err != nil {
		return err
	}
	rounds := c.Int("rounds")
	if rounds < 1 {
		return usageError("--rounds must be positive")
	}
	path := c.Args().First()
	w := c.App.Writer
	if path == "" {
		dir, err := os.MkdirTemp("", "mxq-bench-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "model")
		if err := writeBenchModel(c.Context, w, path, c.String("meta"), c.Bool("full-size-sparse")); err != nil {
			return err
		}
	}
	src, err := convert.OpenSource(path)
	if err != nil {
		return err
	}
	defer src.Close()
	p, err := convert.PlanGGUF(src, convert.GGUFOptions{FileType: ft, Workers: threads})
	if err != nil {
		return err
	}
	r := p.Report("")
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	mb := float64(r.Params) * 4 / 1e6
	// Wall-clock and CPU times are kept apart, each the best of the
	// rounds: on a shared machine CPU time is the steadier of the two.
	pipe := benchTimes{wall: math.MaxInt64, cpu: math.MaxInt64}
	kern := pipe
	profile := c.String("cpuprofile")
	for round := range rounds {
		stopProfile, err := startCPUProfile(profile)
		if err != nil {
			return err
		}
		profile = ""
		c0, t0 := processCPU(), time.Now()
		err = p.Run(c.Context, convert.Discard{})
		el, cpu := time.Since(t0), processCPU()-c0
		if perr := stopProfile(); err == nil {
			err = perr
		}
		if err != nil {
			return err
		}
		pipe.best(el, cpu)
		fmt.Fprintf(w, "%s → %s: %s parameters in %.2f s (%.2f CPU-s) with %d workers: %.1f M weights/s, %.0f MB/s of float32 input (%s per CPU-s); output %.2f GB; peak RSS %s\n",
			path, ft, strconv.FormatInt(r.Params, 10), el.Seconds(), cpu.Seconds(), threads, float64(r.Params)/el.Seconds()/1e6,
			mb/el.Seconds(), ratio(mb, cpu.Seconds(), 1), float64(p.Size())/1e9, peakRSS())
		if !c.Bool("kernels") {
			continue
		}
		kt, err := p.BenchKernels(c.Context, processCPU)
		if err != nil {
			return err
		}
		if kt.Elements != r.Params {
			return fmt.Errorf("bench: the quantizers alone saw %d values, the pipeline %d", kt.Elements, r.Params)
		}
		kern.best(kt.Wall, kt.CPU)
		fmt.Fprintf(w, "  the quantizers alone (same chunks, types and %d workers): %.2f s (%.2f CPU-s): %.0f MB/s (%s per CPU-s)\n",
			threads, kt.Wall.Seconds(), kt.CPU.Seconds(), mb/kt.Wall.Seconds(), ratio(mb, kt.CPU.Seconds(), 1))
		if round == rounds-1 {
			fmt.Fprintf(w, "pipeline / quantizers alone, best of %d: %s%% by wall clock, %s%% by CPU time\n",
				rounds, ratio(kern.wall.Seconds(), pipe.wall.Seconds(), 100), ratio(kern.cpu.Seconds(), pipe.cpu.Seconds(), 100))
		}
	}
	return nil
}

// ratio formats scale·a/b, or "-" when b is not positive (no CPU clock).
func ratio(a, b, scale float64) string {
	if b <= 0 || a <= 0 {
		return "-"
	}
	return strconv.FormatFloat(scale*a/b, 'f', 1, 64)
}

// benchTimes is the best wall-clock and the best CPU time of several runs.
type benchTimes struct{ wall, cpu time.Duration }

func (b *benchTimes) best(wall, cpu time.Duration) {
	b.wall, b.cpu = min(b.wall, wall), min(b.cpu, cpu)
}

// startCPUProfile starts profiling into path (nothing when path is empty) and
// returns the function that stops it and closes the file.
func startCPUProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

func writeBenchModel(ctx context.Context, w io.Writer, dir, meta string, sparse bool) error {
	if !sparse {
		fmt.Fprintf(w, "writing a synthetic full-width Mixtral layer to %s ...\n", dir)
		return synth.Write(ctx, dir, synth.FullWidthLayer, meta, 1)
	}
	fmt.Fprintf(w, "writing the full-size Mixtral-8x7B checkpoint as sparse files to %s ...\n", dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := fixture.WriteSparseMixtral(dir, filepath.Join(meta, "model.safetensors.index.json"), filepath.Join(meta, "config.json")); err != nil {
		return err
	}
	for _, name := range []string{"tokenizer.model", "tokenizer_config.json"} {
		data, err := os.ReadFile(filepath.Join(meta, name))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// peakRSS reads the process's high-water resident set size (Linux).
func peakRSS() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
