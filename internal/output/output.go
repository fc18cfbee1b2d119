// Package output decides where mxq may write and puts its outputs in place.
//
// Nothing mxq did not write is ever replaced or deleted: an output may not
// be, contain or lie inside an input; an existing output is replaced only
// with Replace (--force) and only when it is clearly an earlier output of
// the same kind; new files are written beside the final name and moved
// there only when complete, all of a run's outputs together or none, and
// without replacing a file that appeared in the meantime.
package output

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind is what an output is, which decides what may replace it.
type Kind int

const (
	// GGUF is a .gguf model file.
	GGUF Kind = iota + 1
	// Checkpoint is a folder of safetensors shards and their side files.
	Checkpoint
	// Report is a JSON validation report.
	Report
	// Imatrix is an importance matrix: llama.cpp's GGUF or legacy .dat.
	Imatrix
)

func (k Kind) String() string {
	switch k {
	case GGUF:
		return "GGUF file"
	case Checkpoint:
		return "checkpoint folder"
	case Report:
		return "report"
	case Imatrix:
		return "importance matrix"
	}
	return "output"
}

// Target is a path a run will create.
type Target struct {
	Path string
	Kind Kind
	// Flag names the option that gave the path, for messages ("output",
	// "report").
	Flag string
	// Replace allows replacing an existing earlier output of the same kind.
	Replace bool
}

// Refusal is the error for a target mxq will not write: the arguments
// cannot be honoured safely, whatever the input holds.
type Refusal struct {
	Target Target
	Reason string
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("--%s %s: %s", flagName(r.Target), r.Target.Path, r.Reason)
}

func flagName(t Target) string {
	if t.Flag == "" {
		return "output"
	}
	return t.Flag
}

func refuse(t Target, format string, args ...any) error {
	return &Refusal{Target: t, Reason: fmt.Sprintf(format, args...)}
}

// SideFiles are the files besides config.json and the weights that a
// Hugging Face model folder carries: tokenizer, chat template and
// generation defaults.
var SideFiles = []string{
	"generation_config.json",
	"tokenizer.json",
	"tokenizer.model",
	"tokenizer_config.json",
	"special_tokens_map.json",
	"added_tokens.json",
	"chat_template.json",
	"chat_template.jinja",
}

// isCheckpointFile reports whether a file of this name belongs in a model
// checkpoint folder as mxq writes one.
func isCheckpointFile(name string) bool {
	switch name {
	case "config.json", "model.safetensors.index.json", "quantize_config.json":
		return true
	}
	for _, s := range SideFiles {
		if name == s {
			return true
		}
	}
	return strings.HasSuffix(name, ".safetensors")
}

// Inputs lists the paths a conversion of src reads: src itself; for a
// folder, each entry in it; for a file other than a GGUF, the files of its
// folder, where config.json and the tokenizer are read from.
func Inputs(src string) ([]string, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	out := []string{src}
	dir := src
	if !fi.IsDir() {
		if strings.EqualFold(filepath.Ext(src), ".gguf") {
			return out, nil
		}
		dir = filepath.Dir(src)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		out = append(out, filepath.Join(dir, e.Name()))
	}
	return out, nil
}

// Check refuses, before anything is read or written, a target whose
// folder is missing or not writable, that is, contains or lies inside one
// of inputs or another target, or that exists and may not be replaced.
// Paths are compared as resolved paths and as files (os.SameFile), so
// symbolic links, hard links and bind mounts do not hide a collision.
func Check(inputs []string, targets ...Target) error {
	ins := make([]*place, 0, len(inputs))
	for _, in := range inputs {
		p, err := locate(in)
		if err != nil {
			return err
		}
		ins = append(ins, p)
	}
	outs := make([]*place, len(targets))
	for i, t := range targets {
		switch filepath.Base(filepath.Clean(t.Path)) {
		case ".", "..", string(filepath.Separator):
			return refuse(t, "names no file or folder mxq can create")
		}
		t.Path = filepath.Clean(t.Path)
		targets[i] = t
		p, err := locate(t.Path)
		if err != nil {
			return err
		}
		outs[i] = p
		for _, in := range ins {
			if within(p, in) && within(in, p) {
				return refuse(t, "is the input %s; choose another path", in.path)
			}
		}
		for _, in := range ins {
			switch {
			case within(p, in):
				return refuse(t, "is inside the input %s; mxq never writes where it reads", in.path)
			case within(in, p):
				return refuse(t, "contains the input %s; mxq never writes where it reads", in.path)
			}
		}
		for j, o := range outs[:i] {
			if within(p, o) || within(o, p) {
				return refuse(t, "collides with --%s %s; give each its own path outside the other", flagName(targets[j]), targets[j].Path)
			}
		}
		if err := checkFolder(t); err != nil {
			return err
		}
		if err := checkExisting(t); err != nil {
			return err
		}
	}
	return nil
}

