package intq

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

const (
	ctConfig = `{"model_type": "mixtral", "quantization_config": {"quant_method": "compressed-tensors", "format": "pack-quantized",
 "config_groups": {
  "group_1": {"targets": ["re:.*self_attn.*"], "weights": {"num_bits": 8, "type": "int", "symmetric": false, "strategy": "channel", "group_size": null}},
  "group_0": {"targets": ["re:.*experts.*", "lm_head"], "weights": {"num_bits": 4, "type": "int", "symmetric": true, "strategy": "group", "group_size": 128}}},
 "ignore": ["re:.*block_sparse_moe.gate"]}}`
	gptqConfig = `{"bits": 4, "group_size": 128, "desc_act": false, "sym": true, "checkpoint_format": "gptq"}`
	mlxConfig  = `{"model_type": "mixtral", "quantization": {"group_size": 64, "bits": 4, "mode": "affine",
 "model.layers.0.block_sparse_moe.gate": false, "model.embed_tokens": {"group_size": 32, "bits": 8}},
 "quantization_config": {"group_size": 64, "bits": 4}}`
)

func TestParseQuantization(t *testing.T) {
	type want struct {
		module string
		scheme Scheme
		ok     bool
	}
	for _, tc := range []struct {
		name, json, method string
		modules            []want
	}{
		{"compressed-tensors groups", ctConfig, "compressed-tensors", []want{
			{"model.layers.3.self_attn.q_proj", Scheme{Bits: 8, GroupSize: -1}, true},
			{"model.layers.3.block_sparse_moe.experts.7.w2", Scheme{Bits: 4, GroupSize: 128, Symmetric: true}, true},
			{"lm_head", Scheme{Bits: 4, GroupSize: 128, Symmetric: true}, true},
			{"model.layers.3.block_sparse_moe.gate", Scheme{}, false},
		}},
		{"quantize_config.json", gptqConfig, "gptq", []want{
			{"model.layers.0.self_attn.o_proj", Scheme{Bits: 4, GroupSize: 128, Symmetric: true}, true},
		}},
		{"gptq in config.json", `{"quantization_config": {"quant_method": "gptq", "bits": 8, "group_size": -1, "sym": true}}`, "gptq", []want{
			{"model.layers.0.self_attn.o_proj", Scheme{Bits: 8, GroupSize: -1, Symmetric: true}, true},
		}},
		{"mlx overrides", mlxConfig, "mlx", []want{
			{"model.layers.0.block_sparse_moe.switch_mlp.up_proj", Scheme{Bits: 4, GroupSize: 64}, true},
			{"model.layers.0.block_sparse_moe.gate", Scheme{Bits: 4, GroupSize: 64}, false},
			{"model.embed_tokens", Scheme{Bits: 8, GroupSize: 32}, true},
		}},
		{"mlx copy only", `{"quantization_config": {"group_size": 32, "bits": 8, "mode": "affine"}}`, "mlx", []want{
			{"lm_head", Scheme{Bits: 8, GroupSize: 32}, true},
		}},
		{"unquantized", `{"model_type": "mixtral", "quantization_config": null}`, "", nil},
	} {
		q, err := ParseQuantization([]byte(tc.json), "config.json")
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if tc.method == "" {
			if q != nil {
				t.Errorf("%s: got %+v, want none", tc.name, q)
			}
			continue
		}
		if q == nil || q.Method != tc.method {
			t.Errorf("%s: got %+v, want method %s", tc.name, q, tc.method)
			continue
		}
		for _, w := range tc.modules {
			s, ok := q.SchemeFor(w.module)
			if ok != w.ok || (ok && s != w.scheme) {
				t.Errorf("%s: %s: scheme %+v %v, want %+v %v", tc.name, w.module, s, ok, w.scheme, w.ok)
			}
		}
	}
}

func TestParseQuantizationErrors(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"quantization_config": {"quant_method": "awq", "bits": 4}}`, `quant_method "awq" is not supported`},
		{`{"quantization_config": {"quant_method": "gptq", "bits": 4, "checkpoint_format": "gptq_v2"}}`, `checkpoint_format "gptq_v2"`},
		{`{"quantization_config": {"quant_method": "gptq", "bits": 4.5}}`, `"bits" = 4.5 is not an integer`},
		{`{"quantization_config": {"quant_method": "gptq", "group_size": 128}}`, `"bits" missing`},
		{`{"quantization_config": {"quant_method": "compressed-tensors", "format": "naive-quantized", "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "int", "strategy": "channel"}}}}}`, `format "naive-quantized"`},
		{`{"quantization_config": {"quant_method": "compressed-tensors", "format": "pack-quantized", "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}}}}`, `weight type "float"`},
		{`{"quantization_config": {"quant_method": "compressed-tensors", "format": "pack-quantized", "config_groups": {"g": {"targets": ["re:("], "weights": {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 32}}}}}`, `target "re:("`},
		{`{"quantization_config": {"quant_method": "compressed-tensors"}}`, `config_groups missing`},
		{`{"quantization": {"group_size": 32, "bits": 4, "mode": "mxfp4"}}`, `mode "mxfp4"`},
		{`{"quantization": [1, 2]}`, `"quantization" is not an object`},
		{`{"quantization_config": {"foo": 1}}`, `no quant_method`},
		{`[`, `config.json`},
	} {
		_, err := ParseQuantization([]byte(tc.json), "config.json")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.json, err, tc.want)
		}
	}
}

