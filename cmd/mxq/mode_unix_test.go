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
