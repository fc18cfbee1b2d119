//go:build unix

package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestOutputMode: the GGUF, the report and the checkpoint folder's files
// are created 0666 less the umask, as any new file is.
func TestOutputMode(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	gg, rep, hf := filepath.Join(dir, "m.gguf"), filepath.Join(dir, "r.json"), filepath.Join(dir, "hf")
	if code, _, stderr := runCLI(t, "quantize", tiny, "-o", gg, "--bits", "8", "--report", rep, "-q"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "quantize", tiny, "--format", "safetensors", "-o", hf, "--bits", "16", "-q"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := map[string]os.FileMode{gg: 0o644, rep: 0o644, hf: fs.ModeDir | 0o755, filepath.Join(hf, "model.safetensors"): 0o644, filepath.Join(hf, "config.json"): 0o644}
	for path, mode := range want {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), mode)
		}
	}
}

// TestImatrixOutputMode: an importance matrix is created 0666 less the
// umask too, and --force replaces an earlier one.
func TestImatrixOutputMode(t *testing.T) {
	old := syscall.Umask(0o002)
	defer syscall.Umask(old)
	dir := t.TempDir()
	ids := filepath.Join(dir, "ids.txt")
	if err := os.WriteFile(ids, []byte("1 5 9 13 17 21 25 29 33 37 41 45 49 53 57 61"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "m.imatrix.gguf")
	for _, args := range [][]string{
		{"imatrix", tiny, "-o", out, "--tokens", ids, "--chunk-size", "16", "-q"},
		{"imatrix", tiny, "-o", out, "--tokens", ids, "--chunk-size", "16", "-q", "--force"},
	} {
		if code, _, stderr := runCLI(t, args...); code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		fi, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != 0o664 {
			t.Errorf("%s has mode %v, want 0664", out, fi.Mode())
		}
	}
}
