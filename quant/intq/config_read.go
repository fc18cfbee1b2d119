package intq

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Quantization is what a checkpoint's config.json says about how its
// Linear weights are stored (formats.md §6): compressed-tensors
// pack-quantized, GPTQ v1, or MLX affine. Which modules are quantized is
// decided per tensor by what the checkpoint holds, as the engines do:
// a module with a floating-point "weight" is read as is.
type Quantization struct {
	Method string // "compressed-tensors", "gptq" or "mlx"
	// Scheme is the default scheme; ScaleDType is left empty and taken
	// from each module's stored scales.
	Scheme Scheme
	groups []ctGroup      // compressed-tensors config groups, in name order
	mlx    map[string]any // MLX per-module entries: false or {group_size, bits}
}

// ctGroup is one compressed-tensors config group.
type ctGroup struct {
	name    string
	targets []string         // "Linear" or module names
	res     []*regexp.Regexp // "re:" targets, anchored at the start as Python's re.match
	scheme  Scheme
}

// Layout is the layout that decodes the method's tensors.
func (q *Quantization) Layout() Layout {
	switch q.Method {
	case "compressed-tensors":
		return CompressedTensors
	case "gptq":
		return GPTQ
	}
	return MLX
}

// ParseQuantization reads the quantization section of a config.json (MLX's
// top-level "quantization", else "quantization_config"); it returns nil and
// no error when there is none. name labels errors. A quantize_config.json
// (AutoGPTQ) has the same content as GPTQ's quantization_config and may be
// given instead.
func ParseQuantization(data []byte, name string) (*Quantization, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("intq: %s: %w", name, err)
	}
	fail := func(format string, args ...any) (*Quantization, error) {
		return nil, fmt.Errorf("intq: %s: "+format, append([]any{name}, args...)...)
	}
	obj := func(key string) (map[string]any, bool, error) {
		raw, ok := top[key]
		if !ok || string(bytes.TrimSpace(raw)) == "null" {
			return nil, false, nil
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, false, fmt.Errorf("intq: %s: %q is not an object", name, key)
		}
		return m, true, nil
	}
	if m, ok, err := obj("quantization"); err != nil {
		return nil, err
	} else if ok {
		return parseMLX(m, name)
	}
	qc, ok, err := obj("quantization_config")
	if err != nil {
		return nil, err
	}
	if !ok {
		if _, gptq := top["bits"]; gptq {
			// a quantize_config.json
			if err := json.Unmarshal(data, &qc); err != nil {
				return fail("%v", err)
			}
			if _, has := qc["quant_method"]; !has {
				qc["quant_method"] = "gptq"
			}
		} else {
			return nil, nil
		}
	}
	method, _ := qc["quant_method"].(string)
	switch method {
	case "compressed-tensors":
		return parseCompressedTensors(qc, name)
	case "gptq":
		return parseGPTQ(qc, name)
	case "":
		if _, ok := qc["group_size"]; ok {
			return parseMLX(qc, name) // mlx-lm's copy under quantization_config
		}
		return fail("quantization_config has no quant_method")
	}
	return fail("quant_method %q is not supported (compressed-tensors, gptq and mlx are)", method)
}

// intField reads a JSON number that must be an integer.
func intField(m map[string]any, key string) (int, bool, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return 0, false, nil
	}
	f, isNum := v.(float64)
	if !isNum || f != float64(int(f)) || f < -1<<30 || f > 1<<30 {
		return 0, false, fmt.Errorf("%q = %v is not an integer", key, v)
	}
	return int(f), true, nil
}

func boolField(m map[string]any, key string, def bool) (bool, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return def, nil
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, fmt.Errorf("%q = %v is not a boolean", key, v)
	}
	return b, nil
}

// bitsAndGroup reads the two integers every method has.
func bitsAndGroup(m map[string]any, bitsKey string) (bits, group int, err error) {
	bits, ok, err := intField(m, bitsKey)
	if err != nil {
		return 0, 0, err
	}
	if !ok {
		return 0, 0, fmt.Errorf("%q missing", bitsKey)
	}
	group, ok, err = intField(m, "group_size")
	if err != nil {
		return 0, 0, err
	}
	if !ok {
		group = -1
	}
	return bits, group, nil
}

func parseMLX(m map[string]any, name string) (*Quantization, error) {
	bits, group, err := bitsAndGroup(m, "bits")
	if err != nil {
		return nil, fmt.Errorf("intq: %s: quantization: %v", name, err)
	}
	if mode, ok := m["mode"].(string); ok && mode != "affine" {
		return nil, fmt.Errorf("intq: %s: MLX quantization mode %q is not supported (affine is)", name, mode)
	}
	q := &Quantization{Method: "mlx", Scheme: Scheme{Bits: bits, GroupSize: group}, mlx: map[string]any{}}
	for k, v := range m {
		switch k {
		case "bits", "group_size", "mode", "quant_method":
			continue
		}
		switch v := v.(type) {
		case bool:
			q.mlx[k] = v
		case map[string]any:
			q.mlx[k] = v
		}
	}
	return q, nil
}

