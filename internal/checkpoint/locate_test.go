package checkpoint

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLocate(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"model.safetensors", "model.GGUF"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		path string
		want Location
	}{
		{dir, Location{Path: dir, Dir: dir}},
		{filepath.Join(dir, "model.safetensors"), Location{Path: filepath.Join(dir, "model.safetensors"), Dir: dir}},
		{filepath.Join(dir, "model.GGUF"), Location{Path: filepath.Join(dir, "model.GGUF"), Dir: dir, GGUF: true}},
	} {
		got, err := Locate(tc.path)
		if err != nil || got != tc.want {
			t.Errorf("Locate(%s) = %+v, %v; want %+v", tc.path, got, err, tc.want)
		}
	}
	if got := (Location{Dir: dir}).ConfigPath(); got != filepath.Join(dir, "config.json") {
		t.Errorf("ConfigPath = %s", got)
	}
	if _, err := Locate(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing path was located")
	}
}
