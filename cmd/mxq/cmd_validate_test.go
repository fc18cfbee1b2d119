package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/validate"
)

func validateCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCLI(t, append([]string{"validate"}, args...)...)
}

func TestValidateIdentical(t *testing.T) {
	ids := filepath.Join(t.TempDir(), "ids.txt")
	if err := os.WriteFile(ids, []byte("1 567 861 316 349 267 298\n868 341"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := validateCLI(t, tiny, tiny, "--tokens", ids, "--json",
		"--max-kld", "0", "--min-top1", "1", "--min-routing-agreement", "1")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r validate.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if r.Mode != "end-to-end" || r.Tokens != 9 || r.Logits.KLD.Max != 0 || r.Logits.Top1Agreement != 1 || len(r.Routing) != 2 || r.Routing[1].Agreement != 1 {
		t.Errorf("report %+v", r)
	}
	if r.Thresholds.MaxKLD == nil || *r.Thresholds.MaxKLD != 0 || len(r.Breaches) != 0 {
		t.Errorf("thresholds %+v, breaches %v", r.Thresholds, r.Breaches)
	}
}

// TestValidateThresholds quantizes the tiny model to 4 bits with the CLI
// and expects exit code 3, with the full report still printed.
func TestValidateThresholds(t *testing.T) {
	q4 := filepath.Join(t.TempDir(), "q4.gguf")
	if code, _, stderr := runCLI(t, "quantize", tiny, "-o", q4, "--bits", "4", "--quiet"); code != exitOK {
		t.Fatalf("quantize: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := validateCLI(t, tiny, q4, "--prompt", "The router picks two of the eight experts for every token.",
		"--max-kld", "1e-6", "--min-routing-agreement", "0.5")
	if code != exitThresholds {
		t.Fatalf("exit %d, want %d: %s", code, exitThresholds, stderr)
	}
	for _, want := range []string{"KL(reference ‖ candidate)", "top-1 agreement", "perplexity", "expert routing per layer", "thresholds BREACHED", "--max-kld"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "1 validation thresholds breached") {
		t.Errorf("stderr: %s", stderr)
	}
	// The same comparison within generous limits passes.
	if code, _, stderr := validateCLI(t, tiny, q4, "--max-kld", "1", "--min-top1", "0.3"); code != exitOK {
		t.Errorf("generous thresholds: exit %d: %s", code, stderr)
	}
}

// TestValidateArithmetic compares the tiny model with its 4-bit version in
// both arithmetics: each report names its arithmetic, and a model compared
// with itself in bf16 still agrees exactly.
func TestValidateArithmetic(t *testing.T) {
	q4 := filepath.Join(t.TempDir(), "q4.gguf")
	if code, _, stderr := runCLI(t, "quantize", tiny, "-o", q4, "--bits", "4", "--quiet"); code != exitOK {
		t.Fatalf("quantize: exit %d: %s", code, stderr)
	}
	kl := map[string]float64{}
	for _, a := range []string{"float32", "bf16"} {
		code, stdout, stderr := validateCLI(t, tiny, q4, "--arithmetic", a, "--json")
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s", a, code, stderr)
		}
		var r validate.Report
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatal(err)
		}
		if r.Arithmetic != a || r.Logits == nil || !(r.Logits.KLD.Mean > 0) {
			t.Errorf("%s: report %+v", a, r)
		}
		kl[a] = r.Logits.KLD.Mean
		code, stdout, stderr = validateCLI(t, tiny, tiny, "--arithmetic", a, "--max-kld", "0")
		if code != exitOK || !strings.Contains(stdout, "arithmetic "+a) {
			t.Errorf("%s, model against itself: exit %d: %s%s", a, code, stdout, stderr)
		}
	}
	t.Logf("mean KL of the 4-bit model: float32 %.6g, bf16 %.6g", kl["float32"], kl["bf16"])
	code, stdout, stderr := validateCLI(t, "--layer-wise", tiny, q4, "--arithmetic", "bf16", "--states", "random", "--samples", "8", "--json")
	if code != exitOK || !strings.Contains(stdout, `"arithmetic": "bf16"`) {
		t.Errorf("layer-wise bf16: exit %d: %s%s", code, stdout, stderr)
	}
}

func TestValidateLayerWise(t *testing.T) {
	code, stdout, stderr := validateCLI(t, "--layer-wise", tiny, tiny, "--layers", "1", "--states", "random", "--samples", "16", "--seed", "5", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r validate.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r.Mode != "layer-wise" || r.States.Source != "random" || r.States.Seed != 5 || r.Tokens != 16 || len(r.Layers) != 1 || r.Layers[0].Layer != 1 || r.Layers[0].RelError != 0 {
		t.Errorf("report %+v", r)
	}
	code, stdout, stderr = validateCLI(t, tiny, tiny, "--layer-wise", "--max-moe-error", "0")
	if code != exitOK || !strings.Contains(stdout, "MoE blocks on the same inputs") || !strings.Contains(stdout, "the reference model's own") {
		t.Errorf("exit %d: %s%s", code, stdout, stderr)
	}
}

func TestValidateUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{tiny}, "REFERENCE and CANDIDATE"},
		{[]string{tiny, tiny, "--prompt", "a", "--tokens", "x"}, "at most one"},
		{[]string{tiny, tiny, "--layers", "0"}, "--layers needs --layer-wise"},
		{[]string{tiny, tiny, "--layer-wise", "--max-kld", "0.1"}, "no logits"},
		{[]string{tiny, tiny, "--max-moe-error", "0.1"}, "needs --layer-wise"},
		{[]string{tiny, tiny, "--layer-wise", "--layers", "0,x"}, `"x" is not a layer`},
		{[]string{tiny, tiny, "--layer-wise", "--states", "cached"}, "--states"},
		{[]string{tiny, tiny, "--prompt", ""}, "empty"},
		{[]string{tiny, tiny, "--arithmetic", "fp16"}, `--arithmetic must be float32 or bf16, got "fp16"`},
	} {
		code, _, stderr := validateCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.msg) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want %d mentioning %q on one line", tc.args, code, stderr, exitUsage, tc.msg)
		}
	}
	code, _, stderr := validateCLI(t, tiny, filepath.Join(t.TempDir(), "missing.gguf"))
	if code != exitError || !strings.Contains(stderr, "missing.gguf") {
		t.Errorf("missing candidate: exit %d, %s", code, stderr)
	}
	code, _, stderr = validateCLI(t, tiny, tiny, "--layer-wise", "--layers", "2")
	if code != exitError || !strings.Contains(stderr, "layers 0..1") {
		t.Errorf("layer out of range: exit %d, %s", code, stderr)
	}
}

func TestParseLayers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{{"all", "[]"}, {"", "[]"}, {"0,15,31", "[0 15 31]"}, {"0-3, 8", "[0 1 2 3 8]"}} {
		got, err := parseLayers(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if s := fmt.Sprint(got); s != tc.want {
			t.Errorf("%q: %v, want %s", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"-1", "3-1", "a", "1,,2"} {
		if _, err := parseLayers(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