func FuzzParseQuantization(f *testing.F) {
	for _, s := range []string{ctConfig, gptqConfig, mlxConfig, `{"quantization_config": {"quant_method": "gptq", "bits": 4}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Each section alone parses as the whole document would when it
		// is the only one.
		for _, key := range []string{"quantization", "quantization_config"} {
			section, err := ConfigSection(b, key, "fuzz.json")
			if err != nil || section == nil {
				continue
			}
			again, err := ConfigSection(section, key, "fuzz.json")
			if err != nil || !bytes.Equal(again, section) {
				t.Fatalf("section %s of %q re-read as %q, %v", key, section, again, err)
			}
			ParseQuantization(section, "fuzz.json")
		}
		q, err := ParseQuantization(b, "fuzz.json")
		if err != nil || q == nil {
			return
		}
		for _, m := range []string{"lm_head", "model.layers.0.self_attn.q_proj", "model.embed_tokens"} {
			s, ok := q.SchemeFor(m)
			if ok {
				q.Layout().Suffixes(s)
			}
		}
		_ = q.Layout().Name()
	})
}

// TestConfigRoundTrip: what each layout's config writer says, its reader
// reads back as the same method and scheme.
func TestConfigRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		key    string
		method string
		s      Scheme
		write  func(Scheme) (map[string]any, error)
	}{
		{"quantization_config", "compressed-tensors", Scheme{Bits: 4, GroupSize: 128, Symmetric: true, ScaleDType: "BF16"}, func(s Scheme) (map[string]any, error) { return CompressedTensorsConfig(s, []string{"lm_head"}) }},
		{"quantization_config", "compressed-tensors", Scheme{Bits: 8, GroupSize: -1, ScaleDType: "F16"}, func(s Scheme) (map[string]any, error) { return CompressedTensorsConfig(s, nil) }},
		{"quantization_config", "gptq", Scheme{Bits: 4, GroupSize: 32, Symmetric: true}, GPTQConfig},
		{"quantization_config", "gptq", Scheme{Bits: 8, GroupSize: -1, Symmetric: true}, GPTQConfig},
		{"quantization", "mlx", Scheme{Bits: 4, GroupSize: 64, ScaleDType: "BF16"}, func(s Scheme) (map[string]any, error) { return MLXConfig(s, []string{"lm_head"}) }},
		{"quantization_config", "mlx", Scheme{Bits: 8, GroupSize: 32, ScaleDType: "F16"}, func(s Scheme) (map[string]any, error) { return MLXConfig(s, nil) }},
	} {
		qc, err := tc.write(tc.s)
		if err != nil {
			t.Fatal(err)
		}
		data, err := json.Marshal(map[string]any{tc.key: qc})
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParseQuantization(data, "config.json")
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.s, err)
		}
		want := tc.s
		want.ScaleDType = "" // read from each module's stored scales
		if q == nil || q.Method != tc.method || q.Scheme != want || q.Layout().Name() != tc.method {
			t.Errorf("%s %s read back as %+v", tc.method, tc.s, q)
		}
	}
}

// FuzzLogicalShape: the shape a layout reads from stored tensors is one
// whose tensors, as the layout writes them, have exactly the stored shapes.
func FuzzLogicalShape(f *testing.F) {
	f.Add(uint8(4), int16(32), true, uint16(64), uint16(128), uint8(0), int8(0))
	f.Add(uint8(8), int16(-1), false, uint16(96), uint16(40), uint8(1), int8(3))
	f.Add(uint8(4), int16(128), true, uint16(256), uint16(256), uint8(2), int8(-1))
	f.Fuzz(func(t *testing.T, bits uint8, group int16, sym bool, out, in uint16, which uint8, delta int8) {
		for _, l := range []Layout{CompressedTensors, GPTQ, MLX} {
			s := Scheme{Bits: int(bits), GroupSize: int(group), Symmetric: sym, ScaleDType: "BF16"}
			if l == GPTQ {
				s.Symmetric, s.ScaleDType = true, ""
			}
			if l.Suffixes(s) == nil {
				continue
			}
			c := l.(layout).c
			if c.check(int(out), int(in), s) != nil || out == 0 || in == 0 {
				continue
			}
			stored := c.expect(int(out), int(in), s)
			for i := range stored {
				if stored[i].Suffix != "weight_shape" {
					stored[i].Data = nil
				}
			}
			k := int(which) % len(stored)
			if dims := stored[k].Shape; len(dims) > 0 {
				dims[int(which)%len(dims)] += int64(delta)
			}
			o, i, err := l.LogicalShape(stored, s)
			if delta == 0 && (err != nil || o != int(out) || i != int(in)) {
				t.Fatalf("%s %s %d×%d: read back %d×%d, %v", l.Name(), s, out, in, o, i, err)
			}
			if err != nil {
				continue
			}
			for _, w := range c.expect(o, i, s) {
				for _, g := range stored {
					if g.Suffix == w.Suffix && !equalShape(g.Shape, w.Shape) {
						t.Fatalf("%s %s: read %d×%d from %s %v, which that shape stores as %v", l.Name(), s, o, i, g.Suffix, g.Shape, w.Shape)
					}
				}
			}
		}
	})
}
