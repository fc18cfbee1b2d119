package convert

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mxq-dev/mxq/internal/output"
	"github.com/mxq-dev/mxq/internal/safeio"
	"github.com/mxq-dev/mxq/report"
)

// readConfigObject reads config.json as a JSON object, keeping every key
// and the exact spelling of every number, so that the copy differs from
// the source only where it is updated.
func readConfigObject(path string) (map[string]any, error) {
	data, err := safeio.ReadFile(path, safeio.ConfigLimit)
	if err != nil {
		return nil, err
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

// existingSideFiles lists the side files present in dir. One that exists
// but is not a regular file, or is larger than a side file may be, is an
// error: the copy would hang or fill the disk.
func existingSideFiles(dir string) ([]string, error) {
	var out []string
	for _, name := range output.SideFiles {
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			err = checkSideFile(path, fi)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, nil
}

// checkSideFile fails unless fi describes a regular file no larger than
// the tokenizer files' limit.
func checkSideFile(path string, fi fs.FileInfo) error {
	if err := safeio.CheckRegular(path, fi); err != nil {
		return err
	}
	if fi.Size() > safeio.TokenizerLimit {
		return fmt.Errorf("%s: %d bytes, larger than the %d MiB a side file may have", path, fi.Size(), safeio.TokenizerLimit>>20)
	}
	return nil
}

// copyFile copies the side file src, which must be a regular file within
// the tokenizer files' size limit, to the new file dst, and describes what
// it wrote (all but the path), hashed as it went.
func copyFile(src, dst string) (report.File, error) {
	in, fi, err := safeio.Open(src)
	if err != nil {
		return report.File{}, err
	}
	defer in.Close()
	if err := checkSideFile(src, fi); err != nil {
		return report.File{}, err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return report.File{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(in, safeio.TokenizerLimit))
	if err != nil {
		out.Close()
		return report.File{}, fmt.Errorf("copying %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return report.File{}, err
	}
	return report.File{Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}
