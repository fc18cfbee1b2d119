package main

import (
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
