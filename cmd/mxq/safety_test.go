package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mxq-dev/mxq/internal/testutil"
)

// tree maps every path under root to its kind and content digest.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(path)
			out[rel] = "link " + target
		case d.IsDir():
			out[rel] = "dir"
		default:
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			out[rel] = hex.EncodeToString(sum[:])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRefusedPaths: every output or report path mxq must not write is
// refused with exit 2 before anything is read, with --dry-run too, and
// not one file under the folder changes.
func TestRefusedPaths(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(root, "src")
	if err := os.Rename(testutil.CopyTiny(t), src); err != nil {
		t.Fatal(err)
	}
	gg := filepath.Join(root, "g", "m.gguf")
	if err := os.Mkdir(filepath.Dir(gg), 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "quantize", src, "-o", gg, "--bits", "8", "-q"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for path, data := range map[string]string{
		"models/notes.txt":         "my notes",
		"models/llama/config.json": "{}",
		"notes.gguf":               "not a model",
		"earlier.json":             `{"todo": []}`,
	} {
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	at := func(p string) string { return filepath.Join(root, p) }
	q4 := []string{"quantize", src, "--bits", "4"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		// --force replaces only an earlier output of the same kind.
		{"force over a folder of other things", append(q4, "--format", "safetensors", "-o", at("models"), "--force"), "holds llama, which is not a regular file"},
		{"force over a file that is not a GGUF", append(q4, "-o", at("notes.gguf"), "--force"), "not a GGUF file"},
		// Outputs equal to, inside or holding an input.
		{"GGUF over its input", []string{"quantize", gg, "-o", gg, "--bits", "4", "--allow-requantize", "--force"}, "is the input"},
		{"folder over its input", append(q4, "--format", "safetensors", "-o", src, "--force"), "is the input"},
		{"over a shard", append(q4, "--format", "safetensors", "-o", filepath.Join(src, "model-00001-of-00003.safetensors"), "--force"), "is the input"},
		{"inside the input", append(q4, "-o", filepath.Join(src, "q4.gguf")), "inside the input"},
		{"convert into the GGUF's folder", []string{"convert", gg, "-o", filepath.Dir(gg), "--force"}, "contains the input"},
		// The report: the rules of -o, and never the output.
		{"report over config.json", append(q4, "-o", at("x.gguf"), "--report", filepath.Join(src, "config.json")), "is the input"},
		{"report over config.json with force", append(q4, "-o", at("x.gguf"), "--report", filepath.Join(src, "config.json"), "--force"), "is the input"},
		{"report over the output", append(q4, "-o", at("x.gguf"), "--report", at("x.gguf")), "collides with --output"},
		{"report over an existing file", append(q4, "-o", at("x.gguf"), "--report", at("earlier.json")), "already exists"},
		{"report over a JSON that is not a report", append(q4, "-o", at("x.gguf"), "--report", at("earlier.json"), "--force"), "not an mxq report"},
		{"report folder missing", append(q4, "-o", at("x.gguf"), "--report", at("nowhere/r.json")), "report folder " + at("nowhere") + " does not exist"},
		{"convert report over the input", []string{"convert", gg, "-o", at("hf"), "--report", gg, "--force"}, "is the input"},
		// --dry-run checks what the run would.
		{"dry run, output folder missing", append(q4, "-o", at("nowhere/x.gguf"), "--dry-run"), "output folder " + at("nowhere") + " does not exist"},
		{"dry run, existing output", append(q4, "-o", gg, "--dry-run"), "already exists; pass --force"},
		{"dry run, report over config.json", append(q4, "-o", at("x.gguf"), "--dry-run", "--report", filepath.Join(src, "config.json")), "is the input"},
		{"dry run, over its input", append(q4, "--format", "safetensors", "-o", src, "--force", "--dry-run"), "is the input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tree(t, root)
			code, stdout, stderr := runCLI(t, slices.Clone(tc.args)...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want exit %d, one line mentioning %q", code, stderr, exitUsage, tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q", stdout)
			}
			if after := tree(t, root); !maps.Equal(before, after) {
				t.Errorf("the files changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// TestForceReplacesEarlierOutputs: --force replaces an earlier GGUF, its
// report and an earlier checkpoint folder, deleting them only once the
// new ones are in place; nothing is left beside them.
func TestForceReplacesEarlierOutputs(t *testing.T) {
	dir := t.TempDir()
	gg, rep, hf := filepath.Join(dir, "m.gguf"), filepath.Join(dir, "r.json"), filepath.Join(dir, "hf")
	for _, bits := range []string{"8", "4"} {
		code, _, stderr := runCLI(t, "quantize", tiny, "-o", gg, "--bits", bits, "--report", rep, "--force", "-q")
		if code != exitOK {
			t.Fatalf("--bits %s: exit %d: %s", bits, code, stderr)
		}
		code, _, stderr = runCLI(t, "quantize", tiny, "--format", "safetensors", "-o", hf, "--bits", bits, "--force", "-q")
		if code != exitOK {
			t.Fatalf("--bits %s: exit %d: %s", bits, code, stderr)
		}
	}
	var r struct{ Target string }
	data, err := os.ReadFile(rep)
	if err != nil || json.Unmarshal(data, &r) != nil || r.Target != "Q4_K_M" {
		t.Errorf("report %s: %v", data, err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"hf", "m.gguf", "r.json"}) {
		t.Errorf("the folder holds %v", names)
	}
}

// TestDryRunChecksLikeARun: the plan's text shows the memory report, and
// thresholds, which only a written output can breach, do not fail it.
func TestDryRunChecksLikeARun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.gguf")
	code, stdout, stderr := runCLI(t, "quantize", tiny, "-o", out, "--bits", "4", "--dry-run", "--min-cosine", "0.999", "--report", out+".json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"plan for", "MEMORY", "KV cache", "Expert offload", "checked when the output is written"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dry-run text has no %q", want)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 0 {
		t.Errorf("--dry-run wrote %v", entries)
	}
	for _, bad := range [][]string{{"--min-cosine", "99"}, {"--max-rel-error", "-1"}} {
		args := append([]string{"quantize", tiny, "-o", out, "--bits", "4", "--dry-run"}, bad...)
		if code, _, stderr := runCLI(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, stderr %q; want %d", bad, code, stderr, exitUsage)
		}
	}
}

// TestConcurrentRunsNeverReplace: two runs writing the same new output
// without --force cannot both succeed; the file that stays is the one the
// successful run wrote.
func TestConcurrentRunsNeverReplace(t *testing.T) {
	out := filepath.Join(t.TempDir(), "same.gguf")
	bits := []string{"8", "4"}
	codes := make([]int, len(bits))
	stdouts := make([]string, len(bits))
	var wg sync.WaitGroup
	for i, b := range bits {
		wg.Go(func() {
			codes[i], stdouts[i], _ = runCLI(t, "quantize", tiny, "-o", out, "--bits", b, "--json", "-q")
		})
	}
	wg.Wait()
	t.Logf("exit codes %v", codes)
	won := -1
	for i, code := range codes {
		if code == exitOK {
			if won >= 0 {
				t.Fatal("both runs succeeded: one replaced the other's output")
			}
			won = i
		}
	}
	if won < 0 {
		t.Fatalf("no run succeeded: exits %v", codes)
	}
	var r struct{ Files []struct{ SHA256 string } }
	if err := json.Unmarshal([]byte(stdouts[won]), &r); err != nil || len(r.Files) != 1 {
		t.Fatalf("report: %v", err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != r.Files[0].SHA256 {
		t.Error("the file is not the one the successful run wrote")
	}
}
