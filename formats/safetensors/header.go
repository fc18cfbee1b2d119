package safetensors

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mxq-dev/mxq/internal/safeio"
)

// MaxHeaderSize is the largest JSON header the reference implementation
// accepts (MAX_HEADER_SIZE).
const MaxHeaderSize = 100_000_000

// headerParser turns the JSON header into tensors. Offsets it reports are
// absolute file offsets: 8 (the length field) plus the position in the JSON.
type headerParser struct {
	file   string
	s      jsonScanner
	budget *safeio.Budget
}

func (p *headerParser) errAt(pos int, tensor, format string, args ...any) *FormatError {
	return formatErr(p.file, 8+int64(pos), tensor, fmt.Sprintf(format, args...))
}

// typeErr reports a value of the wrong JSON type at the scanner's position,
// or a syntax error if the header ends there instead.
func (p *headerParser) typeErr(tensor, format string, args ...any) *FormatError {
	if p.s.peekPos() >= len(p.s.b) {
		return p.errAt(p.s.pos, tensor, "invalid JSON: unexpected end of input")
	}
	return p.errAt(p.s.pos, tensor, format, args...)
}

// wrap turns a scanner error into a FormatError naming the tensor.
func (p *headerParser) wrap(err error, tensor string) error {
	var je *jsonError
	if errors.As(err, &je) {
		return p.errAt(je.off, tensor, "%s", je.msg)
	}
	return err
}

// headerEntry is a parsed tensor and the file offset of its data_offsets
// value, where layout errors point (the data itself may lie past the end).
type headerEntry struct {
	TensorInfo
	at int64
}

// Memory charged to the metadata budget for each tensor besides its name
// and shape: its entry while parsing, its TensorInfo in the File and the
// Checkpoint, their lookup maps and the duplicate check's, with overhead.
// Each __metadata__ pair is charged metaEntryCost besides its strings.
const (
	tensorEntryCost = 384
	metaEntryCost   = 64
)

// parseHeader validates the JSON header hdr (the N bytes after the length
// field) and returns the metadata and the tensors in JSON order, charging
// what it keeps to budget.
func parseHeader(file string, hdr []byte, budget *safeio.Budget) (map[string]string, []headerEntry, error) {
	p := &headerParser{file: file, s: jsonScanner{b: hdr}, budget: budget}
	if !utf8.Valid(hdr) {
		return nil, nil, p.errAt(firstInvalidUTF8(hdr), "", "header is not valid UTF-8")
	}
	// The reference reader (0.4+) rejects leading whitespace too.
	if len(hdr) == 0 || hdr[0] != '{' {
		return nil, nil, p.errAt(0, "", "header does not start with '{'")
	}
	var (
		meta    map[string]string
		seen    = make(map[string]struct{})
		tensors []headerEntry
	)
	more, err := p.s.objectStart()
	for more && err == nil {
		keyOff := p.s.pos
		var name string
		if name, err = p.s.key(); err != nil {
			break
		}
		if _, dup := seen[name]; dup {
			return nil, nil, p.errAt(keyOff, name, "duplicate key")
		}
		seen[name] = struct{}{}
		if name == "__metadata__" {
			if meta, err = p.metadata(); err != nil {
				return nil, nil, err
			}
		} else {
			if !budget.Spend(tensorEntryCost + int64(len(name))) {
				return nil, nil, p.errAt(keyOff, name, "%s", budget.Exceeded())
			}
			t, err := p.tensor(name)
			if err != nil {
				return nil, nil, err
			}
			tensors = append(tensors, t)
		}
		more, err = p.s.next('}')
	}
	if err == nil {
		err = p.s.end()
	}
	if err != nil {
		return nil, nil, p.wrap(err, "")
	}
	return meta, tensors, nil
}

// metadata reads __metadata__: null or an object of strings. A repeated
// key keeps the last value, as serde's HashMap does.
func (p *headerParser) metadata() (map[string]string, error) {
	s := &p.s
	if s.literal("null") { // Option::None in the reference reader
		return nil, nil
	}
	if s.peek() != '{' {
		return nil, p.typeErr("", "__metadata__ must be an object of strings")
	}
	m := make(map[string]string)
	more, err := s.objectStart()
	for more && err == nil {
		keyOff := s.peekPos()
		var k string
		if k, err = s.key(); err != nil {
			break
		}
		if s.peek() != '"' {
			return nil, p.typeErr("", "__metadata__ value for %q must be a string", k)
		}
		var v string
		if v, err = s.str(); err != nil {
			break
		}
		if !p.budget.Spend(metaEntryCost + int64(len(k)+len(v))) {
			return nil, p.errAt(keyOff, "", "__metadata__ key %q: %s", k, p.budget.Exceeded())
		}
		m[k] = v
		more, err = s.next('}')
	}
	if err != nil {
		return nil, p.wrap(err, "")
	}
	return m, nil
}

