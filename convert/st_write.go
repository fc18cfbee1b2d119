package convert

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/mxq-dev/mxq/internal/output"
	"github.com/mxq-dev/mxq/internal/safetext"
	"github.com/mxq-dev/mxq/report"
)

// ErrOutputExists is returned by Write when the output exists and
// SafetensorsOptions.Replace is false.
var ErrOutputExists = output.ErrExists

// Stage writes the conversion into a temporary folder beside t.Path and
// returns it with the report; nothing is at t.Path until output.Commit
// puts it there. The caller discards the temporary.
func (p *SafetensorsPlan) Stage(ctx context.Context, t output.Target) (*output.Staged, *report.Report, error) {
	tmp, err := output.Stage(t)
	if err != nil {
		return nil, nil, err
	}
	stats, files, err := p.writeTo(ctx, tmp.Tmp, t.Path)
	if err != nil {
		tmp.Discard()
		return nil, nil, err
	}
	return tmp, measured(p.Report(t.Path), stats, files), nil
}

// Write converts into the folder out. Everything is written into a
// temporary folder ".OUT.tmp-*" beside out, which is moved to out only
// when every file is complete; on any error or cancellation the temporary
// folder is removed and out is left as it was. With Replace, an existing
// out is replaced only if it holds nothing but a checkpoint's files.
func (p *SafetensorsPlan) Write(ctx context.Context, out string) (*report.Report, error) {
	t := output.Target{Path: out, Kind: output.Checkpoint, Flag: "output", Replace: p.opts.Replace}
	if !t.Replace {
		if _, err := os.Lstat(out); err == nil {
			return nil, fmt.Errorf("%s: %w; pass --force to replace it", out, ErrOutputExists)
		}
	}
	tmp, r, err := p.Stage(ctx, t)
	if err != nil {
		return nil, err
	}
	defer tmp.Discard()
	if _, err := output.Commit(tmp); err != nil {
		return nil, err
	}
	return r, nil
}

