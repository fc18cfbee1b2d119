// Package hostile writes model files crafted to exhaust a reader's memory
// or time, for regression tests and memory measurements. Every writer
// streams, so building a file costs little memory; sparse files claim far
// more than they hold on disk.
package hostile

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"
)

// file streams little-endian values to a new file.
type file struct {
	f   *os.File
	w   *bufio.Writer
	err error
}

func create(path string) *file {
	f, err := os.Create(path)
	if err != nil {
		return &file{err: err}
	}
	return &file{f: f, w: bufio.NewWriterSize(f, 1<<20)}
}

func (f *file) bytes(b []byte) {
	if f.err == nil {
		_, f.err = f.w.Write(b)
	}
}

func (f *file) u32(v uint32) { f.bytes(binary.LittleEndian.AppendUint32(nil, v)) }
func (f *file) u64(v uint64) { f.bytes(binary.LittleEndian.AppendUint64(nil, v)) }

// hole skips n bytes, leaving zeros that take no disk space.
func (f *file) hole(n int64) {
	if f.err == nil {
		f.err = f.w.Flush()
	}
	if f.err == nil {
		_, f.err = f.f.Seek(n, io.SeekCurrent)
	}
}

// str writes a GGUF string: its u64 length, then its bytes.
func (f *file) str(s string) {
	f.u64(uint64(len(s)))
	f.bytes([]byte(s))
}

// close flushes the file and extends it (sparsely) to at least size bytes.
func (f *file) close(size int64) error {
	if f.err != nil {
		if f.f != nil {
			f.f.Close()
		}
		return f.err
	}
	if err := f.w.Flush(); err != nil {
		f.f.Close()
		return err
	}
	// A trailing hole extends the file only once its size is set.
	end, err := f.f.Seek(0, io.SeekCurrent)
	if err == nil {
		err = f.f.Truncate(max(end, size))
	}
	if err != nil {
		f.f.Close()
		return err
	}
	return f.f.Close()
}

const (
	ggufVersion    = 3
	ggufTypeUint8  = 0
	ggufTypeString = 8
	ggufTypeArray  = 9
)

func ggufPreamble(f *file, tensors, kvs uint64) {
	f.bytes([]byte("GGUF"))
	f.u32(ggufVersion)
	f.u64(tensors)
	f.u64(kvs)
}

// GGUFClaimedKVs writes a GGUF header that claims kvs key/value pairs but
// holds one, in a sparse file of apparent size bytes: the claim fits the
// apparent size but not the memory.
func GGUFClaimedKVs(path string, kvs uint64, size int64) error {
	f := create(path)
	ggufPreamble(f, 0, kvs)
	f.str("general.architecture")
	f.u32(ggufTypeString)
	f.str("llama")
	return f.close(size)
}

// GGUFManyKVs writes a GGUF file of n distinct small UINT8 key/value pairs
// (about 22 bytes each on disk).
func GGUFManyKVs(path string, n int) error {
	f := create(path)
	ggufPreamble(f, 0, uint64(n))
	for i := range n {
		f.str("k" + strconv.Itoa(i))
		f.u32(ggufTypeUint8)
		f.bytes([]byte{1})
	}
	return f.close(0)
}

// GGUFLongStrings writes a GGUF file of n key/value pairs whose values are
// strings of strLen zero bytes, stored as holes: a sparse file whose
// strings together outgrow any sane metadata budget.
func GGUFLongStrings(path string, n int, strLen int64) error {
	f := create(path)
	ggufPreamble(f, 0, uint64(n))
	for i := range n {
		f.str("s" + strconv.Itoa(i))
		f.u32(ggufTypeString)
		f.u64(uint64(strLen))
		f.hole(strLen)
	}
	return f.close(0)
}

// vocabulary starts a GGUF file whose one key/value is an array of n
// strings, the elements left to the caller.
func vocabulary(path string, n uint64) *file {
	f := create(path)
	ggufPreamble(f, 0, 1)
	f.str("tokenizer.ggml.tokens")
	f.u32(ggufTypeArray)
	f.u32(ggufTypeString)
	f.u64(n)
	return f
}

// GGUFEmptyStrings writes a GGUF file with one array of n empty strings,
// all zeros on disk and so stored as a hole.
func GGUFEmptyStrings(path string, n int64) error {
	f := vocabulary(path, uint64(n))
	f.hole(8 * n)
	return f.close(0)
}

// GGUFStringArray writes a GGUF file with one array of n strings of
// strLen bytes each, as a huge vocabulary would be.
func GGUFStringArray(path string, n, strLen int) error {
	f := vocabulary(path, uint64(n))
	s := make([]byte, strLen)
	for i := range s {
		s[i] = 'a'
	}
	for range n {
		f.u64(uint64(strLen))
		f.bytes(s)
	}
	return f.close(0)
}

// safetensors writes a safetensors file whose JSON header, headerLen bytes
// long, is written by body; the file holds no tensor data.
func safetensors(path string, headerLen int64, body func(f *file)) error {
	f := create(path)
	f.u64(uint64(headerLen))
	body(f)
	return f.close(0)
}

// SafetensorsZeroTensors writes a safetensors file of n zero-size F32
// tensors named prefix0, prefix1, ...: a header of about 60 bytes per
// tensor.
func SafetensorsZeroTensors(path, prefix string, n int) error {
	entry := func(i int) string {
		sep := ","
		if i == n-1 {
			sep = ""
		}
		return fmt.Sprintf(`"%s%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}%s`, prefix, i, sep)
	}
	var size int64 = 2
	for i := range n {
		size += int64(len(entry(i)))
	}
	return safetensors(path, size, func(f *file) {
		f.bytes([]byte("{"))
		for i := range n {
			f.bytes([]byte(entry(i)))
		}
		f.bytes([]byte("}"))
	})
}

// SafetensorsLongShape writes a safetensors file with one zero-size tensor
// whose shape has dims dimensions: [0,0,0,...], 2 bytes of header each.
func SafetensorsLongShape(path string, dims int) error {
	head := `{"t":{"dtype":"F32","data_offsets":[0,0],"shape":[0`
	tail := `]}}`
	size := int64(len(head)+len(tail)) + 2*int64(dims-1)
	return safetensors(path, size, func(f *file) {
		f.bytes([]byte(head))
		for range dims - 1 {
			f.bytes([]byte(",0"))
		}
		f.bytes([]byte(tail))
	})
}

// Index writes a model.safetensors.index.json mapping n tensors to one
// shard.
func Index(path string, n int) error {
	f := create(path)
	f.bytes([]byte(`{"metadata":{"total_size":0},"weight_map":{`))
	for i := range n {
		if i > 0 {
			f.bytes([]byte(","))
		}
		f.bytes([]byte(`"model.layers.` + strconv.Itoa(i) + `.weight":"model-00001-of-00001.safetensors"`))
	}
	f.bytes([]byte("}}"))
	return f.close(0)
}