func parseGPTQ(m map[string]any, name string) (*Quantization, error) {
	fail := func(format string, args ...any) (*Quantization, error) {
		return nil, fmt.Errorf("intq: %s: gptq: "+format, append([]any{name}, args...)...)
	}
	bits, group, err := bitsAndGroup(m, "bits")
	if err != nil {
		return fail("%v", err)
	}
	if f, _ := m["checkpoint_format"].(string); f != "" && f != "gptq" {
		return fail("checkpoint_format %q is not supported (gptq, AutoGPTQ's v1, is)", f)
	}
	if d, ok := m["dynamic"].(map[string]any); ok && len(d) > 0 {
		return fail("per-module \"dynamic\" overrides are not supported")
	}
	// Dequantization reads the stored zero points and g_idx, so neither
	// asymmetric weights nor act-order change how a weight decodes; the
	// scheme is marked symmetric because intq describes GPTQ that way.
	return &Quantization{Method: "gptq", Scheme: Scheme{Bits: bits, GroupSize: group, Symmetric: true}}, nil
}

func parseCompressedTensors(m map[string]any, name string) (*Quantization, error) {
	fail := func(format string, args ...any) (*Quantization, error) {
		return nil, fmt.Errorf("intq: %s: compressed-tensors: "+format, append([]any{name}, args...)...)
	}
	topFormat, _ := m["format"].(string)
	groups, ok := m["config_groups"].(map[string]any)
	if !ok || len(groups) == 0 {
		return fail("config_groups missing")
	}
	q := &Quantization{Method: "compressed-tensors"}
	for gname, gv := range groups {
		g, ok := gv.(map[string]any)
		if !ok {
			return fail("config group %q is not an object", gname)
		}
		format, _ := g["format"].(string)
		if format == "" {
			format = topFormat
		}
		if format != "pack-quantized" {
			return fail("config group %q: format %q is not supported (pack-quantized is)", gname, format)
		}
		w, ok := g["weights"].(map[string]any)
		if !ok {
			return fail("config group %q has no weights", gname)
		}
		if t, _ := w["type"].(string); t != "int" {
			return fail("config group %q: weight type %q is not supported (int is)", gname, t)
		}
		bits, group, err := bitsAndGroup(w, "num_bits")
		if err != nil {
			return fail("config group %q: %v", gname, err)
		}
		switch strategy, _ := w["strategy"].(string); strategy {
		case "group":
		case "channel":
			group = -1
		default:
			return fail("config group %q: strategy %q is not supported (group and channel are)", gname, strategy)
		}
		sym, err := boolField(w, "symmetric", true)
		if err != nil {
			return fail("config group %q: %v", gname, err)
		}
		if ao, _ := w["actorder"].(string); ao != "" && ao != "static" {
			return fail("config group %q: actorder %q is not supported", gname, ao)
		}
		cg := ctGroup{name: gname, scheme: Scheme{Bits: bits, GroupSize: group, Symmetric: sym}}
		ts, _ := g["targets"].([]any)
		for _, t := range ts {
			s, ok := t.(string)
			if !ok {
				return fail("config group %q: target %v is not a string", gname, t)
			}
			pat, isRE := strings.CutPrefix(s, "re:")
			if !isRE {
				cg.targets = append(cg.targets, s)
				continue
			}
			re, err := regexp.Compile("^(?:" + pat + ")")
			if err != nil {
				return fail("config group %q: target %q: %v", gname, s, err)
			}
			cg.res = append(cg.res, re)
		}
		q.groups = append(q.groups, cg)
	}
	// Map order is random; name order makes the choice reproducible.
	slices.SortFunc(q.groups, func(a, b ctGroup) int { return strings.Compare(a.name, b.name) })
	q.Scheme = q.groups[0].scheme
	return q, nil
}

// SchemeFor returns the scheme of module (a path such as
// "model.layers.0.self_attn.q_proj"); false means the configuration leaves
// it unquantized.
func (q *Quantization) SchemeFor(module string) (Scheme, bool) {
	switch q.Method {
	case "compressed-tensors":
		// "Linear" targets every Linear; other targets are module names
		// or "re:" patterns, as compressed-tensors matches them.
		for _, g := range q.groups {
			for _, t := range g.targets {
				if t == "Linear" || t == module {
					return g.scheme, true
				}
			}
			for _, re := range g.res {
				if re.MatchString(module) {
					return g.scheme, true
				}
			}
		}
		return Scheme{}, false
	case "mlx":
		s := q.Scheme
		switch v := q.mlx[module].(type) {
		case bool:
			return s, v
		case map[string]any:
			if b, ok, err := intField(v, "bits"); ok && err == nil {
				s.Bits = b
			}
			if g, ok, err := intField(v, "group_size"); ok && err == nil {
				s.GroupSize = g
			}
		}
		return s, true
	}
	return q.Scheme, true
}

// ConfigSection returns a JSON document holding only key of the config
// data (so that ParseQuantization reads that section alone), or nil when
// the key is absent or null. name labels errors.
func ConfigSection(data []byte, key, name string) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("intq: %s: %w", name, err)
	}
	raw, ok := top[key]
	if !ok || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	return json.Marshal(map[string]json.RawMessage{key: raw})
}
