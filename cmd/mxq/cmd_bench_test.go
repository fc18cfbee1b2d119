package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// bench kernels --imatrix adds the weighted columns, with dashes for the
// types whose quantizer ignores importance weights.
func TestBenchKernelsImatrix(t *testing.T) {
	code, out, errOut := runCLI(t, "bench", "kernels", "--rows", "4", "--cols", "256", "--types", "Q8_0,Q4_K", "--min-time", "1ms", "--imatrix")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 {
		t.Fatalf("output:\n%s", out)
	}
	header := lines[len(lines)-3]
	if !strings.Contains(header, "imatrix 1 core MB/s") {
		t.Errorf("header %q lacks the imatrix columns", header)
	}
	q8, q4k := strings.Fields(lines[len(lines)-2]), strings.Fields(lines[len(lines)-1])
	if len(q8) != 6 || q8[0] != "Q8_0" || q8[4] != "-" || q8[5] != "-" {
		t.Errorf("Q8_0 row %q: want dashes in the imatrix columns", lines[len(lines)-2])
	}
	if len(q4k) != 6 || q4k[0] != "Q4_K" || q4k[4] == "-" || q4k[5] == "-" {
		t.Errorf("Q4_K row %q: want figures in the imatrix columns", lines[len(lines)-1])
	}

	code, out, _ = runCLI(t, "bench", "kernels", "--rows", "4", "--cols", "256", "--types", "Q8_0", "--min-time", "1ms")
	if code != 0 || strings.Contains(out, "imatrix") {
		t.Errorf("without --imatrix: exit %d, output\n%s", code, out)
	}
}

// bench kernels --compare runs the given ggml-bench for every type (and
// as many copies as cores for the all-cores column) and prints both
// figures and their ratio; a bad program or output is a clear error.
func TestBenchKernelsCompare(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "ggml-bench")
	// Reports 100 MB/s, or 50 with importance weights; checks its arguments.
	script := `#!/bin/sh
[ "$2" = 4 ] && [ "$3" = 256 ] || { echo "bad shape $2 $3" >&2; exit 2; }
if [ "$5" = imatrix ]; then echo "$1 imatrix 50.0 MB/s (best of 1, 0.010 s)"; else echo "$1 100.0 MB/s (best of 1, 0.010 s)"; fi
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "bench", "kernels", "--rows", "4", "--cols", "256", "--types", "Q8_0,Q4_K",
		"--min-time", "1ms", "--rounds", "2", "--imatrix", "--compare", fake)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "machine: ") || !strings.Contains(out, "load average at start: ") {
		t.Errorf("output does not name the machine and its load:\n%s", out)
	}
	cores := runtime.GOMAXPROCS(0)
	rows := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 7 && (f[0] == "Q8_0" || f[0] == "Q4_K") {
			name := f[0]
			if f[1] == "imatrix" {
				name, f = name+" imatrix", f[1:]
			}
			rows[name] = f[1:]
		}
	}
	for name, ggml := range map[string]float64{"Q8_0": 100, "Q4_K": 100, "Q4_K imatrix": 50} {
		f, ok := rows[name]
		if !ok || len(f) != 8 {
			t.Fatalf("no row for %s in\n%s", name, out)
		}
		num := func(s string) float64 {
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, "×"), 64)
			if err != nil {
				t.Fatalf("%s: %q is not a number", name, s)
			}
			return v
		}
		if num(f[1]) != ggml || num(f[4]) != ggml*float64(cores) {
			t.Errorf("%s: ggml columns %s and %s, want %g and %g", name, f[1], f[4], ggml, ggml*float64(cores))
		}
		if r := num(f[0]) / ggml; math.Abs(r-num(f[2])) > 0.01+r*0.01+0.5/ggml {
			t.Errorf("%s: ratio %s, want mxq/ggml = %.2f", name, f[2], r)
		}
		// The MB/s columns are rounded to whole numbers, so their ratio
		// is only known to within those roundings.
		one, all := num(f[0]), num(f[3])
		if r := all / one; math.Abs(r-num(f[6])) > 0.01+r*(0.5/one+0.5/all) {
			t.Errorf("%s: mxq scaling %s, want %.2f from %s and %s MB/s", name, f[6], r, f[0], f[3])
		}
		if num(f[7]) != float64(cores) {
			t.Errorf("%s: ggml scaling %s, want %d", name, f[7], cores)
		}
	}
	if _, ok := rows["Q8_0 imatrix"]; ok {
		t.Error("Q8_0 ignores importance weights but has an imatrix row")
	}

	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho nothing useful\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI(t, "bench", "kernels", "--rows", "4", "--cols", "256", "--types", "Q8_0", "--min-time", "1ms", "--rounds", "1", "--compare", fake)
	if code == 0 || !strings.Contains(errOut, "no MB/s figure") || !strings.Contains(errOut, fake) {
		t.Errorf("unreadable ggml-bench output: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCLI(t, "bench", "kernels", "--rows", "4", "--cols", "256", "--types", "Q8_0", "--compare", filepath.Join(dir, "missing"))
	if code == 0 || !strings.Contains(errOut, "missing") {
		t.Errorf("missing ggml-bench: exit %d, stderr %q", code, errOut)
	}
}

// bench quantize --cpuprofile writes a profile of the run to a new file
// and refuses one that exists, leaving it as it was.
func TestBenchQuantizeCPUProfile(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "cpu.prof")
	code, out, errOut := runCLI(t, "bench", "quantize", "--type", "Q8_0", "--cpuprofile", prof, tiny)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"M weights/s", "the quantizers alone (same chunks, types and", "pipeline / quantizers alone, best of 1: "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	data, err := os.ReadFile(prof)
	if err != nil || len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		t.Fatalf("profile: %d bytes, %v; want a gzipped pprof profile", len(data), err)
	}
	code, _, errOut = runCLI(t, "bench", "quantize", "--type", "Q8_0", "--cpuprofile", prof, tiny)
	if code == 0 || !strings.Contains(errOut, "--cpuprofile") {
		t.Errorf("existing profile file: exit %d, stderr %q", code, errOut)
	}
	if again, _ := os.ReadFile(prof); string(again) != string(data) {
		t.Error("the existing profile file was changed")
	}
}