// checkFolder refuses a target whose folder is missing or not writable.
func checkFolder(t Target) error {
	dir := filepath.Dir(t.Path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return refuse(t, "%s folder %s does not exist", flagName(t), dir)
	case err != nil:
		return refuse(t, "%v", err)
	case !fi.IsDir():
		return refuse(t, "%s is not a folder", dir)
	}
	if err := writable(dir); err != nil {
		return refuse(t, "%s folder %s is not writable: %v", flagName(t), dir, err)
	}
	return nil
}

// checkExisting refuses an existing target unless Replace is set and it
// is an earlier output of the same kind.
func checkExisting(t Target) error {
	if _, err := os.Lstat(t.Path); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return refuse(t, "%v", err)
	}
	if !t.Replace {
		return refuse(t, "already exists; pass --force to replace it")
	}
	if reason := notReplaceable(t.Path, t.Kind); reason != "" {
		return refuse(t, "--force replaces only an earlier %s, and this %s; remove it yourself or choose another path", t.Kind, reason)
	}
	return nil
}

// notReplaceable says why the existing path is not clearly an earlier
// output of kind k; "" when it is.
func notReplaceable(path string, k Kind) string {
	fi, err := os.Lstat(path)
	if err != nil {
		return err.Error()
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return "is a symbolic link"
	case k == Checkpoint && !fi.IsDir():
		return "is not a folder"
	case k != Checkpoint && !fi.Mode().IsRegular():
		return "is not a regular file"
	}
	switch k {
	case Imatrix:
		if reason := notImatrix(path); reason != "" {
			return reason
		}
	case GGUF:
		f, err := os.Open(path)
		if err != nil {
			return err.Error()
		}
		defer f.Close()
		var magic [4]byte
		if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != "GGUF" {
			return "is not a GGUF file (no GGUF magic)"
		}
	case Checkpoint:
		entries, err := os.ReadDir(path)
		if err != nil {
			return err.Error()
		}
		for _, e := range entries {
			if !e.Type().IsRegular() {
				return fmt.Sprintf("holds %s, which is not a regular file", e.Name())
			}
			if !isCheckpointFile(e.Name()) {
				return fmt.Sprintf("holds %s, which is not part of a model checkpoint", e.Name())
			}
		}
	case Report:
		const maxReport = 256 << 20
		if fi.Size() > maxReport {
			return "is larger than any report"
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err.Error()
		}
		var r struct {
			Schema  *int            `json:"schema"`
			Tensors json.RawMessage `json:"tensors"`
		}
		if json.Unmarshal(data, &r) != nil || r.Schema == nil || r.Tensors == nil {
			return "is not an mxq report (a JSON object with schema and tensors)"
		}
	}
	return ""
}

// place is a path located on the file system.
type place struct {
	path string
	// real is the absolute path with the symbolic links of its existing
	// part resolved.
	real string
	// self is the file at the path, nil if it does not exist; up are the
	// folders above it, lexically and after resolving links.
	self os.FileInfo
	up   []os.FileInfo
}

func locate(path string) (*place, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	p := &place{path: path, real: resolve(abs)}
	if fi, err := os.Stat(abs); err == nil {
		p.self = fi
	}
	for _, start := range []string{abs, p.real} {
		for d := filepath.Dir(start); ; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil {
				p.up = append(p.up, fi)
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	return p, nil
}

// resolve resolves the symbolic links of the longest existing prefix of
// the absolute path abs and appends the rest.
func resolve(abs string) string {
	rest := ""
	for p := abs; ; p = filepath.Dir(p) {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(r, rest)
		}
		if p == filepath.Dir(p) {
			return abs
		}
		rest = filepath.Join(filepath.Base(p), rest)
	}
}

// within reports whether a is b or lies inside b.
func within(a, b *place) bool {
	if b.real == a.real || strings.HasPrefix(a.real, strings.TrimSuffix(b.real, string(filepath.Separator))+string(filepath.Separator)) {
		return true
	}
	if b.self == nil {
		return false
	}
	if a.self != nil && os.SameFile(a.self, b.self) {
		return true
	}
	if !b.self.IsDir() {
		return false
	}
	for _, fi := range a.up {
		if os.SameFile(fi, b.self) {
			return true
		}
	}
	return false
}

// notImatrix says why path is neither a GGUF file nor a legacy .dat
// importance matrix, which has no magic: it starts with a positive int32
// entry count and the int32 length of a tensor name that follows; "" when
// it is one of them.
func notImatrix(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var head [8]byte
	n, _ := io.ReadFull(f, head[:])
	if n >= 4 && string(head[:4]) == "GGUF" {
		return ""
	}
	const maxName = 1 << 10
	if n == 8 {
		entries := int32(binary.LittleEndian.Uint32(head[:4]))
		nameLen := int32(binary.LittleEndian.Uint32(head[4:]))
		name := make([]byte, max(0, min(nameLen, maxName)))
		if entries > 0 && nameLen > 0 && nameLen <= maxName {
			if _, err := io.ReadFull(f, name); err == nil && utf8.Valid(name) && !strings.ContainsFunc(string(name), unicode.IsControl) {
				return ""
			}
		}
	}
	return "is not an importance matrix (neither GGUF nor llama.cpp's .dat layout)"
}
