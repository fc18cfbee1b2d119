package inspect

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mxq-dev/mxq/arch"
	"github.com/mxq-dev/mxq/internal/safeio"
	"github.com/mxq-dev/mxq/internal/safetext"
	"github.com/mxq-dev/mxq/model"
)

// tensorRec is one tensor as found in a checkpoint, whatever the format.
type tensorRec struct {
	Name   string
	Role   model.TensorRole
	Shape  []int64 // as stored: row-major for safetensors, ne for GGUF
	DType  string
	Params int64
	Bytes  int64
	File   string
}

// loaded is what a source yields before accounting.
type loaded struct {
	source  Source
	cfg     *model.Config
	origin  string
	tensors []tensorRec // nil: config only
	ckpt    *CheckpointSummary
	gguf    bool
	notes   []Finding
	// arch describes a model of a family outside model/ (see arch/);
	// unknown is set when config.json names an architecture no family
	// claims.
	arch    *arch.Model
	unknown error
}

// Inspect examines path, which may be
//   - a folder with config.json and safetensors files (sharded with an
//     index, or not), or a folder with only config.json;
//   - a .safetensors file (config.json beside it is used when present,
//     otherwise the config is inferred from tensor shapes);
//   - a safetensors index (model.safetensors.index.json);
//   - a .gguf file (config from its llama.* metadata);
//   - a config.json alone.
//
// Only headers and metadata are read. For a checkpoint whose config names
// an architecture mxq does not know, Inspect returns what the tensor
// headers alone show together with an error matching arch.ErrUnknown.
func Inspect(path string, opts Options) (_ *Report, err error) {
	defer func() { err = safetext.Error(err) }() // names from the files may be quoted
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	l, err := load(path)
	if l != nil && l.unknown != nil {
		// Headers of a model mxq does not know: what they show, and the
		// error naming the architecture.
		return surveyReport(l), l.unknown
	}
	if err != nil {
		return nil, err
	}
	if l.arch != nil {
		return buildArch(l, o)
	}
	return build(l, o)
}

func load(path string) (*loaded, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return loadFolder(path)
	}
	switch kind, err := sniff(path); {
	case err != nil:
		return nil, err
	case kind == "gguf":
		return loadGGUF(path)
	case kind == "index":
		return loadSafetensors(path, filepath.Join(filepath.Dir(path), "config.json"), "safetensors-folder")
	case kind == "json":
		return loadConfigOnly(path, path)
	default:
		return loadSafetensors(path, filepath.Join(filepath.Dir(path), "config.json"), "safetensors-file")
	}
}

// sniff decides a file's format from its name and first bytes.
func sniff(path string) (string, error) {
	f, _, err := safeio.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 8)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", err
	}
	head = head[:n]
	// Names first: a safetensors header length can begin with any byte,
	// '{' included.
	switch {
	case strings.HasSuffix(path, ".safetensors"):
		return "safetensors", nil
	case strings.HasSuffix(path, ".index.json"):
		return "index", nil
	case bytes.HasPrefix(head, []byte("GGUF")), strings.HasSuffix(path, ".gguf"):
		return "gguf", nil
	case strings.HasSuffix(path, ".json"):
		return "json", nil
	case len(bytes.TrimSpace(head)) > 0 && bytes.TrimSpace(head)[0] == '{':
		return "json", nil
	}
	return "safetensors", nil
}

func loadFolder(dir string) (*loaded, error) {
	cfgPath := filepath.Join(dir, "config.json")
	st, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if len(st) > 0 {
		return loadSafetensors(dir, cfgPath, "safetensors-folder")
	}
	if _, err := os.Stat(cfgPath); err == nil {
		return loadConfigOnly(dir, cfgPath)
	}
	ggufs, _ := filepath.Glob(filepath.Join(dir, "*.gguf"))
	if len(ggufs) == 1 {
		return loadGGUF(ggufs[0])
	}
	return nil, fmt.Errorf("inspect: %s: no config.json, *.safetensors or single *.gguf file", dir)
}

func loadConfigOnly(path, cfgPath string) (*loaded, error) {
	l := &loaded{source: Source{Path: path, Kind: "config", ConfigPath: cfgPath}}
	if handled, err := withArchConfig(l, cfgPath); handled || err != nil {
		return l, err
	}
	cfg, err := model.LoadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	return &loaded{
		source: Source{Path: path, Kind: "config", ConfigPath: cfgPath},
		cfg:    cfg,
		origin: "config.json",
	}, nil
}

// sortFindings orders findings by severity, keeping the order of discovery
// within a severity.
func sortFindings(f []Finding) {
	rank := map[Severity]int{SeverityError: 0, SeverityWarning: 1, SeverityInfo: 2}
	sort.SliceStable(f, func(i, j int) bool { return rank[f[i].Severity] < rank[f[j].Severity] })
}
