package arch

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/mxq-dev/mxq/internal/safetext"
)

// ErrConfig is matched by every *ConfigError through errors.Is.
var ErrConfig = errors.New("invalid model config")

// ConfigError describes an unusable config.json; Key names the offending
// field ("" when the document itself is malformed).
type ConfigError struct {
	File string
	Key  string
	Msg  string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
	} else {
		b.WriteString("config")
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": %q", e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return safetext.Line(b.String()) // keys and file names come from files
}

func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// maxDim bounds every size read from a config, so products of a few of
// them stay far from overflowing int64.
const maxDim = 1 << 24

// Config gives typed access to a config.json document. Its accessors treat
// an absent key and a JSON null alike; the first error sticks and later
// reads return zero values, so a family's Parse reads every key and checks
// Err once.
type Config struct {
	File      string
	raw       map[string]json.RawMessage
	err       error
	defaulted []string
}

// Err is the first error met while reading keys.
func (c *Config) Err() error { return c.err }

func (c *Config) fail(key, format string, args ...any) {
	if c.err == nil {
		c.err = &ConfigError{File: c.File, Key: key, Msg: fmt.Sprintf(format, args...)}
	}
}

func (c *Config) present(key string) bool {
	m, ok := c.raw[key]
	return ok && strings.TrimSpace(string(m)) != "null"
}

// Has reports whether key is present and not null.
func (c *Config) Has(key string) bool { return c.present(key) }

func (c *Config) number(key string) (float64, bool) {
	if !c.present(key) {
		return 0, false
	}
	var f float64
	if err := json.Unmarshal(c.raw[key], &f); err != nil {
		c.fail(key, "not a number: %s", c.raw[key])
		return 0, false
	}
	return f, true
}

func (c *Config) integer(key string) (int, bool) {
	f, ok := c.number(key)
	if !ok {
		return 0, false
	}
	if f != math.Trunc(f) || f < 0 || f > maxDim {
		c.fail(key, "not an integer between 0 and %d: %s", maxDim, c.raw[key])
		return 0, false
	}
	return int(f), true
}

// Need reads a positive integer the tensor shapes depend on; absent is an
// error naming the key.
func (c *Config) Need(key string) int {
	v, ok := c.integer(key)
	if !ok {
		if c.err == nil {
			c.fail(key, "missing (required to know the tensor shapes)")
		}
		return 0
	}
	if v <= 0 {
		c.fail(key, "must be positive, got %d", v)
	}
	return v
}

// NeedAny reads the first present key of several spellings.
func (c *Config) NeedAny(keys ...string) int {
	for _, k := range keys {
		if c.present(k) {
			return c.Need(k)
		}
	}
	return c.Need(keys[0])
}

// Int reads a non-negative integer, or dflt when absent (recorded as
// defaulted).
func (c *Config) Int(key string, dflt int) int {
	v, ok := c.integer(key)
	if !ok {
		c.def(key)
		return dflt
	}
	return v
}

// Float reads a positive number, or dflt when absent.
func (c *Config) Float(key string, dflt float64) float64 {
	v, ok := c.number(key)
	if !ok {
		c.def(key)
		return dflt
	}
	if !(v > 0) {
		c.fail(key, "must be positive, got %v", v)
	}
	return v
}

// Bool reads a boolean, or dflt when absent.
func (c *Config) Bool(key string, dflt bool) bool {
	if !c.present(key) {
		c.def(key)
		return dflt
	}
	var b bool
	if err := json.Unmarshal(c.raw[key], &b); err != nil {
		c.fail(key, "not a boolean: %s", c.raw[key])
	}
	return b
}

// Ints reads a list of non-negative integers (absent: nil).
func (c *Config) Ints(key string) []int {
	if !c.present(key) {
		return nil
	}
	var v []float64
	if err := json.Unmarshal(c.raw[key], &v); err != nil {
		c.fail(key, "not a list of numbers: %s", c.raw[key])
		return nil
	}
	out := make([]int, len(v))
	for i, f := range v {
		if f != math.Trunc(f) || f < 0 || f > maxDim {
			c.fail(key, "entry %d is not a layer index: %v", i, f)
			return nil
		}
		out[i] = int(f)
	}
	return out
}

// Strings reads a list of strings (absent: nil).
func (c *Config) Strings(key string) []string {
	v, err := c.strs(key)
	if err != nil {
		c.fail(key, "%v", err)
	}
	return v
}

