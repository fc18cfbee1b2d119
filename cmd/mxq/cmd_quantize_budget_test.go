package main

import (
	"compress/gzip"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/internal/fixture"
)

func TestBudgetUsageErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.gguf")
	q := func(args ...string) []string { return append([]string{"quantize", tiny, "-o", out}, args...) }
	for _, tt := range []struct {
		name string
		args []string
		msg  string
	}{
		{"negative size", q("--target-size", "-5MB"), "--target-size"},
		{"malformed size", q("--target-size", "three megabytes"), "--target-size"},
		{"below the smallest file", q("--target-size", "1MB"), "below the smallest possible file"},
		{"above F16", q("--target-size", "1GB"), "above the F16 size"},
		{"zero bpw", q("--target-bpw", "0"), "--target-bpw"},
		{"bpw above F16", q("--target-bpw", "17"), "--target-bpw"},
		{"two budgets", q("--target-size", "3MB", "--target-bpw", "4"), "one of"},
		{"budget and type", q("--target-size", "3MB", "--type", "Q4_K_M"), "--type cannot be combined"},
		{"unknown ladder type", q("--target-size", "3MB", "--ladder", "Q4_K,Q9_9"), "--ladder"},
		{"intermediate ladder type", q("--target-size", "3MB", "--ladder", "Q8_K"), "--ladder"},
		{"ladder alone", q("--bits", "4", "--ladder", "Q4_K"), "needs a budget"},
		{"IQ2_XXS without imatrix", q("--target-size", "3MB", "--ladder", "Q4_K,IQ2_XXS"), "IQ2_XXS needs an importance matrix"},
		{"IQ2_XS without imatrix", q("--target-size", "3MB", "--ladder", "IQ2_XS,Q4_K"), "IQ2_XS needs an importance matrix"},
		{"IQ1_S without imatrix", q("--target-size", "3MB", "--ladder", "Q2_K,IQ1_S"), "IQ1_S needs an importance matrix"},
		{"zero GPU", q("--fit", "0"), "--fit"},
		{"zero context", q("--fit", "24", "--ctx", "0"), "--ctx"},
		{"GPU too small", q("--fit", "0.001"), "below the smallest possible file"},
		{"safetensors", []string{"quantize", tiny, "-o", filepath.Join(dir, "st"), "--format", "safetensors", "--bits", "4", "--target-size", "3MB"}, "GGUF"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.msg) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitUsage, tt.msg)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("an output was written")
			}
		})
	}
}

var planFileBytes = regexp.MustCompile(`file (\d+) bytes`)

