// Package safeio opens the files a checkpoint is made of without trusting
// them: only regular files are opened (a named pipe, device, socket or
// folder where a file is expected is refused before it can block a read
// forever or stream endless bytes), and small side files such as
// config.json or tokenizer.json are read whole only up to a fixed size.
package safeio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Size limits for the side files read whole into memory.
const (
	// ConfigLimit bounds model and generation configs (config.json,
	// generation_config.json, quantize_config.json): real ones are a few
	// kilobytes.
	ConfigLimit = 4 << 20
	// TokenizerLimit bounds tokenizer files (tokenizer.json,
	// tokenizer_config.json, tokenizer.model, special_tokens_map.json,
	// added_tokens.json, chat templates). The largest public tokenizer.json
	// files (262k-token vocabularies) are about 33 MB; SentencePiece models
	// stay under 5 MB.
	TokenizerLimit = 64 << 20
)

var (
	// ErrNotRegular is matched (errors.Is) by the error for a path that is
	// not a regular file.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge is matched by the error for a side file over its limit.
	ErrTooLarge = errors.New("file too large")
)

// kindError names a non-regular file in one line.
type kindError struct {
	path string
	kind string
}

func (e *kindError) Error() string {
	return fmt.Sprintf("%s: is %s, not a regular file", e.path, e.kind)
}

func (e *kindError) Unwrap() error { return ErrNotRegular }

// sizeError reports a side file larger than its limit.
type sizeError struct {
	path        string
	size, limit int64
}

func (e *sizeError) Error() string {
	return fmt.Sprintf("%s: %d bytes, larger than the %d MiB this file may have", e.path, e.size, e.limit>>20)
}

func (e *sizeError) Unwrap() error { return ErrTooLarge }

// describe names the kind of a non-regular file.
func describe(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// CheckRegular fails unless fi describes a regular file.
func CheckRegular(path string, fi fs.FileInfo) error {
	if fi.Mode().IsRegular() {
		return nil
	}
	return &kindError{path: path, kind: describe(fi.Mode())}
}

// Open opens path for reading if it is a regular file, following symbolic
// links (model caches link to their blobs). The path is checked before it
// is opened, it is opened without blocking (a pipe swapped in meanwhile
// cannot stall the open), and the opened file is checked again. A missing
// file gives the usual *fs.PathError wrapping fs.ErrNotExist.
func Open(path string) (*os.File, fs.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if err := CheckRegular(path, fi); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, nil, err
	}
	if fi, err = f.Stat(); err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := CheckRegular(path, fi); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// ReadFile reads the regular file at path whole, refusing it when it holds
// more than limit bytes: its size is checked before anything is allocated,
// and no more than limit bytes are read if it grows meanwhile.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, fi, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > limit {
		return nil, &sizeError{path: path, size: fi.Size(), limit: limit}
	}
	data := make([]byte, 0, fi.Size()+1)
	for {
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if int64(len(data)) > limit {
			return nil, &sizeError{path: path, size: int64(len(data)), limit: limit}
		}
		if errors.Is(err, io.EOF) {
			return data, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
	}
}

// MetadataBudget is the memory a reader may spend on the tables a file's
// header describes (key/value pairs, tensor names and shapes), per file
// and, for a checkpoint of several files, for all of them together. The
// largest real headers (262k-token vocabularies, checkpoints of 100k
// tensors) need a fraction of it.
const MetadataBudget = 64 << 20

// Budget counts down the bytes a reader may still spend on metadata. Costs
// are charged before the memory is allocated, so a header that claims more
// than the budget is refused before it can exhaust memory. A Budget is not
// safe for concurrent use.
type Budget struct {
	limit, left int64
}

// NewBudget returns a budget of limit bytes.
func NewBudget(limit int64) *Budget { return &Budget{limit: limit, left: limit} }

// Spend charges n bytes and reports whether they were within the budget;
// a refused charge is not recorded.
func (b *Budget) Spend(n int64) bool {
	if n < 0 || n > b.left {
		return false
	}
	b.left -= n
	return true
}

// Refund returns n bytes charged earlier for memory that is no longer held.
func (b *Budget) Refund(n int64) { b.left = min(b.left+n, b.limit) }

// Left is what remains of the budget.
func (b *Budget) Left() int64 { return b.left }

// Limit is the budget's total size.
func (b *Budget) Limit() int64 { return b.limit }

// Exceeded describes a refused charge, for error messages.
func (b *Budget) Exceeded() string {
	return fmt.Sprintf("metadata would take more than the %d MiB of memory mxq allows for headers", b.limit>>20)
}