// tensor reads one tensor entry: an object with the fields dtype, shape and
// data_offsets, each exactly once; other fields are skipped, as serde does.
func (p *headerParser) tensor(name string) (headerEntry, error) {
	s := &p.s
	t := headerEntry{TensorInfo: TensorInfo{Name: name}}
	if s.peek() != '{' {
		return t, p.typeErr(name, "tensor entry must be an object")
	}
	start := s.pos
	var haveDType, haveShape, haveOffsets bool
	more, err := s.objectStart()
	for more && err == nil {
		keyOff := s.peekPos()
		var key []byte
		if key, err = s.keyBytes(); err != nil {
			break
		}
		at := s.peekPos()
		var have *bool
		switch string(key) {
		case "dtype":
			have = &haveDType
		case "shape":
			have = &haveShape
		case "data_offsets":
			have = &haveOffsets
		default:
			if err = s.skip(1); err == nil {
				more, err = s.next('}')
			}
			continue
		}
		if *have {
			return t, p.errAt(keyOff, name, "duplicate field %q", key)
		}
		*have = true
		switch string(key) {
		case "dtype":
			if s.peek() != '"' {
				return t, p.typeErr(name, "dtype must be a string")
			}
			var d []byte
			if d, err = s.strBytes(); err != nil {
				return t, p.wrap(err, name)
			}
			var ok bool
			if t.DType, ok = lookupDType(d); !ok {
				return t, p.errAt(at, name, "unknown dtype %q", d)
			}
		case "shape":
			// Each dimension costs 8 bytes of the budget, charged before
			// the shape is kept.
			if t.Shape, err = s.intArray(int(p.budget.Left() / 8)); err != nil {
				if errors.Is(err, errTooLong) {
					return t, p.errAt(at, name, "shape: %s", p.budget.Exceeded())
				}
				return t, p.intsErr(err, name, at, "shape must be an array of integers")
			}
			p.budget.Spend(8 * int64(len(t.Shape)))
			for i, d := range t.Shape {
				if d < 0 {
					return t, p.errAt(at, name, "negative dimension %d at shape[%d]", d, i)
				}
			}
		case "data_offsets":
			const msg = "data_offsets must be an array of two integers"
			offs, err := s.intArray(2)
			if errors.Is(err, errTooLong) {
				return t, p.errAt(at, name, msg)
			}
			if err != nil {
				return t, p.intsErr(err, name, at, msg)
			}
			if len(offs) != 2 {
				return t, p.errAt(at, name, msg)
			}
			if offs[0] < 0 || offs[1] < 0 {
				return t, p.errAt(at, name, "negative data offset")
			}
			t.Begin, t.End = offs[0], offs[1]
			t.at = 8 + int64(at)
		}
		more, err = s.next('}')
	}
	if err != nil {
		return t, p.wrap(err, name)
	}
	var missing []string
	if !haveDType {
		missing = append(missing, "dtype")
	}
	if !haveShape {
		missing = append(missing, "shape")
	}
	if !haveOffsets {
		missing = append(missing, "data_offsets")
	}
	if len(missing) > 0 {
		return t, p.errAt(start, name, "missing field %s", strings.Join(missing, ", "))
	}
	return t, nil
}

// intsErr reports a failed intArray: msg at the value for a wrong value,
// else the syntax error.
func (p *headerParser) intsErr(err error, tensor string, at int, msg string) error {
	if errors.Is(err, errNotInts) {
		if p.s.peekPos() >= len(p.s.b) {
			return p.errAt(p.s.pos, tensor, "invalid JSON: unexpected end of input")
		}
		return p.errAt(at, tensor, "%s", msg)
	}
	return p.wrap(err, tensor)
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// layoutTensors sorts the entries by data offsets, as the reference reader
// does, and checks that they tile the data section, which starts at
// dataOff, up to exactly the file size.
func layoutTensors(file string, entries []headerEntry, dataOff, size int64) ([]TensorInfo, error) {
	slices.SortStableFunc(entries, func(a, b headerEntry) int {
		if c := cmp.Compare(a.Begin, b.Begin); c != 0 {
			return c
		}
		return cmp.Compare(a.End, b.End)
	})
	var prev int64
	prevName := ""
	for i := range entries {
		t := &entries[i]
		fail := func(format string, args ...any) ([]TensorInfo, error) {
			msg := fmt.Sprintf("data_offsets [%d, %d] ", t.Begin, t.End) + fmt.Sprintf(format, args...)
			return nil, formatErr(file, t.at, t.Name, msg)
		}
		switch {
		case t.End < t.Begin:
			return fail("end before they begin")
		case t.Begin < prev:
			return fail("overlap tensor %q ending at %d", prevName, prev)
		case t.Begin > prev && i == 0:
			return fail("do not begin at 0, as the first tensor must")
		case t.Begin > prev:
			return fail("leave a %d-byte gap after tensor %q", t.Begin-prev, prevName)
		}
		want, ok := byteSize(t.DType, t.Shape)
		if !ok {
			return nil, formatErr(file, t.at, t.Name, fmt.Sprintf("shape %v of %s overflows", t.Shape, t.DType))
		}
		if got := t.End - t.Begin; got != want {
			return fail("hold %d bytes, shape %v of %s needs %d", got, t.Shape, t.DType, want)
		}
		if t.End > size-dataOff {
			return fail("run past the end of the %d-byte file", size)
		}
		prev, prevName = t.End, t.Name
	}
	if dataEnd := dataOff + prev; dataEnd != size {
		return nil, formatErr(file, dataEnd, "", fmt.Sprintf("%d trailing byte(s) after the last tensor", size-dataEnd))
	}
	tensors := make([]TensorInfo, len(entries))
	for i := range entries {
		tensors[i] = entries[i].TensorInfo
	}
	return tensors, nil
}
