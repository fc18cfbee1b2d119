package convert

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/quant/intq"
)

// Safetensors layouts for 8- and 4-bit weights.
const (
	LayoutCompressedTensors = "compressed-tensors" // pack-quantized, what vLLM loads natively
	LayoutGPTQ              = "gptq"               // AutoGPTQ v1
	LayoutMLX               = "mlx"                // mlx-lm affine
)

// Layouts lists the safetensors layouts, the default first.
func Layouts() []string { return []string{LayoutCompressedTensors, LayoutGPTQ, LayoutMLX} }

// DefaultShardSize is huggingface_hub's MAX_SHARD_SIZE, "5GB" = 5·10^9
// bytes of tensor data per shard.
const DefaultShardSize = 5_000_000_000

// SafetensorsOptions choose what a safetensors conversion produces.
type SafetensorsOptions struct {
	// Bits is 16 for a plain floating-point checkpoint in DType, or 8 or 4
	// for integer weights in Layout.
	Bits int
	// Layout is one of Layouts(); "" is compressed-tensors. Only for 8 and 4 bits.
	Layout string
	// GroupSize is the number of inputs sharing a scale: 32, 64 or 128, or
	// -1 for one scale per output channel (not MLX); 0 takes the layout's
	// default, 128 (64 for MLX).
	GroupSize int
	// DType is the floating-point dtype of unquantized tensors and scales:
	// BF16 or F16, or F32 at 16 bits. "" keeps a BF16 or F16 source's
	// dtype and is BF16 for anything else (a GGUF, an F32 checkpoint).
	DType safetensors.DType
	// ShardSize bounds the tensor bytes of each shard (a tensor larger than
	// that gets a shard of its own); 0 is DefaultShardSize, below 0 no limit.
	ShardSize int64
	// QuantizeEmbeddings and QuantizeHead also quantize the token
	// embedding (MLX only) and lm_head, which stay in DType by default.
	QuantizeEmbeddings, QuantizeHead bool
	// AllowRequantize lets integer layouts be made from a quantized GGUF.
	AllowRequantize bool
	// Replace lets Write replace an existing output folder.
	Replace bool
	Workers int // 0: all cores
	// Progress, if set, is called with source elements done and the total.
	Progress func(done, total int64)
}

// ParseDType reads a dtype as the command line spells it: bf16, fp16,
// fp32 (also f16, float16, bfloat16, ...).
func ParseDType(s string) (safetensors.DType, error) {
	switch strings.ToLower(s) {
	case "bf16", "bfloat16":
		return safetensors.BF16, nil
	case "fp16", "f16", "float16", "half":
		return safetensors.F16, nil
	case "fp32", "f32", "float32", "float":
		return safetensors.F32, nil
	}
	return "", fmt.Errorf("dtype %q: want bf16, fp16 or fp32", s)
}

// torchDType is the config.json spelling of a dtype.
func torchDType(d safetensors.DType) string {
	switch d {
	case safetensors.BF16:
		return "bfloat16"
	case safetensors.F16:
		return "float16"
	}
	return "float32"
}

// ggmlFloat is the ggml kernel whose rows are d's row-major bytes.
func ggmlFloat(d safetensors.DType) ggml.Type {
	switch d {
	case safetensors.BF16:
		return ggml.BF16
	case safetensors.F16:
		return ggml.F16
	}
	return ggml.F32
}

