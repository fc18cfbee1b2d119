package inspect

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"

	"github.com/mxq-dev/mxq/arch"
	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/internal/checkpoint"
	"github.com/mxq-dev/mxq/model"
	"github.com/mxq-dev/mxq/quant/intq"
)

func loadSafetensors(path, cfgPath, kind string) (*loaded, error) {
	l, err := readSafetensors(path, kind, nil)
	if err != nil {
		return nil, err
	}
	if handled, err := withArchConfig(l, cfgPath); handled || err != nil {
		return l, err
	}
	cfg, err := model.LoadConfig(cfgPath)
	switch {
	case err == nil:
		// Quantized layouts are read back as the weights they hold.
		q, err := checkpoint.ReadQuantization(filepath.Dir(cfgPath))
		if err != nil {
			return nil, err
		}
		if q != nil {
			ql, err := readSafetensors(path, kind, q)
			_, isShard := shardFinding(path)
			switch {
			case err == nil:
				ql.notes = l.notes
				l = ql
			case !isShard || kind != "safetensors-file":
				return nil, err
			}
			// One shard may hold part of a module's tensors: it is shown
			// as stored, with the single-shard finding.
		}
		l.cfg, l.origin, l.source.ConfigPath = cfg, "config.json", cfgPath
	case errors.Is(err, fs.ErrNotExist):
		cfg, notes, ierr := inferHF(l.tensors)
		if shard, isShard := shardFinding(path); ierr != nil && isShard && kind == "safetensors-file" {
			// One shard's tensors rarely describe a model; say why.
			return nil, fmt.Errorf("inspect: %s", shard.Message)
		}
		if ierr != nil {
			// Not Mixtral's layout either: show what the headers hold.
			l.unknown = &arch.UnknownError{File: path, Reason: "no config.json, and the tensors are not Mixtral's, Mistral's or Llama's"}
			return l, nil
		}
		l.cfg, l.origin = cfg, "inferred from tensor shapes"
		l.notes = append(l.notes, notes...)
	default:
		return nil, err
	}
	return l, nil
}

// readSafetensors reads the headers of a safetensors file, folder or index;
// with q, the tensors of each quantized weight count as that weight.
func readSafetensors(path, kind string, q *intq.Quantization) (*loaded, error) {
	ck, err := safetensors.OpenCheckpoint(path)
	if err != nil {
		return nil, err
	}
	defer ck.Close()

	l := &loaded{source: Source{Path: path, Kind: kind, IndexPath: ck.IndexPath}}
	shard, isShard := shardFinding(path)
	isShard = isShard && kind == "safetensors-file"
	if isShard {
		l.notes = append(l.notes, shard)
	}
	sum := &CheckpointSummary{Format: "safetensors", Files: len(ck.Files), IndexTotalSize: ck.TotalSize}
	shards := map[string]*ShardCount{}
	for _, f := range ck.Files {
		sum.FileBytes += f.Size
		base := filepath.Base(f.Name)
		shards[base] = &ShardCount{File: base}
	}
	logical, err := checkpoint.Logical(ck.Tensors(), q)
	if err != nil {
		return nil, err
	}
	for _, t := range logical {
		rec := recordHF(t)
		l.tensors = append(l.tensors, rec)
		if s := shards[t.File]; s != nil {
			s.Tensors++
			s.Bytes += rec.Bytes
		}
	}
	if q != nil {
		sum.Quantization = checkpoint.Describe(q)
		var params, bytes int64
		for _, t := range logical {
			params += t.Params
			bytes += t.Bytes
		}
		if params > 0 {
			sum.BitsPerWeight = float64(bytes) * 8 / float64(params)
		}
	}
	for _, s := range shards {
		sum.Shards = append(sum.Shards, *s)
	}
	sort.Slice(sum.Shards, func(i, j int) bool { return sum.Shards[i].File < sum.Shards[j].File })
	l.ckpt = sum
	return l, nil
}

// shardName is the Hub's name for one shard of a sharded checkpoint:
// model-00001-of-00003.safetensors.
var shardName = regexp.MustCompile(`^.+-([0-9]+)-of-([0-9]+)\.safetensors$`)

// shardFinding says plainly that path, given alone, is one shard of a
// sharded checkpoint, and names what to inspect instead.
func shardFinding(path string) (Finding, bool) {
	m := shardName.FindStringSubmatch(filepath.Base(path))
	if m == nil {
		return Finding{}, false
	}
	part, err1 := strconv.Atoi(m[1])
	total, err2 := strconv.Atoi(m[2])
	if err1 != nil || err2 != nil || total < 2 {
		return Finding{}, false
	}
	dir := filepath.Dir(path)
	instead := fmt.Sprintf("the folder %s, which should hold all %d shards and their index", dir, total)
	if idx, _ := filepath.Glob(filepath.Join(dir, "*.safetensors.index.json")); len(idx) == 1 {
		instead = fmt.Sprintf("the folder %s (or its index %s)", dir, filepath.Base(idx[0]))
	}
	return Finding{SeverityError, "single-shard", fmt.Sprintf(
		"%s is shard %d of %d of a sharded checkpoint, so every figure here covers that one shard; inspect %s for the whole model",
		filepath.Base(path), part, total, instead)}, true
}

// recordHF describes one logical safetensors tensor for accounting.
func recordHF(t checkpoint.Tensor) tensorRec {
	return tensorRec{
		Name:   t.Name,
		Role:   model.ClassifyHF(t.Name),
		Shape:  t.Shape,
		DType:  t.DType,
		Params: t.Params,
		Bytes:  t.Bytes,
		File:   t.File,
	}
}
