// Package checkpoint tells apart the two kinds of model checkpoint mxq
// reads: a llama.cpp GGUF file, and a Hugging Face folder (or one of its
// .safetensors files) with config.json beside the weights.
package checkpoint

import (
	"os"
	"path/filepath"
	"strings"
)

// Location is where a checkpoint's files are.
type Location struct {
	Path string // as given
	// Dir is the folder holding config.json and the tokenizer files (for a
	// GGUF, the folder of the file).
	Dir  string
	GGUF bool // Path is a .gguf file
}

// Locate classifies path, which must exist: a file named *.gguf is a GGUF;
// anything else is a Hugging Face folder, or a file inside one.
func Locate(path string) (Location, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Location{}, err
	}
	if fi.IsDir() {
		return Location{Path: path, Dir: path}, nil
	}
	return Location{Path: path, Dir: filepath.Dir(path), GGUF: strings.EqualFold(filepath.Ext(path), ".gguf")}, nil
}

// ConfigPath is the path of the checkpoint's config.json.
func (l Location) ConfigPath() string { return filepath.Join(l.Dir, "config.json") }
