package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const tiny = "../../testdata/tiny-mixtral"

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"mxq"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "exists.gguf")
	if err := os.WriteFile(existing, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no argument", []string{"inspect"}, exitUsage, "one PATH"},
		{"unknown flag", []string{"inspect", "--nope", tiny}, exitUsage, "nope"},
		{"bad bits", []string{"quantize", tiny, "-o", filepath.Join(dir, "x.gguf"), "--bits", "3"}, exitUsage, "--bits"},
		{"bits and type disagree", []string{"quantize", tiny, "-o", filepath.Join(dir, "x.gguf"), "--bits", "4", "--type", "Q8_0"}, exitUsage, "4-bit"},
		{"bad tensor-type", []string{"quantize", tiny, "-o", filepath.Join(dir, "x.gguf"), "--bits", "4", "--tensor-type", "attn_k"}, exitUsage, "REGEX=TYPE"},
		{"missing input", []string{"inspect", filepath.Join(dir, "nope")}, exitError, "nope"},
		{"existing output", []string{"quantize", tiny, "-o", existing, "--bits", "8"}, exitUsage, "--force"},
		{"thresholds", []string{"quantize", tiny, "-o", filepath.Join(dir, "q4.gguf"), "--bits", "4", "--max-rel-error", "0.01", "--report", filepath.Join(dir, "r.json")}, exitThresholds, "thresholds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, stderr)
			}
			if !strings.Contains(stderr, tc.msg) {
				t.Fatalf("stderr %q does not mention %q", stderr, tc.msg)
			}
		})
	}
	if data, err := os.ReadFile(existing); err != nil || string(data) != "keep" {
		t.Fatal("an existing output was touched without --force")
	}
	// A threshold breach still leaves the output and a complete report.
	if _, err := os.Stat(filepath.Join(dir, "q4.gguf")); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Breaches []struct{ Tensor string } `json:"breaches"`
		Files    []struct{ SHA256 string } `json:"files"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "r.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil || len(rep.Breaches) == 0 || len(rep.Files) != 1 || len(rep.Files[0].SHA256) != 64 {
		t.Fatalf("report %s: %v", data, err)
	}
}

// Flags may follow the positional argument, as in the documented
// `mxq quantize SRC -o OUT --bits 8`, and --json gives parseable output.
func TestQuantizeJSON(t *testing.T) {
	out := filepath.Join(t.TempDir(), "q8.gguf")
	code, stdout, stderr := runCLI(t, "quantize", tiny, "-o", out, "--bits", "8", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		Target  string `json:"target"`
		Params  int64  `json:"params"`
		Tensors []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"tensors"`
		VRAM json.RawMessage `json:"vram"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if rep.Target != "Q8_0" || rep.Params != 7_214_336 || len(rep.Tensors) != 23 || len(rep.VRAM) < 10 {
		t.Fatalf("unexpected report: target %s params %d tensors %d vram %d bytes", rep.Target, rep.Params, len(rep.Tensors), len(rep.VRAM))
	}
	if stderr != "" {
		t.Fatalf("unexpected stderr (no progress bar off a terminal): %q", stderr)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	out := filepath.Join(t.TempDir(), "plan.gguf")
	code, stdout, stderr := runCLI(t, "quantize", tiny, "-o", out, "--type", "Q5_K_M", "--dry-run")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "plan for") || !strings.Contains(stdout, "Q6_K") {
		t.Fatalf("dry run output:\n%s", stdout)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("--dry-run wrote the output")
	}
}

func TestInspectJSON(t *testing.T) {
	code, stdout, stderr := runCLI(t, "inspect", tiny, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		Params struct {
			Total int64 `json:"total"`
		} `json:"params"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Params.Total != 7_214_336 {
		t.Fatalf("params %d, err %v", rep.Params.Total, err)
	}
}
