package imatrix

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/internal/synth"
	"github.com/mxq-dev/mxq/internal/testutil"
	"github.com/mxq-dev/mxq/validate"
)

// benchCompute runs Compute over tokens random ids of src in chunks of
// chunkSize and reports tokens/s and the process's peak RSS.
func benchCompute(b *testing.B, path string, tokens, chunkSize int) {
	m, err := validate.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	r := rand.New(rand.NewPCG(1, 2))
	ids := make([]int, tokens)
	for i := range ids {
		ids[i] = 3 + r.IntN(m.Source.Dims().Vocab-3)
	}
	for b.Loop() {
		if _, _, err := Compute(context.Background(), m.Source, ids, ComputeOptions{ChunkSize: chunkSize, BOS: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(tokens*b.N)/b.Elapsed().Seconds(), "tokens/s")
	b.ReportMetric(float64(peakRSSKiB())/1024, "peak-RSS-MiB")
}

// BenchmarkComputeTiny is `mxq imatrix` on tiny-mixtral: 512 tokens in
// chunks of 128.
func BenchmarkComputeTiny(b *testing.B) {
	benchCompute(b, testutil.Testdata(b, "tiny-mixtral"), 512, 128)
}

// BenchmarkComputeFullWidthLayer runs one synthetic Mixtral-8x7B layer
// (hidden 4096, 8 experts of 14336, vocabulary 32000; BF16 safetensors, 3.4
// GB written to a temporary folder first) over 256 tokens in chunks of 128.
func BenchmarkComputeFullWidthLayer(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "layer")
	if err := synth.Write(context.Background(), dir, synth.FullWidthLayer, testutil.Testdata(b, "mixtral-8x7b-meta"), 1); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	benchCompute(b, dir, 256, 128)
}

// peakRSSKiB reads the process's high-water resident set size (Linux; 0
// elsewhere).
func peakRSSKiB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
