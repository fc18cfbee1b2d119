package safetensors

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/mxq-dev/mxq/internal/safeio"
)

// IndexFileName is the name of the Hugging Face shard index.
const IndexFileName = "model.safetensors.index.json"

// MaxIndexSize bounds how much of an index file is read. Real indexes are
// well under this (Mixtral-8x7B's is 92 KB).
const MaxIndexSize = 64 << 20

// Index is a sharded checkpoint's model.safetensors.index.json.
type Index struct {
	// TotalSize is metadata.total_size: by convention the sum of tensor
	// data bytes, though some tools store file sizes. -1 when absent.
	TotalSize int64
	// WeightMap maps each tensor name to the shard file holding it.
	WeightMap map[string]string
}

// NewIndex builds the index for shards as planned by PlanShards and named
// by ShardName; TotalSize is the sum of the tensors' data bytes.
func NewIndex(shards [][]TensorInfo) *Index {
	idx := &Index{WeightMap: make(map[string]string)}
	for i, shard := range shards {
		name := ShardName(i, len(shards))
		for j := range shard {
			idx.WeightMap[shard[j].Name] = name
			idx.TotalSize += max(shard[j].ByteSize(), 0)
		}
	}
	return idx
}

// Shards returns the distinct shard file names of the index, sorted.
func (idx *Index) Shards() []string {
	seen := make(map[string]struct{})
	var out []string
	for _, s := range idx.WeightMap {
		if _, ok := seen[s]; !ok {
			seen[s] = struct{}{}
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// MarshalIndex encodes idx as transformers' save_pretrained does:
// json.dumps(index, indent=2, sort_keys=True) plus a newline, so
// {"metadata": {"total_size": N}, "weight_map": {...}} with sorted keys and
// non-ASCII escaped. A negative TotalSize omits total_size.
func MarshalIndex(idx *Index) ([]byte, error) {
	names := make([]string, 0, len(idx.WeightMap))
	for name, shard := range idx.WeightMap {
		if !utf8.ValidString(name) || !utf8.ValidString(shard) {
			return nil, fmt.Errorf("safetensors: index entry %q: not valid UTF-8", name)
		}
		names = append(names, name)
	}
	slices.Sort(names) // Python sorts by code point; for UTF-8, byte order is the same
	var b bytes.Buffer
	b.WriteString("{\n  \"metadata\": {")
	if idx.TotalSize >= 0 {
		b.WriteString("\n    \"total_size\": ")
		b.WriteString(strconv.FormatInt(idx.TotalSize, 10))
		b.WriteString("\n  ")
	}
	b.WriteString("},\n  \"weight_map\": {")
	for i, name := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n    ")
		writePyString(&b, name)
		b.WriteString(": ")
		writePyString(&b, idx.WeightMap[name])
	}
	if len(names) > 0 {
		b.WriteString("\n  ")
	}
	b.WriteString("}\n}\n")
	return b.Bytes(), nil
}

// writePyString writes s as Python's json.dumps does with ensure_ascii:
// short escapes for the usual controls, \u00XX for other controls and
// \uXXXX (surrogate pairs above the BMP) for all non-ASCII.
func writePyString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	u4 := func(r rune) {
		b.WriteString(`\u`)
		b.WriteByte(hex[r>>12&0xf])
		b.WriteByte(hex[r>>8&0xf])
		b.WriteByte(hex[r>>4&0xf])
		b.WriteByte(hex[r&0xf])
	}
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || (r >= 0x7f && r < 0x10000):
			u4(r)
		case r >= 0x10000:
			r -= 0x10000
			u4(0xd800 + r>>10)
			u4(0xdc00 + r&0x3ff)
		default:
			b.WriteByte(byte(r))
		}
	}
	b.WriteByte('"')
}

// ReadIndex reads and parses the index file at path, refusing files larger
// than MaxIndexSize or whose tensor map would take more memory than
// safeio.MetadataBudget.
func ReadIndex(path string) (*Index, error) {
	return readIndex(path, safeio.NewBudget(safeio.MetadataBudget))
}

// readIndex is ReadIndex charging the file's bytes to budget while they are
// parsed and the tensor map for as long as it is kept.
func readIndex(path string, budget *safeio.Budget) (*Index, error) {
	limit := min(MaxIndexSize, budget.Left())
	data, err := safeio.ReadFile(path, limit)
	if errors.Is(err, safeio.ErrTooLarge) {
		msg := fmt.Sprintf("index is larger than the %d-byte limit", MaxIndexSize)
		if limit < MaxIndexSize {
			msg = "index: " + budget.Exceeded()
		}
		return nil, formatErr(path, -1, "", msg)
	}
	if err != nil {
		return nil, err
	}
	budget.Spend(int64(len(data)))
	defer budget.Refund(int64(len(data)))
	return parseIndex(data, path, budget)
}

