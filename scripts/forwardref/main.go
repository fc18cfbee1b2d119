// Command forwardref runs mxq's forward pass over a Hugging Face checkpoint
// folder or a GGUF file and writes the logits of every position as gzipped
// JSON ({"input_ids": [...], "logits": [[...], ...]}), the reference format
// compat/llamacpp/compare.mjs reads.
//
// Usage: go run ./scripts/forwardref -ids 1,2,3 -o ref.json.gz MODEL
package main

import (
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/mxq-dev/mxq/forward"
	"github.com/mxq-dev/mxq/validate"
)

func main() {
	ids := flag.String("ids", "", "comma-separated token ids")
	out := flag.String("o", "", "output .json.gz (must not exist)")
	flag.Parse()
	if err := run(flag.Arg(0), *ids, *out); err != nil {
		fmt.Fprintln(os.Stderr, "forwardref:", err)
		os.Exit(1)
	}
}

func run(modelPath, idList, out string) error {
	if modelPath == "" || idList == "" || out == "" {
		return fmt.Errorf("usage: forwardref -ids 1,2,3 -o ref.json.gz MODEL")
	}
	var tokens []int
	for _, s := range strings.Split(idList, ",") {
		id, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("-ids: %q is not a token id", s)
		}
		tokens = append(tokens, id)
	}
	m, err := validate.Open(modelPath)
	if err != nil {
		return err
	}
	defer m.Close()
	res, err := forward.Run(m.Source, tokens, forward.Options{})
	if err != nil {
		return err
	}
	logits := res.Logits
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(f)
	err = json.NewEncoder(zw).Encode(map[string]any{"input_ids": tokens, "logits": logits})
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