// On the full-size Mixtral-8x7B layout (sparse files), a 22 GB budget is
// planned from shapes alone, says its damage is predicted, and leaves room
// for an 8k-token KV cache on a 24 GB GPU.
func TestBudgetFullSizeDryRun(t *testing.T) {
	dir := t.TempDir()
	meta := "../../testdata/mixtral-8x7b-meta"
	if err := fixture.WriteSparseMixtral(dir, filepath.Join(meta, "model.safetensors.index.json"), filepath.Join(meta, "config.json")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tokenizer.model", "tokenizer_config.json"} {
		data, err := os.ReadFile(filepath.Join(meta, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "m.gguf")
	code, stdout, stderr := runCLI(t, "quantize", dir, "--dry-run", "--target-size", "22GB", "-o", out)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	m := planFileBytes.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no file size in\n%s", stdout)
	}
	size, _ := strconv.ParseInt(m[1], 10, 64)
	if size > 22e9 || size < 21.9e9 {
		t.Errorf("planned file %d bytes for a 22 GB budget", size)
	}
	for _, want := range []string{"PREDICTED, not measured", "a 8192-token cache (1.07 GB) fits", "blk.31.ffn_down_exps.weight"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, line := range strings.Split(stdout, "\n") {
		if f := strings.Fields(line); len(f) > 1 && (strings.Contains(f[0], "norm.weight") || strings.Contains(f[0], "ffn_gate_inp")) && f[1] != "F32" {
			t.Errorf("not kept F32: %s", line)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the dry run wrote a file")
	}
}

// evalTokens are tokens used neither for calibration nor for measuring the
// role sensitivities: the reference prompt, then seeded random ids.
func evalTokens(t *testing.T) string {
	f, err := os.Open("../../testdata/tiny-mixtral-reference.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		InputIDs []int `json:"input_ids"`
	}
	if err := json.NewDecoder(zr).Decode(&ref); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(20261207, 1))
	ids := ref.InputIDs
	for len(ids) < 256 {
		ids = append(ids, 3+r.IntN(1021))
	}
	data, _ := json.Marshal(ids)
	path := filepath.Join(t.TempDir(), "ids.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type validation struct {
	Logits struct {
		KLD struct {
			Mean float64 `json:"mean"`
		} `json:"kld"`
		Top1 float64 `json:"top1_agreement"`
	} `json:"logits"`
	Routing []struct {
		Agreement float64 `json:"agreement"`
	} `json:"routing"`
}

func validateFile(t *testing.T, file, ids string) validation {
	t.Helper()
	code, stdout, stderr := runCLI(t, "validate", tiny, file, "--tokens", ids, "--json", "-q")
	if code != exitOK {
		t.Fatalf("validate %s: exit %d: %s", file, code, stderr)
	}
	var v validation
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// A planned file at the size of mxq's Q2_K file of tiny-mixtral is no
// larger, holds the planned types (norms and router F32), and is closer to
// the checkpoint than the preset on tokens not used to build the plan:
// lower KL divergence, higher top-1 and routing agreement.
func TestBudgetBeatsPreset(t *testing.T) {
	if testing.Short() {
		t.Skip("quantizes and validates tiny-mixtral twice")
	}
	dir := t.TempDir()
	preset := filepath.Join(dir, "preset.gguf")
	if code, _, stderr := runCLI(t, "quantize", tiny, "--type", "Q2_K", "-o", preset, "-q"); code != exitOK {
		t.Fatal(stderr)
	}
	st, err := os.Stat(preset)
	if err != nil {
		t.Fatal(err)
	}
	planned := filepath.Join(dir, "planned.gguf")
	code, stdout, stderr := runCLI(t, "quantize", tiny, "--target-size", strconv.FormatInt(st.Size(), 10), "-o", planned, "-q")
	if code != exitOK {
		t.Fatal(stderr)
	}
	if !strings.Contains(stdout, "damage measured") {
		t.Error("a real run should measure the damage")
	}
	pst, err := os.Stat(planned)
	if err != nil {
		t.Fatal(err)
	}
	if pst.Size() > st.Size() {
		t.Errorf("planned file %d bytes, over the %d-byte budget", pst.Size(), st.Size())
	}
	f, err := gguf.Open(planned)
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range f.Tensors {
		if (strings.Contains(ti.Name, "norm") || strings.Contains(ti.Name, "ffn_gate_inp")) && ti.Type.String() != "F32" {
			t.Errorf("%s stored as %v", ti.Name, ti.Type)
		}
	}
	f.Close()
	ids := evalTokens(t)
	p, c := validateFile(t, preset, ids), validateFile(t, planned, ids)
	t.Logf("Q2_K preset: KL %.5f top-1 %.3f; planned: KL %.5f top-1 %.3f", p.Logits.KLD.Mean, p.Logits.Top1, c.Logits.KLD.Mean, c.Logits.Top1)
	if !(c.Logits.KLD.Mean < p.Logits.KLD.Mean) || !(c.Logits.Top1 > p.Logits.Top1) {
		t.Errorf("planned KL %v top-1 %v, preset KL %v top-1 %v", c.Logits.KLD.Mean, c.Logits.Top1, p.Logits.KLD.Mean, p.Logits.Top1)
	}
	for l := range p.Routing {
		if c.Routing[l].Agreement < p.Routing[l].Agreement {
			t.Errorf("layer %d routing agreement %v, preset %v", l, c.Routing[l].Agreement, p.Routing[l].Agreement)
		}
	}
}

// --leave-output-tensor keeps output.weight out of the plan, and the file
// still meets the budget.
func TestBudgetLeaveOutput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.gguf")
	code, stdout, stderr := runCLI(t, "quantize", tiny, "--target-size", "3500000", "--leave-output-tensor", "--dry-run", "--json", "-o", out)
	if code != exitOK {
		t.Fatal(stderr)
	}
	var r struct {
		OutputBytes int64 `json:"output_bytes"`
		Tensors     []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"tensors"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r.OutputBytes > 3500000 || r.OutputBytes < 3400000 {
		t.Errorf("file %d bytes for a 3,500,000-byte budget", r.OutputBytes)
	}
	for _, tt := range r.Tensors {
		if tt.Name == "output.weight" && tt.Type != "F32" {
			t.Errorf("output.weight planned as %s", tt.Type)
		}
	}
}

// --target-size reads --imatrix: at the size of the IQ3_XXS file made with
// the imatrix, a ladder with IQ2_XXS (which cannot be made without one) is
// planned, written within the budget, and validates to a finite KL.
func TestBudgetWithImatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("quantizes tiny-mixtral twice")
	}
	dir := t.TempDir()
	im := filepath.Join(llamaImatrix, "tiny-mixtral.imatrix.gguf")
	preset := filepath.Join(dir, "iq3_xxs.gguf")
	if code, _, stderr := runCLI(t, "quantize", tiny, "--type", "IQ3_XXS", "--imatrix", im, "-o", preset, "-q"); code != exitOK {
		t.Fatal(stderr)
	}
	st, err := os.Stat(preset)
	if err != nil {
		t.Fatal(err)
	}
	ladder := "IQ2_XXS,IQ2_XS,IQ3_XXS,Q4_K,Q6_K"
	planned := filepath.Join(dir, "planned.gguf")
	budgetArgs := []string{"quantize", tiny, "--target-size", strconv.FormatInt(st.Size(), 10), "--ladder", ladder, "-o", planned, "-q"}
	if code, _, stderr := runCLI(t, budgetArgs...); code != exitUsage || !strings.Contains(stderr, "IQ2_XXS needs an importance matrix") {
		t.Fatalf("without --imatrix: exit %d, %s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, append(budgetArgs, "--imatrix", im)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "damage measured") {
		t.Error("a real run should measure the damage")
	}
	pst, err := os.Stat(planned)
	if err != nil {
		t.Fatal(err)
	}
	if pst.Size() > st.Size() {
		t.Errorf("planned file %d bytes, over the %d-byte budget", pst.Size(), st.Size())
	}
	f, err := gguf.Open(planned)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, ti := range f.Tensors {
		types[ti.Type.String()]++
	}
	f.Close()
	for typ := range types {
		if typ != "F32" && !strings.Contains(","+ladder+",", ","+typ+",") {
			t.Errorf("type %s is not on the ladder %s", typ, ladder)
		}
	}
	v := validateFile(t, planned, evalTokens(t))
	if kl := v.Logits.KLD.Mean; !(kl > 0 && kl < 1) {
		t.Errorf("KL %v", kl)
	}
	t.Logf("types %v, KL %.5f top-1 %.3f", types, v.Logits.KLD.Mean, v.Logits.Top1)
}
