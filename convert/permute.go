package convert

// llama.cpp's converter reorders the rows of q_proj and k_proj so that the
// two halves of each head, which Hugging Face rotates as a pair
// (rotate-half RoPE), become adjacent rows, as llama.cpp's "normal" RoPE
// expects. Within each head of headDim rows, destination row 2i+j takes
// source row j*headDim/2 + i.

// permutedSource returns the source row of destination row r.
func permutedSource(r, headDim int) int {
	h, rem := r/headDim, r%headDim
	return h*headDim + (rem%2)*(headDim/2) + rem/2
}

// unpermutedSource is the inverse: the permuted row holding HF row r.
func unpermutedSource(r, headDim int) int {
	h, rem := r/headDim, r%headDim
	half := headDim / 2
	return h*headDim + 2*(rem%half) + rem/half
}

// permuteRows reorders whole rows of src (rows of cols values, a whole
// number of heads) into dst with source(row) giving each row's origin.
func permuteRows(dst, src []float32, rows, cols, headDim int, source func(r, headDim int) int) {
	for r := 0; r < rows; r++ {
		s := source(r, headDim)
		copy(dst[r*cols:(r+1)*cols], src[s*cols:(s+1)*cols])
	}
}
