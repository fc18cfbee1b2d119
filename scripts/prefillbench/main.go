// Command prefillbench measures the forward pass's prefill throughput.
//
//	prefillbench write DIR                        synthetic full-width Mixtral layer, vocabulary 1024
//	prefillbench run [-tokens N] [-threads N] [-runs N] [-arithmetic float32|bf16] MODEL
//
// run feeds N seeded random token ids (the same ids as
// compat/llamacpp/prefill.mjs) through one forward pass over MODEL, which
// is anything `mxq validate` opens, and prints tokens/s, reading and
// decoding the weights included (with -in-memory, also the first layer's
// products alone, its weights held in float32).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mxq-dev/mxq/forward"
	"github.com/mxq-dev/mxq/internal/synth"
	"github.com/mxq-dev/mxq/validate"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "write":
		if len(os.Args) != 3 {
			usage()
		}
		cfg := synth.FullWidthLayer
		cfg.Vocab = 1024 // tiny-mixtral's tokenizer
		err = synth.Write(context.Background(), os.Args[2], cfg, "testdata/tiny-mixtral", 1)
	case "run":
		err = run(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "prefillbench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: prefillbench write DIR | prefillbench run [-tokens N] [-threads N] [-runs N] [-arithmetic float32|bf16] MODEL")
	os.Exit(2)
}

// Tokens returns n ids in [3, vocab) from the generator prefill.mjs uses
// too (a 32-bit LCG), so both programs see the same prompt.
func Tokens(n, vocab int) []int {
	ids := make([]int, n)
	s := uint32(12345)
	for i := range ids {
		s = s*1664525 + 1013904223
		ids[i] = 3 + int(s>>8)%(vocab-3)
	}
	return ids
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	tokens := fs.Int("tokens", 512, "prompt length")
	threads := fs.Int("threads", 0, "workers (0: all cores)")
	runs := fs.Int("runs", 1, "repetitions; the best is printed")
	profile := fs.String("cpuprofile", "", "write a CPU profile to `FILE`")
	arithName := fs.String("arithmetic", "float32", "`MODE` of the products with the weights: float32 or bf16")
	inMemory := fs.Bool("in-memory", false, "also time layer 0 held in float32 (needs its whole size in memory: 5.8 GB for Mixtral)")
	fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	arith, err := forward.ParseArithmetic(*arithName)
	if err != nil {
		return err
	}
	m, err := validate.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer m.Close()
	ids := Tokens(*tokens, m.Source.Dims().Vocab)
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	best, bestCPU, bestMem := time.Duration(0), time.Duration(0), time.Duration(0)
	for range *runs {
		t0, c0 := time.Now(), cpuTime()
		if _, err := forward.RunStreamed(context.Background(), m.Source, ids, forward.StreamOptions{Options: forward.Options{Workers: *threads, Arithmetic: arith}}); err != nil {
			return err
		}
		if el := time.Since(t0); best == 0 || el < best {
			best, bestCPU = el, cpuTime()-c0
		}
	}
	fmt.Printf("mxq %s, %s, every token's logits: %d tokens, %d threads (0: all): %.1f tokens/s (%.2f s; %.2f s of CPU: %.1f tokens per CPU-second), weights read and decoded as the pass goes; peak RSS %s\n",
		fs.Arg(0), arith, len(ids), *threads, float64(len(ids))/best.Seconds(), best.Seconds(),
		bestCPU.Seconds(), float64(len(ids))/bestCPU.Seconds(), peakRSS())
	if !*inMemory {
		return nil
	}
	lw, err := m.Source.Layer(0)
	if err != nil {
		return err
	}
	d := m.Source.Dims()
	h := make([][]float32, len(ids))
	for t := range h {
		h[t] = make([]float32, d.Hidden)
		for i := range h[t] {
			h[t][i] = float32((t*31+i*17)%97-48) / 48
		}
	}
	for range *runs {
		t0 := time.Now()
		if _, err := forward.DecoderLayer(lw, d, h, *threads); err != nil {
			return err
		}
		if el := time.Since(t0); bestMem == 0 || el < bestMem {
			bestMem = el
		}
	}
	fmt.Printf("mxq layer 0 held in float32: %.1f tokens/s (%.2f s)\n", float64(len(ids))/bestMem.Seconds(), bestMem.Seconds())
	return nil
}

// cpuTime is the CPU time the process has used (user and system).
func cpuTime() time.Duration {
	var u syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &u) != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// peakRSS reads the process's high-water resident set size (Linux).
func peakRSS() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return fmt.Sprintf("%.2f GB", float64(kb)/1e6)
		}
	}
	return "unknown"
}
