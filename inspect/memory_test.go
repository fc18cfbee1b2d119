package inspect

import (
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

func weight(r *Report, name string) WeightOption {
	for _, w := range r.Memory.Weights {
		if w.Name == name {
			return w
		}
	}
	return WeightOption{}
}

func TestMixtralMemory(t *testing.T) {
	r := mustInspect(t, fullConfig, Options{})
	m := r.Memory
	sizes := map[string]int64{
		"fp32": 4 * full.total, "fp16/bf16": 2 * full.total, "int8": full.total, "int4": full.total / 2,
		"F16": 93_408_215_040, "Q8_0": 49_625_579_520, "Q6_K": 38_380_077_056,
		"Q5_K_M": 33_228_840_960, "Q4_K_M": 28_447_727_616, "Q4_0": 26_442_850_304,
	}
	for name, want := range sizes {
		if got := weight(r, name).Bytes; got != want {
			t.Errorf("%s: %d bytes, want %d", name, got, want)
		}
	}
	q4 := weight(r, "Q4_K_M")
	if q4.BitsPerWeight < 4.87 || q4.BitsPerWeight >= 4.88 || q4.TokenEmbdBytes != 32000*4096/256*144 {
		t.Errorf("Q4_K_M %+v", q4)
	}
	if r.Settings.Context != 32768 || !r.Settings.ContextDefault || r.Settings.KVType != "f16" {
		t.Errorf("settings %+v", r.Settings)
	}
	kv := map[string]int64{"f16": 4_294_967_296, "q8_0": 2_281_701_376, "q4_0": 1_207_959_552}
	for _, o := range m.KV.ByType {
		if o.Bytes != kv[o.Type] {
			t.Errorf("KV %s: %d, want %d", o.Type, o.Bytes, kv[o.Type])
		}
	}
	if m.KV.Bytes != kv["f16"] || m.KV.BytesPerToken != 131_072 {
		t.Errorf("KV %+v", m.KV)
	}
	// Compute buffer: 512 tokens over a 32768-cell cache, 32 heads.
	c := m.Compute
	wantAttn := int64(4*512*(32+16)*128 + 4*512*4096 + 4*32768*512*32)
	wantFFN := int64(4 * 512 * (8 + 2*(3*14336+4096) + 4096))
	wantIn := int64(4*512*4096 + 4*32768*512)
	if c.Tokens != 512 || c.Attention != wantAttn || c.FFN != wantFFN || c.Inputs != wantIn || c.Logits != 4*32000*512 ||
		c.Bytes != wantIn+wantAttn+4*32000*512 {
		t.Errorf("compute %+v", c)
	}
	for _, f := range m.Fit {
		if f.Weights != "Q4_K_M" {
			continue
		}
		if want := q4.Bytes - q4.TokenEmbdBytes + kv["f16"] + c.Bytes; f.GPUBytes != want || f.CPUBytes != q4.TokenEmbdBytes {
			t.Errorf("Q4_K_M fit %+v, want GPU %d", f, want)
		}
		need := map[float64]int{24: 2, 40: 1, 48: 1, 80: 1, 141: 1}
		for _, cell := range f.GPUs {
			if cell.Needed != need[cell.SizeGB] || cell.Fits != (need[cell.SizeGB] == 1) {
				t.Errorf("Q4_K_M on %v GB: %+v", cell.SizeGB, cell)
			}
		}
	}
	o := m.Offload
	if o == nil || o.Weights != "Q4_K_M" || o.Layers != 32 {
		t.Fatalf("offload %+v", o)
	}
	all := o.AllExpertsOnCPU
	if all.NCPUMoE != 32 || all.CPUBytes != q4.ExpertBytes+q4.TokenEmbdBytes ||
		all.GPUBytes != q4.Bytes-q4.ExpertBytes-q4.TokenEmbdBytes+kv["f16"]+c.Bytes {
		t.Errorf("all experts on CPU %+v", all)
	}
	for i := 1; i < len(o.Steps); i++ {
		a, b := o.Steps[i-1], o.Steps[i]
		if b.NCPUMoE <= a.NCPUMoE || b.GPUBytes >= a.GPUBytes || b.CPUBytes <= a.CPUBytes || a.GPUBytes+a.CPUBytes != b.GPUBytes+b.CPUBytes {
			t.Errorf("steps not monotonic or not conserving bytes: %+v then %+v", a, b)
		}
	}
	w, err := ggufSet(loadConfig(t, fullConfig), ggml.FileTypeQ4_K_M)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range o.PerGPU {
		if !f.Fits || f.GPUBytes > int64(f.SizeGB*GB) || f.OffloadStep != offloadStep(w, f.NCPUMoE, kv["f16"], c.Bytes) {
			t.Errorf("%v GB: %+v", f.SizeGB, f)
		}
		if f.NCPUMoE > 0 {
			// One layer fewer in RAM must not fit.
			if prev := offloadStep(w, f.NCPUMoE-1, kv["f16"], c.Bytes); prev.GPUBytes <= int64(f.SizeGB*GB) {
				t.Errorf("%v GB: --n-cpu-moe %d already fits", f.SizeGB, f.NCPUMoE-1)
			}
		}
	}
	if o.PerGPU[0].SizeGB != 24 || o.PerGPU[0].NCPUMoE == 0 || o.PerGPU[1].NCPUMoE != 0 {
		t.Errorf("per GPU %+v", o.PerGPU)
	}
}

func TestMemoryOptions(t *testing.T) {
	r := mustInspect(t, fullConfig, Options{Context: 8192, Batch: 2, KVType: "Q8_0", FlashAttention: true, UBatch: 256,
		OffloadQuant: "q6_k", GPUSizesGB: []float64{16}})
	m := r.Memory
	if m.KV.Bytes != 2*32*1088*8192*2 || m.KV.Type != "q8_0" || r.Settings.ContextDefault {
		t.Errorf("KV %+v", m.KV)
	}
	c := m.Compute
	if !c.FlashAttention || c.Tokens != 256 || c.KVLength != 16384 || c.Attention != 4*256*(32+16)*128+4*256*4096 ||
		c.Inputs != 4*256*4096+2*16384*256 {
		t.Errorf("compute %+v", c)
	}
	if m.Offload.Weights != "Q6_K" || len(m.Offload.PerGPU) != 1 || m.Fit[0].GPUs[0].SizeGB != 16 {
		t.Errorf("offload %s, per GPU %+v", m.Offload.Weights, m.Offload.PerGPU)
	}
	// A small GPU that cannot hold even the shared part.
	r = mustInspect(t, fullConfig, Options{GPUSizesGB: []float64{4}})
	if f := r.Memory.Offload.PerGPU[0]; f.Fits || f.NCPUMoE != 32 {
		t.Errorf("4 GB: %+v", f)
	}
	// 4 GB minus a 2.3 GB compute buffer leaves 1.7 GB: no 16-bit layer
	// (2.9 GB) fits; a Q4_K_M layer with its KV share (1.0 GB) fits alone.
	need := map[string]int{"fp32": 0, "fp16/bf16": 0, "F16": 0, "Q4_K_M": 32}
	for _, f := range r.Memory.Fit {
		if want, ok := need[f.Weights]; ok && f.GPUs[0].Needed != want {
			t.Errorf("%s on 4 GB: needs %d GPUs, want %d", f.Weights, f.GPUs[0].Needed, want)
		}
	}
}

func TestGPUsNeeded(t *testing.T) {
	w := newWeightSet("x", "gguf", 4)
	w.llamaCPP = true
	w.tokenEmbd = 100
	w.tail = 10
	for i := range 4 {
		w.layerShared[i] = 20
		w.layerExperts[i] = 30
	}
	tests := []struct {
		kvLayer, compute, capacity int64
		want                       int
	}{
		{0, 0, 1000, 1},    // 4×50 + 10 on one
		{0, 0, 100, 3},     // 50+50 | 50+50 | 10
		{0, 0, 110, 2},     // 50+50 | 50+50+10
		{0, 10, 110, 3},    // each GPU loses 10 to compute
		{10, 0, 120, 3},    // 60+60 | 60+60 | 10
		{0, 0, 49, 0},      // a layer does not fit
		{0, 200, 100, 0},   // compute alone exceeds the GPU
		{70, 0, 10_000, 1}, // KV counted per layer
	}
	for _, tt := range tests {
		if got := gpusNeeded(w, tt.kvLayer, tt.compute, tt.capacity); got != tt.want {
			t.Errorf("gpusNeeded(kv %d, compute %d, cap %d) = %d, want %d", tt.kvLayer, tt.compute, tt.capacity, got, tt.want)
		}
	}
	// Without llama.cpp's placement the embedding goes on the GPU too.
	w.llamaCPP = false
	if got := gpusNeeded(w, 0, 0, 110); got != 3 {
		t.Errorf("plain: %d GPUs, want 3 (100 | 50+50 | 50+50+10)", got)
	}
}

func TestDenseMemory(t *testing.T) {
	dir := t.TempDir()
	cfg := `{"architectures":["MistralForCausalLM"],"model_type":"mistral","hidden_size":4096,"intermediate_size":14336,
"num_hidden_layers":32,"num_attention_heads":32,"num_key_value_heads":8,"vocab_size":32000,"max_position_embeddings":32768,
"sliding_window":4096,"rope_theta":10000.0,"rms_norm_eps":1e-05,"torch_dtype":"bfloat16"}`
	p := dir + "/config.json"
	if err := writeFile(p, cfg); err != nil {
		t.Fatal(err)
	}
	r := mustInspect(t, p, Options{})
	if r.Params.Total != 7_241_732_096 || r.Naive != nil || r.Memory.Offload != nil {
		t.Errorf("total %d naive %v offload %v", r.Params.Total, r.Naive, r.Memory.Offload)
	}
	c := r.Memory.Compute
	if c.FFN != 4*512*(3*14336+4096) {
		t.Errorf("dense ffn %d", c.FFN)
	}
	if codes(r)["sliding-window"] != SeverityInfo {
		t.Errorf("findings %+v", r.Findings)
	}
}
