package safetensors

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// WriteFile writes a safetensors file at path with layout l. data is called
// once per tensor, in data order, and must write exactly that tensor's
// bytes (little-endian, C order) to w; writing more fails at once, writing
// fewer fails after data returns. The file is written to a temporary file
// in the same folder and renamed over path only on success, so path never
// holds a partial file; on any error the temporary file is removed.
func WriteFile(path string, l *Layout, data func(name string, w io.Writer) error) (err error) {
	f, err := createTemp(path)
	if err != nil {
		return fmt.Errorf("safetensors: create %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := bw.Write(l.header); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	for i := range l.tensors {
		t := &l.tensors[i]
		tw := &tensorWriter{w: bw, left: t.End - t.Begin}
		if err := data(t.Name, tw); err != nil {
			return fmt.Errorf("safetensors: write %s: tensor %q: %w", path, t.Name, err)
		}
		if tw.err != nil {
			return fmt.Errorf("safetensors: write %s: tensor %q: %w", path, t.Name, tw.err)
		}
		if tw.left != 0 {
			return fmt.Errorf("safetensors: write %s: tensor %q: wrote %d of %d bytes", path, t.Name, t.End-t.Begin-tw.left, t.End-t.Begin)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	return nil
}

// createTemp is os.CreateTemp with mode 0666 (before umask), so the final
// file gets the same permissions as one made by os.Create.
func createTemp(path string) (*os.File, error) {
	dir, base := filepath.Split(path)
	for range 100 {
		name := filepath.Join(dir, "."+base+"."+strconv.FormatUint(uint64(rand.Uint32()), 36)+".tmp")
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, fs.ErrExist
}

// errTooMuchData reports a data callback writing past its tensor's end.
var errTooMuchData = errors.New("more data than the tensor's shape and dtype allow")

// tensorWriter passes at most left bytes through and records overruns, so
// one tensor cannot spill into the next.
type tensorWriter struct {
	w    io.Writer
	left int64
	err  error
}

func (t *tensorWriter) Write(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	if int64(len(p)) > t.left {
		n, err := t.w.Write(p[:t.left])
		t.left -= int64(n)
		if err == nil {
			err = errTooMuchData
		}
		t.err = err
		return n, err
	}
	n, err := t.w.Write(p)
	t.left -= int64(n)
	if err != nil {
		t.err = err
	}
	return n, err
}