// ParseIndex parses a model.safetensors.index.json. name identifies the
// file in errors. Unknown keys are ignored; weight_map is required, and a
// tensor listed twice is an error.
func ParseIndex(data []byte, name string) (*Index, error) {
	return parseIndex(data, name, safeio.NewBudget(safeio.MetadataBudget))
}

// weightMapEntryCost is the memory charged for each weight_map entry
// besides the tensor name: the map slot with its overhead, and the name
// list and per-shard lookups the checkpoint builds from it.
const weightMapEntryCost = 96

func parseIndex(data []byte, name string, budget *safeio.Budget) (*Index, error) {
	fail := func(off int, tensor, format string, args ...any) (*Index, error) {
		return nil, formatErr(name, int64(off), tensor, fmt.Sprintf(format, args...))
	}
	if !utf8.Valid(data) {
		return fail(firstInvalidUTF8(data), "", "index is not valid UTF-8")
	}
	s := &jsonScanner{b: data}
	typeErr := func(tensor, format string, args ...any) error {
		if s.peekPos() >= len(s.b) {
			return formatErr(name, int64(s.pos), tensor, "invalid JSON: unexpected end of input")
		}
		return formatErr(name, int64(s.pos), tensor, fmt.Sprintf(format, args...))
	}
	idx := &Index{TotalSize: -1}
	seen := map[string]bool{}
	if s.peek() != '{' {
		return nil, typeErr("", "index must be a JSON object")
	}
	more, err := s.objectStart()
	for more && err == nil {
		keyOff := s.peekPos()
		var key string
		if key, err = s.key(); err != nil {
			break
		}
		if seen[key] {
			return fail(keyOff, "", "duplicate key %q", key)
		}
		seen[key] = true
		switch key {
		case "metadata":
			if s.peek() != '{' {
				return nil, typeErr("", "metadata must be an object")
			}
			err = parseIndexMetadata(s, idx, typeErr)
		case "weight_map":
			if s.peek() != '{' {
				return nil, typeErr("", "weight_map must be an object")
			}
			idx.WeightMap, err = parseWeightMap(s, name, budget, typeErr)
		default:
			err = s.skip(1)
		}
		if err == nil {
			more, err = s.next('}')
		}
	}
	if err == nil {
		err = s.end()
	}
	var je *jsonError
	if errors.As(err, &je) {
		return fail(je.off, "", "%s", je.msg)
	}
	if err != nil {
		return nil, err
	}
	if idx.WeightMap == nil {
		return fail(-1, "", "index has no weight_map")
	}
	return idx, nil
}

// parseIndexMetadata reads the metadata object, keeping total_size.
func parseIndexMetadata(s *jsonScanner, idx *Index, typeErr func(string, string, ...any) error) error {
	more, err := s.objectStart()
	for more && err == nil {
		var k string
		if k, err = s.key(); err != nil {
			return err
		}
		if k == "total_size" {
			const msg = "metadata.total_size must be a non-negative integer"
			if c := s.peek(); c != '-' && (c < '0' || c > '9') {
				return typeErr("", msg)
			}
			at := s.pos
			var text []byte
			if text, err = s.number(); err != nil {
				return err
			}
			n, ok := parseSize(text)
			if !ok {
				s.pos = at
				return typeErr("", msg)
			}
			idx.TotalSize = n
		} else if err = s.skip(1); err != nil {
			return err
		}
		more, err = s.next('}')
	}
	return err
}

// parseWeightMap reads the weight_map object of tensor -> shard names.
// Shard names are stored once each, however many tensors they hold.
func parseWeightMap(s *jsonScanner, name string, budget *safeio.Budget, typeErr func(string, string, ...any) error) (map[string]string, error) {
	wm := make(map[string]string)
	shards := make(map[string]string)
	more, err := s.objectStart()
	for more && err == nil {
		at := s.peekPos()
		var tensor string
		if tensor, err = s.key(); err != nil {
			return nil, err
		}
		if s.peek() != '"' {
			return nil, typeErr(tensor, "weight_map value must be a shard file name")
		}
		var shardBytes []byte
		if shardBytes, err = s.strBytes(); err != nil {
			return nil, err
		}
		if _, dup := wm[tensor]; dup {
			return nil, formatErr(name, int64(at), tensor, "tensor listed twice in weight_map")
		}
		cost := weightMapEntryCost + int64(len(tensor))
		shard, known := shards[string(shardBytes)]
		if !known {
			shard = string(shardBytes)
			shards[shard] = shard
			cost += weightMapEntryCost + int64(len(shard))
		}
		if !budget.Spend(cost) {
			return nil, formatErr(name, int64(at), tensor, "weight_map: "+budget.Exceeded())
		}
		wm[tensor] = shard
		more, err = s.next('}')
	}
	return wm, err
}

// parseSize accepts a JSON integer, or a float with an integral value as
// some Python tools write it.
func parseSize(text []byte) (int64, bool) {
	if n, ok := parseInt(text); ok {
		return n, n >= 0
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil || f < 0 || f != math.Trunc(f) || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}
