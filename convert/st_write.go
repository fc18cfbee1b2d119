package convert

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	stats, err := p.writeTo(ctx, tmp.Tmp)
	var files []report.File
	if err == nil {
		files, err = hashFolder(ctx, tmp.Tmp, t.Path)
	}
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

// writeTo writes the shards and side files into the folder dir.
func (p *SafetensorsPlan) writeTo(ctx context.Context, dir string) (stats []TensorStats, err error) {
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
			return nil, fmt.Errorf("creating output: %w", err)
		}
		set.add(f, s.base, s.layout.Size())
		if err := f.Truncate(s.layout.Size()); err != nil {
			return nil, fmt.Errorf("sizing %s: %w", s.name, err)
		}
		if _, err := f.WriteAt(s.layout.Header(), 0); err != nil {
			return nil, fmt.Errorf("writing %s: %w", s.name, err)
		}
	}
	tensors := make([]*outTensor, len(p.units))
	offsets := make([]int64, len(p.units))
	var total int64
	for i, u := range p.units {
		tensors[i], offsets[i] = u.t, u.offset
		total += u.t.numElements()
	}
	stats, err = runEngine(ctx, tensors, offsets, set, p.opts.Workers, progressCounter(p.opts.Progress, total))
	if err != nil {
		return nil, err
	}
	if err := set.sync(); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(p.files))
	for name := range p.files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), p.files[name], 0o666); err != nil {
			return nil, fmt.Errorf("writing %s: %w", name, err)
		}
	}
	for _, name := range p.copies {
		if err := copyFile(filepath.Join(p.src.Dir, name), filepath.Join(dir, name)); err != nil {
			return nil, err
		}
	}
	if p.vocab != nil {
		if err := p.vocab.WriteHF(dir); err != nil {
			return nil, fmt.Errorf("writing tokenizer files: %w", err)
		}
	}
	return stats, ctx.Err()
}

// hashFolder lists the files of dir as they will be named under out, with
// their sizes and SHA-256 digests.
func hashFolder(ctx context.Context, dir, out string) ([]report.File, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []report.File
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		digest, err := fileSHA256(ctx, f)
		var size int64
		if fi, serr := f.Stat(); serr == nil {
			size = fi.Size()
		}
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("hashing %s: %w", e.Name(), err)
		}
		files = append(files, report.File{Path: filepath.Join(out, e.Name()), Bytes: size, SHA256: digest})
	}
	return files, nil
}

// shardSet presents the shard files as one address space, each file at
// its base offset, for the engine's writes; no write spans two files.
type shardSet struct {
	files []*os.File
	bases []int64
	ends  []int64
}

func (s *shardSet) add(f *os.File, base, size int64) {
	s.files = append(s.files, f)
	s.bases = append(s.bases, base)
	s.ends = append(s.ends, base+size)
}

func (s *shardSet) WriteAt(b []byte, off int64) (int, error) {
	i := sort.Search(len(s.ends), func(i int) bool { return s.ends[i] > off })
	if i == len(s.files) || off < s.bases[i] || off+int64(len(b)) > s.ends[i] {
		return 0, fmt.Errorf("write of %d bytes at %d crosses a shard boundary", len(b), off)
	}
	return s.files[i].WriteAt(b, off-s.bases[i])
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
