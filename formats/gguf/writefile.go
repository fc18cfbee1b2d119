package gguf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile writes the file planned by l to path, one tensor after the
// other: data(i, t, w) must write exactly t.Size() bytes of tensor i to w.
// The file is written to a temporary file in the same directory, synced and
// renamed over path only when complete, so path never holds a partial file;
// on error the temporary file is removed.
func WriteFile(path string, l *Layout, data func(i int, t TensorInfo, w io.Writer) error) (err error) {
	if data == nil && len(l.tensors) > 0 {
		return errors.New("gguf: WriteFile: no data function for the tensors")
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	bw := bufio.NewWriterSize(tmp, 1<<20)
	if _, err := bw.Write(l.header); err != nil {
		return err
	}
	zeros := make([]byte, l.alignment)
	for i, t := range l.Tensors() {
		w := &limitedWriter{w: bw, left: int64(t.Size())}
		if err := data(i, t, w); err != nil {
			return fmt.Errorf("gguf: write tensor %q: %w", t.Name, err)
		}
		if w.left != 0 || w.over {
			return fmt.Errorf("gguf: write tensor %q: wrote %d bytes, want %d", t.Name, w.n, t.Size())
		}
		if _, err := bw.Write(zeros[:pad(t.Size(), l.alignment)-t.Size()]); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

// syncDir makes a rename durable where the platform allows syncing a
// directory; failure only weakens durability, so it is not reported.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}

// errTooLong stops a tensor writer at its declared size.
var errTooLong = errors.New("more bytes than the tensor's size")

// limitedWriter passes on at most left bytes and counts what was offered.
type limitedWriter struct {
	w    io.Writer
	left int64
	n    int64
	over bool
}

func (lw *limitedWriter) Write(p []byte) (int, error) {
	lw.n += int64(len(p))
	if int64(len(p)) > lw.left {
		lw.over = true
		return 0, errTooLong
	}
	n, err := lw.w.Write(p)
	lw.left -= int64(n)
	return n, err
}