func (c *Config) strs(key string) ([]string, error) {
	if !c.present(key) {
		return nil, nil
	}
	var v []string
	if err := json.Unmarshal(c.raw[key], &v); err != nil {
		return nil, fmt.Errorf("not a list of strings")
	}
	return v, nil
}

func (c *Config) str(key string) (string, bool) {
	if !c.present(key) {
		return "", false
	}
	var s string
	if json.Unmarshal(c.raw[key], &s) != nil {
		return "", false
	}
	return s, true
}

// String reads a string key ("" when absent).
func (c *Config) String(key string) string {
	s, _ := c.str(key)
	return s
}

// Sub is the object under key (nil when absent or not an object).
func (c *Config) Sub(key string) *Config {
	if !c.present(key) {
		return nil
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(c.raw[key], &raw) != nil {
		return nil
	}
	return &Config{File: c.File, raw: raw}
}

func (c *Config) def(key string) { c.defaulted = append(c.defaulted, key) }

// common reads the keys every decoder-only family shares. kvDefault is the
// num_key_value_heads used when absent (0: num_attention_heads).
func (c *Config) common(m *Model, kvDefault int, maxPos int, eps, theta float64) {
	m.Hidden = c.Need("hidden_size")
	m.Layers = c.Need("num_hidden_layers")
	m.Heads = c.Need("num_attention_heads")
	m.Vocab = c.Need("vocab_size")
	if kvDefault == 0 {
		kvDefault = m.Heads
	}
	m.KVHeads = c.Int("num_key_value_heads", kvDefault)
	if c.err == nil && (m.KVHeads <= 0 || m.Heads%m.KVHeads != 0) {
		c.fail("num_key_value_heads", "%d does not divide num_attention_heads %d", m.KVHeads, m.Heads)
	}
	if c.present("head_dim") {
		m.HeadDim = c.Need("head_dim")
	} else if c.err == nil {
		if m.Hidden%m.Heads != 0 {
			c.fail("num_attention_heads", "%d does not divide hidden_size %d and head_dim is absent", m.Heads, m.Hidden)
		}
		m.HeadDim = m.Hidden / m.Heads
	}
	m.MaxPositions = c.Int("max_position_embeddings", maxPos)
	m.NormEps = c.Float("rms_norm_eps", eps)
	if c.present("rope_theta") {
		m.RopeTheta = c.Float("rope_theta", theta)
	} else if rp := c.Sub("rope_parameters"); rp != nil && rp.present("rope_theta") {
		m.RopeTheta = rp.Float("rope_theta", theta)
		if rp.err != nil && c.err == nil {
			c.err = rp.err
		}
	} else {
		m.RopeTheta = c.Float("rope_theta", theta)
	}
	m.TieEmbeddings = c.Bool("tie_word_embeddings", false)
	m.TorchDType = c.String("torch_dtype")
	if m.TorchDType == "" {
		m.TorchDType = c.String("dtype")
	}
	if q := c.Sub("quantization_config"); q != nil {
		m.Quantization = q.String("quant_method")
		m.BlockSize = q.Ints("weight_block_size")
	}
}

// topK reads num_experts_per_tok (or another spelling) and checks it
// against the expert count.
func (c *Config) topK(m *Model, keys ...string) {
	m.TopK = c.NeedAny(keys...)
	if c.err == nil && m.TopK > m.Experts {
		c.fail(keys[0], "%d is more than the %d experts", m.TopK, m.Experts)
	}
}

// sparseLayers marks MoE layers the Qwen way: a layer has experts unless it
// is listed in mlp_only_layers, and only every decoder_sparse_step-th layer.
func (c *Config) sparseLayers(m *Model) {
	step := c.Int("decoder_sparse_step", 1)
	only := c.Ints("mlp_only_layers")
	if step <= 0 {
		c.fail("decoder_sparse_step", "must be positive, got %d", step)
		return
	}
	m.MoELayers = make([]bool, m.Layers)
	for l := range m.MoELayers {
		m.MoELayers[l] = m.Experts > 0 && (l+1)%step == 0
	}
	for _, l := range only {
		if l < m.Layers {
			m.MoELayers[l] = false
		}
	}
}

// needDenseWidth reads intermediate_size when some layer is dense.
func (c *Config) needDenseWidth(m *Model, dflt int) {
	dense := false
	for l := 0; l < m.Layers; l++ {
		dense = dense || !m.IsMoELayer(l)
	}
	if dense {
		m.Intermediate = c.Need("intermediate_size")
	} else {
		m.Intermediate = c.Int("intermediate_size", dflt)
	}
}
