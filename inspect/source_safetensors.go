package inspect

import (
	"errors"
	"io/fs"
	"path/filepath"
	"sort"

	"github.com/mxq-dev/mxq/arch"
	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/model"
)

func loadSafetensors(path, cfgPath, kind string) (*loaded, error) {
	l, err := readSafetensors(path, kind)
	if err != nil {
		return nil, err
	}
	if handled, err := withArchConfig(l, cfgPath); handled || err != nil {
		return l, err
	}
	cfg, err := model.LoadConfig(cfgPath)
	switch {
	case err == nil:
		l.cfg, l.origin, l.source.ConfigPath = cfg, "config.json", cfgPath
	case errors.Is(err, fs.ErrNotExist):
		cfg, notes, ierr := inferHF(l.tensors)
		if ierr != nil {
			// Not Mixtral's layout either: show what the headers hold.
			l.unknown = &arch.UnknownError{File: path, Reason: "no config.json, and the tensors are not Mixtral's, Mistral's or Llama's"}
			return l, nil
		}
		l.cfg, l.origin, l.notes = cfg, "inferred from tensor shapes", notes
	default:
		return nil, err
	}
	return l, nil
}

// readSafetensors reads the headers of a safetensors file, folder or index.
func readSafetensors(path, kind string) (*loaded, error) {
	ck, err := safetensors.OpenCheckpoint(path)
	if err != nil {
		return nil, err
	}
	defer ck.Close()

	l := &loaded{source: Source{Path: path, Kind: kind, IndexPath: ck.IndexPath}}
	sum := &CheckpointSummary{Format: "safetensors", Files: len(ck.Files), IndexTotalSize: ck.TotalSize}
	shards := map[string]*ShardCount{}
	for _, f := range ck.Files {
		sum.FileBytes += f.Size
		base := filepath.Base(f.Name)
		shards[base] = &ShardCount{File: base}
	}
	for _, t := range ck.Tensors() {
		base := filepath.Base(t.File.Name)
		rec := recordHF(&t.TensorInfo, base)
		l.tensors = append(l.tensors, rec)
		if s := shards[base]; s != nil {
			s.Tensors++
			s.Bytes += rec.Bytes
		}
	}
	for _, s := range shards {
		sum.Shards = append(sum.Shards, *s)
	}
	sort.Slice(sum.Shards, func(i, j int) bool { return sum.Shards[i].File < sum.Shards[j].File })
	l.ckpt = sum
	return l, nil
}

// recordHF describes one safetensors tensor for accounting.
func recordHF(t *safetensors.TensorInfo, file string) tensorRec {
	return tensorRec{
		Name:   t.Name,
		Role:   model.ClassifyHF(t.Name),
		Shape:  t.Shape,
		DType:  string(t.DType),
		Params: t.NumElements(),
		Bytes:  t.ByteSize(),
		File:   file,
	}
}