// ParseSize reads a shard size as transformers' convert_file_size_to_int
// does: a byte count, or a number with KB, MB, GB or TB (powers of 1000)
// or KiB, MiB, GiB or TiB (powers of 1024); a unit ending in a lower-case
// "b" ("5Gb") counts bits.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mul    float64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12}, {"b", 1},
	}
	mul, num := 1.0, t
	for _, u := range units {
		if len(t) > len(u.suffix) && strings.EqualFold(t[len(t)-len(u.suffix):], u.suffix) {
			mul, num = u.mul, strings.TrimSpace(t[:len(t)-len(u.suffix)])
			if len(u.suffix) == 2 && t[len(t)-1] == 'b' {
				mul /= 8
			}
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || !(v*mul >= 1 && v*mul < math.MaxInt64) {
		return 0, fmt.Errorf("size %q: want a positive number of bytes, optionally with a unit such as 5GB or 500MiB", s)
	}
	return int64(v * mul), nil
}

// target is the resolved form of SafetensorsOptions.
type target struct {
	dtype  safetensors.DType
	layout intq.Layout // nil: unquantized
	scheme intq.Scheme
}

func (tg target) String() string {
	if tg.layout == nil {
		return strings.ToLower(string(tg.dtype))
	}
	group := fmt.Sprintf("g%d", tg.scheme.GroupSize)
	if tg.scheme.GroupSize == -1 {
		group = "per-channel"
	}
	if tg.layout == intq.CompressedTensors {
		return fmt.Sprintf("%s W%dA16 %s", tg.layout.Name(), tg.scheme.Bits, group)
	}
	return fmt.Sprintf("%s %d-bit %s", tg.layout.Name(), tg.scheme.Bits, group)
}

// resolve checks the options and fills in defaults; def is the dtype an
// unset DType takes.
func (o SafetensorsOptions) resolve(def safetensors.DType) (target, error) {
	tg := target{dtype: o.DType}
	if tg.dtype == "" {
		tg.dtype = def
	}
	switch tg.dtype {
	case safetensors.BF16, safetensors.F16, safetensors.F32:
	default:
		return tg, optionErrorf("dtype %s: want BF16, F16 or F32", tg.dtype)
	}
	if o.Bits == 16 {
		switch {
		case o.Layout != "":
			return tg, optionErrorf("layout %s is for 8- and 4-bit weights; 16 bits writes a plain %s checkpoint", o.Layout, torchDType(tg.dtype))
		case o.GroupSize != 0:
			return tg, optionErrorf("a group size is for 8- and 4-bit weights, not 16 bits")
		case o.QuantizeEmbeddings || o.QuantizeHead:
			return tg, optionErrorf("quantizing embeddings or lm_head needs 8 or 4 bits")
		}
		return tg, nil
	}
	if o.Bits != 8 && o.Bits != 4 {
		return tg, optionErrorf("bits must be 16, 8 or 4, got %d", o.Bits)
	}
	if tg.dtype == safetensors.F32 {
		return tg, optionErrorf("8- and 4-bit layouts store bf16 or fp16 scales next to weights in the model dtype; dtype F32 is for 16-bit output only")
	}
	name := o.Layout
	if name == "" {
		name = LayoutCompressedTensors
	}
	group := o.GroupSize
	if group == 0 {
		group = 128
	}
	scale := string(tg.dtype)
	switch name {
	case LayoutCompressedTensors:
		tg.layout = intq.CompressedTensors
	case LayoutGPTQ:
		tg.layout = intq.GPTQ
	case LayoutMLX:
		tg.layout = intq.MLX
		if o.GroupSize == 0 {
			group = 64
		}
	default:
		return tg, optionErrorf("layout %q: want one of %s", name, strings.Join(Layouts(), ", "))
	}
	if o.QuantizeEmbeddings && tg.layout != intq.MLX {
		return tg, optionErrorf("layout %s quantizes Linear layers only; embeddings can be quantized in the mlx layout", name)
	}
	tg.scheme = intq.Scheme{Bits: o.Bits, GroupSize: group, Symmetric: true, ScaleDType: scale}
	// The config builders check bits and group size without a shape.
	var err error
	switch tg.layout {
	case intq.CompressedTensors:
		_, err = intq.CompressedTensorsConfig(tg.scheme, nil)
	case intq.GPTQ:
		_, err = intq.GPTQConfig(tg.scheme)
	default:
		_, err = intq.MLXConfig(tg.scheme, nil)
	}
	if err != nil {
		return tg, optionError{err.Error()}
	}
	return tg, nil
}

// ErrBadOptions is wrapped by the errors of PlanSafetensors that are about
// the options themselves (a layout and bits that do not go together, an
// unknown dtype), not about the source.
var ErrBadOptions = errors.New("invalid safetensors options")

type optionError struct{ msg string }

func optionErrorf(format string, args ...any) error {
	return optionError{fmt.Sprintf(format, args...)}
}

func (e optionError) Error() string        { return e.msg }
func (e optionError) Is(target error) bool { return target == ErrBadOptions }
