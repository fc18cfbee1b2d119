package checkpoint

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/quant/intq"
)

// quantizedFile is a small safetensors file holding one quantized 32×32
// attention weight and, for MLX, two stacked experts.
func quantizedFile(t testing.TB, l intq.Layout, s intq.Scheme) []byte {
	t.Helper()
	w := make([]float32, 32*32)
	for i := range w {
		w[i] = float32(i%7) - 3
	}
	stored, _, err := l.Quantize(w, 32, 32, s)
	if err != nil {
		t.Fatal(err)
	}
	data := map[string][]byte{}
	var infos []safetensors.TensorInfo
	add := func(name string, st intq.Stored) {
		infos = append(infos, safetensors.TensorInfo{Name: name, DType: safetensors.DType(st.DType), Shape: st.Shape})
		data[name] = st.Data
	}
	for _, st := range stored {
		add("model.layers.0.self_attn.q_proj."+st.Suffix, st)
		if l == intq.MLX {
			two := intq.Stored{DType: st.DType, Shape: append([]int64{2}, st.Shape...), Data: append(append([]byte{}, st.Data...), st.Data...)}
			add("model.layers.0.block_sparse_moe.switch_mlp.up_proj."+st.Suffix, two)
		}
	}
	add("model.norm.weight", intq.Stored{DType: "F32", Shape: []int64{32}, Data: make([]byte, 128)})
	layout, err := safetensors.NewLayout(nil, infos)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.safetensors")
	err = safetensors.WriteFile(path, layout, func(name string, w io.Writer) error {
		_, err := w.Write(data[name])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// quantizations are one configuration per layout, as config.json holds it.
func quantizations(t testing.TB) []*intq.Quantization {
	var out []*intq.Quantization
	for _, cfg := range []string{
		`{"quantization_config": {"quant_method": "compressed-tensors", "format": "pack-quantized", "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "int", "symmetric": true, "strategy": "group", "group_size": 32}}}}}`,
		`{"quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 32, "sym": true}}`,
		`{"quantization": {"group_size": 32, "bits": 4, "mode": "affine"}}`,
	} {
		q, err := intq.ParseQuantization([]byte(cfg), "config.json")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, q)
	}
	return out
}

func fileTensors(data []byte) ([]safetensors.Tensor, error) {
	f, err := safetensors.NewFile(bytes.NewReader(data), int64(len(data)), "model.safetensors")
	if err != nil {
		return nil, err
	}
	var ts []safetensors.Tensor
	for _, info := range f.Tensors {
		ts = append(ts, safetensors.Tensor{TensorInfo: info, File: f})
	}
	return ts, nil
}

func TestLogicalSmall(t *testing.T) {
	for _, q := range quantizations(t) {
		s := q.Scheme
		s.ScaleDType = "BF16"
		if q.Method == "gptq" {
			s.ScaleDType = ""
		}
		ts, err := fileTensors(quantizedFile(t, q.Layout(), s))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Logical(ts, q)
		if err != nil {
			t.Fatalf("%s: %v", q.Method, err)
		}
		want := map[string]int64{"model.layers.0.self_attn.q_proj.weight": 32 * 32, "model.norm.weight": 32}
		if q.Method == "mlx" {
			want["model.layers.0.block_sparse_moe.experts.0.w3.weight"] = 32 * 32
			want["model.layers.0.block_sparse_moe.experts.1.w3.weight"] = 32 * 32
		}
		var bytes, stored int64
		for _, x := range got {
			if want[x.Name] != x.Params {
				t.Errorf("%s: %s holds %d parameters, want %d", q.Method, x.Name, x.Params, want[x.Name])
			}
			delete(want, x.Name)
			bytes += x.Bytes
		}
		for _, x := range ts {
			stored += x.ByteSize()
		}
		if len(want) > 0 || bytes != stored {
			t.Errorf("%s: missing %v; %d bytes counted of %d stored", q.Method, want, bytes, stored)
		}
	}
}

// FuzzLogical: any safetensors header read as any layout gives an error or
// logical tensors that account for every stored byte exactly once.
func FuzzLogical(f *testing.F) {
	qs := quantizations(f)
	for _, q := range qs {
		s := q.Scheme
		s.ScaleDType = "F16"
		f.Add(quantizedFile(f, q.Layout(), s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := fileTensors(data)
		if err != nil {
			return
		}
		var stored int64
		for _, x := range ts {
			stored += x.ByteSize()
		}
		for _, q := range qs {
			got, err := Logical(ts, q)
			if err != nil {
				continue
			}
			var n int64
			for _, x := range got {
				n += x.Bytes
				if x.Params < 0 || x.Name == "" {
					t.Fatalf("%s: tensor %+v", q.Method, x)
				}
			}
			if n != stored {
				b, _ := json.Marshal(got)
				t.Fatalf("%s: %d bytes counted of %d stored: %s", q.Method, n, stored, b)
			}
		}
	})
}