// writeTo writes the shards and side files into the folder dir and lists
// them as they will be named under out, with their sizes and the SHA-256
// of their bytes, each computed as the file is written.
//
// A shard is hashed in one pass although the engine writes it at offsets:
// its header is fixed by the plan and goes first, then the tensors whose
// bytes do not depend on the weights (one of them, compressed-tensors'
// weight_shape, sorts before every packed weight of its shard, and the
// hash could not move past it until the shard's last weight was done),
// and the engine takes the tensors in the order the shards store them, so
// its writes arrive nearly in file order and orderedDigest holds only the
// few in flight. What a packed integer layout stores after all its packed
// weights (scales, zero points) comes early; orderedDigest keeps the
// memory that takes bounded (see there).
func (p *SafetensorsPlan) writeTo(ctx context.Context, dir, out string) (stats []TensorStats, files []report.File, err error) {
	defer func() { err = safetext.Error(err) }() // names from the files may be quoted
	set := &shardSet{}
	defer func() {
		if cerr := set.close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	for _, s := range p.shards {
		f, err := os.OpenFile(filepath.Join(dir, s.name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if err != nil {
			return nil, nil, fmt.Errorf("creating output: %w", err)
		}
		d := newOrderedDigest(f)
		set.add(f, d, s.base, s.layout.Size())
		if err := d.Truncate(s.layout.Size()); err != nil {
			return nil, nil, fmt.Errorf("sizing %s: %w", s.name, err)
		}
		if _, err := d.WriteAt(s.layout.Header(), 0); err != nil {
			return nil, nil, fmt.Errorf("writing %s: %w", s.name, err)
		}
	}
	for _, u := range p.units {
		if err := u.writeFixed(set); err != nil {
			return nil, nil, err
		}
	}
	order := p.writeOrder()
	tensors := make([]*outTensor, len(order))
	offsets := make([]int64, len(order))
	var total int64
	for i, k := range order {
		u := p.units[k]
		tensors[i], offsets[i] = u.t, u.offset
		total += u.t.numElements()
	}
	ordered, err := runEngine(ctx, tensors, offsets, set, p.opts.Workers, progressCounter(p.opts.Progress, total))
	if err != nil {
		return nil, nil, err
	}
	stats = make([]TensorStats, len(order))
	for i, k := range order {
		stats[k] = ordered[i]
	}
	if err := set.sync(); err != nil {
		return nil, nil, err
	}
	written := map[string]report.File{}
	for i, s := range p.shards {
		digest, err := set.digests[i].Sum(s.layout.Size())
		if err != nil {
			return nil, nil, fmt.Errorf("writing %s: %w", s.name, err)
		}
		written[s.name] = report.File{Bytes: s.layout.Size(), SHA256: digest}
	}
	side := maps.Clone(p.files)
	if p.vocab != nil {
		vf, err := p.vocab.HFFiles()
		if err != nil {
			return nil, nil, fmt.Errorf("writing tokenizer files: %w", err)
		}
		maps.Copy(side, vf)
	}
	for _, name := range slices.Sorted(maps.Keys(side)) {
		data := side[name]
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o666); err != nil {
			return nil, nil, fmt.Errorf("writing %s: %w", name, err)
		}
		sum := sha256.Sum256(data)
		written[name] = report.File{Bytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	}
	for _, name := range p.copies {
		f, err := copyFile(filepath.Join(p.src.Dir, name), filepath.Join(dir, name))
		if err != nil {
			return nil, nil, err
		}
		written[name] = f
	}
	for _, name := range slices.Sorted(maps.Keys(written)) {
		f := written[name]
		f.Path = filepath.Join(out, name)
		files = append(files, f)
	}
	return stats, files, ctx.Err()
}

// writeFixed writes u's stored tensors that do not depend on the weight.
func (u *stUnit) writeFixed(w io.WriterAt) error {
	enc, ok := u.t.enc.(*intqEncoder)
	if !ok {
		return nil
	}
	for k, data := range u.fixed {
		if data == nil {
			continue
		}
		for part := range u.t.parts {
			if _, err := w.WriteAt(data, enc.dst[k]+int64(part)*int64(len(data))); err != nil {
				return fmt.Errorf("writing tensor %s: %w", u.t.Name, err)
			}
		}
	}
	return nil
}

// writeOrder returns the indices of p.units in the order the engine takes
// them: by where their first write lands, so that the shards fill nearly
// front to back.
func (p *SafetensorsPlan) writeOrder() []int {
	first := make([]int64, len(p.units))
	for i, u := range p.units {
		first[i] = u.offset
		if enc, ok := u.t.enc.(*intqEncoder); ok {
			first[i] = math.MaxInt64
			for k, off := range enc.dst {
				if !enc.fixed[k] {
					first[i] = min(first[i], off)
				}
			}
		}
	}
	order := make([]int, len(p.units))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(first[a], first[b]) })
	return order
}

// shardSet presents the shard files as one address space, each file at
// its base offset, for the engine's writes; no write spans two files.
// Each file is written through its digest.
type shardSet struct {
	files   []*os.File
	digests []*orderedDigest
	bases   []int64
	ends    []int64
}

func (s *shardSet) add(f *os.File, d *orderedDigest, base, size int64) {
	s.files = append(s.files, f)
	s.digests = append(s.digests, d)
	s.bases = append(s.bases, base)
	s.ends = append(s.ends, base+size)
}

func (s *shardSet) WriteAt(b []byte, off int64) (int, error) {
	i := sort.Search(len(s.ends), func(i int) bool { return s.ends[i] > off })
	if i == len(s.files) || off < s.bases[i] || off+int64(len(b)) > s.ends[i] {
		return 0, fmt.Errorf("write of %d bytes at %d crosses a shard boundary", len(b), off)
	}
	return s.digests[i].WriteAt(b, off-s.bases[i])
}

func (s *shardSet) sync() error {
	for _, f := range s.files {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("writing %s: %w", f.Name(), err)
		}
	}
	return nil
}

func (s *shardSet) close() error {
	var first error
	for _, f := range s.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.files = nil
	return first
}
