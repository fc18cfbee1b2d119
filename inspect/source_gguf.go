package inspect

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/internal/checkpoint"
	"github.com/mxq-dev/mxq/model"
)

func loadGGUF(path string) (*loaded, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return fromGGUF(f, path)
}

// fromGGUF reads the config and tensor list of an opened GGUF.
func fromGGUF(f *gguf.File, path string) (*loaded, error) {
	cfg, msgs, err := model.ConfigFromGGUF(f)
	var notes []Finding
	if err != nil {
		// Still show what the file holds; only the accounting needs a
		// model mxq understands.
		cfg = nil
		notes = append(notes, Finding{SeverityWarning, "no-accounting", fmt.Sprintf("no parameter accounting or memory estimate: %v", err)})
	}
	for _, m := range msgs {
		notes = append(notes, Finding{SeverityWarning, "metadata-assumed", m})
	}
	if len(f.Tensors) == 0 {
		notes = append(notes, Finding{SeverityInfo, "no-tensors", "the file holds metadata only (a vocabulary file); figures come from its metadata"})
	}
	l := &loaded{
		source: Source{Path: path, Kind: "gguf"},
		cfg:    cfg, origin: "gguf metadata", gguf: true, notes: notes,
	}
	sum := &CheckpointSummary{
		Format: "gguf", Files: 1, FileBytes: f.Size, IndexTotalSize: -1,
		GGUFVersion: f.Version, GGUFAlignment: f.Alignment,
	}
	sum.GGUFMetadata = metadataEntries(f.KV)
	if ft, ok := f.Uint("general.file_type"); ok {
		sum.GGUFFileType = ggml.FileType(ft).String()
	}
	base := filepath.Base(path)
	for _, t := range checkpoint.GGUFTensors(f) {
		l.tensors = append(l.tensors, tensorRec{
			Name: t.Name, Role: model.ClassifyGGUF(t.Name), Shape: t.Shape, DType: t.DType,
			Params: t.Params, Bytes: t.Bytes, File: base,
		})
	}
	l.ckpt = sum
	return l, nil
}

// metadataEntries renders GGUF metadata for display, arrays shortened to
// their first elements.
func metadataEntries(kv []gguf.KV) []MetadataEntry {
	const shown = 6
	out := make([]MetadataEntry, 0, len(kv))
	for _, e := range kv {
		m := MetadataEntry{Key: e.Key, Type: e.Value.Type.String()}
		if e.Value.Type == gguf.TypeArray {
			m.Type = "array[" + e.Value.ArrayType.String() + "]"
			m.Count = e.Value.Len()
			rv := reflect.ValueOf(e.Value.V)
			var parts []string
			for i := 0; i < rv.Len() && i < shown; i++ {
				parts = append(parts, shortValue(rv.Index(i).Interface()))
			}
			if m.Count > shown {
				parts = append(parts, "…")
			}
			m.Value = "[" + strings.Join(parts, ", ") + "]"
		} else {
			m.Value = shortValue(e.Value.V)
		}
		out = append(out, m)
	}
	return out
}

func shortValue(v any) string {
	if s, ok := v.(string); ok {
		if utf8.RuneCountInString(s) > 60 {
			s = string([]rune(s)[:60]) + "…"
		}
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}
