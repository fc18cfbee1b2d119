package convert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mxq-dev/mxq/internal/output"
)

// maxConfigSize bounds how much of a config.json is read; real ones are a
// few kilobytes.
const maxConfigSize = 16 << 20

// readConfigObject reads config.json as a JSON object, keeping every key
// and the exact spelling of every number, so that the copy differs from
// the source only where it is updated.
func readConfigObject(path string) (map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxConfigSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%s: not a JSON object", path)
	}
	return m, nil
}

// marshalJSON encodes v as transformers writes its JSON files: indented by
// two spaces, keys sorted, a final newline; "<", ">" and "&" are kept as
// they are, since chat templates are full of them.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// pyFloat spells v (a float of the given bit size) as Python's repr does:
// the shortest digits that read back to the same value, positional with
// at least one decimal (1000000.0) unless the exponent is below -4 or at
// least 16, then in exponent form with two or more exponent digits (1e-05).
func pyFloat(v float64, bitSize int) json.Number {
	e := strconv.FormatFloat(v, 'e', -1, bitSize)
	mant, exp, _ := strings.Cut(e, "e")
	n, _ := strconv.Atoi(exp)
	if n < -4 || n >= 16 {
		sign := "+"
		if n < 0 {
			sign, n = "-", -n
		}
		return json.Number(fmt.Sprintf("%se%s%02d", mant, sign, n))
	}
	s := strconv.FormatFloat(v, 'f', -1, bitSize)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return json.Number(s)
}

// existingSideFiles lists the side files present in dir.
func existingSideFiles(dir string) []string {
	var out []string
	for _, name := range output.SideFiles {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.Mode().IsRegular() {
			out = append(out, name)
		}
	}
	return out
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return out.Close()
}
