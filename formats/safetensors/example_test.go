package safetensors_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"path/filepath"

	"github.com/mxq-dev/mxq/formats/safetensors"
)

// Open a sharded Hugging Face checkpoint and read one tensor as float32.
func ExampleOpenCheckpoint() {
	c, err := safetensors.OpenCheckpoint("../../testdata/tiny-mixtral")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	fmt.Println(len(c.Files), "shards,", len(c.Tensors()), "tensors,", c.TotalSize, "bytes")
	norm, _ := c.Lookup("model.norm.weight")
	vals := make([]float32, norm.NumElements())
	if err := norm.ReadFloat32(vals); err != nil {
		log.Fatal(err)
	}
	fmt.Println(norm.DType, norm.Shape, filepath.Base(norm.File.Name), vals[:3])
	// Output:
	// 3 shards, 65 tensors, 14428672 bytes
	// BF16 [256] model-00003-of-00003.safetensors [1.078125 0.97265625 0.87890625]
}

// Lay out a file, write it, and read it back.
func ExampleWriteFile() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")

	values := map[string][]float32{
		"bias":   {0.5, -0.5},
		"weight": {1, 2, 3, 4, 5, 6},
	}
	layout, err := safetensors.NewLayout(map[string]string{"format": "pt"}, []safetensors.TensorInfo{
		{Name: "weight", DType: safetensors.F32, Shape: []int64{2, 3}},
		{Name: "bias", DType: safetensors.F32, Shape: []int64{2}},
	})
	if err != nil {
		log.Fatal(err)
	}
	err = safetensors.WriteFile(path, layout, func(name string, w io.Writer) error {
		var b []byte
		for _, v := range values[name] {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		_, err := w.Write(b)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}

	f, err := safetensors.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	for _, t := range f.Tensors {
		vals := make([]float32, t.NumElements())
		if err := (safetensors.Tensor{TensorInfo: t, File: f}).ReadFloat32(vals); err != nil {
			log.Fatal(err)
		}
		fmt.Println(t.Name, t.Shape, vals)
	}
	// Output:
	// bias [2] [0.5 -0.5]
	// weight [2 3] [1 2 3 4 5 6]
}

// Split tensors into shards and produce the index that goes with them.
func ExamplePlanShards() {
	tensors := []safetensors.TensorInfo{
		{Name: "model.embed_tokens.weight", DType: safetensors.BF16, Shape: []int64{1000, 64}},
		{Name: "model.layers.0.mlp.weight", DType: safetensors.BF16, Shape: []int64{64, 64}},
		{Name: "lm_head.weight", DType: safetensors.BF16, Shape: []int64{1000, 64}},
	}
	shards := safetensors.PlanShards(tensors, 150_000)
	for i, shard := range shards {
		fmt.Println(safetensors.ShardName(i, len(shards)), len(shard), "tensors")
	}
	index, err := safetensors.MarshalIndex(safetensors.NewIndex(shards))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(index))
	// Output:
	// model-00001-of-00002.safetensors 2 tensors
	// model-00002-of-00002.safetensors 1 tensors
	// {
	//   "metadata": {
	//     "total_size": 264192
	//   },
	//   "weight_map": {
	//     "lm_head.weight": "model-00002-of-00002.safetensors",
	//     "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
	//     "model.layers.0.mlp.weight": "model-00001-of-00002.safetensors"
	//   }
	// }
}
