package inspect

import (
	"fmt"
	"path/filepath"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/ggml"
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
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	var notes []Finding
	for _, m := range msgs {
		notes = append(notes, Finding{SeverityWarning, "metadata-assumed", m})
	}
	l := &loaded{
		source: Source{Path: path, Kind: "gguf"},
		cfg:    cfg, origin: "gguf metadata", gguf: true, notes: notes,
	}
	sum := &CheckpointSummary{
		Format: "gguf", Files: 1, FileBytes: f.Size, IndexTotalSize: -1,
		GGUFVersion: f.Version, GGUFAlignment: f.Alignment,
	}
	if ft, ok := f.Uint("general.file_type"); ok {
		sum.GGUFFileType = ggml.FileType(ft).String()
	}
	base := filepath.Base(path)
	for i := range f.Tensors {
		t := &f.Tensors[i]
		shape := make([]int64, len(t.Dims))
		for j, d := range t.Dims {
			shape[j] = int64(d)
		}
		l.tensors = append(l.tensors, tensorRec{
			Name: t.Name, Role: model.ClassifyGGUF(t.Name), Shape: shape, DType: t.Type.String(),
			Params: int64(t.NumElements()), Bytes: int64(t.Size()), File: base,
		})
	}
	l.ckpt = sum
	return l, nil
}
