package ggml

import "testing"

func TestTypeGeometry(t *testing.T) {
	tests := []struct {
		typ       Type
		name      string
		block     int
		bytes     int
		bpw       float64
		quantized bool
		rowOf4096 int64
	}{
		{F32, "F32", 1, 4, 32, false, 16384},
		{F16, "F16", 1, 2, 16, false, 8192},
		{BF16, "BF16", 1, 2, 16, false, 8192},
		{Q8_0, "Q8_0", 32, 34, 8.5, true, 4352},
		{Q4_0, "Q4_0", 32, 18, 4.5, true, 2304},
		{Q4_1, "Q4_1", 32, 20, 5, true, 2560},
		{Q5_0, "Q5_0", 32, 22, 5.5, true, 2816},
		{Q5_1, "Q5_1", 32, 24, 6, true, 3072},
		{Q2_K, "Q2_K", 256, 84, 2.625, true, 1344},
		{Q3_K, "Q3_K", 256, 110, 3.4375, true, 1760},
		{Q4_K, "Q4_K", 256, 144, 4.5, true, 2304},
		{Q5_K, "Q5_K", 256, 176, 5.5, true, 2816},
		{Q6_K, "Q6_K", 256, 210, 6.5625, true, 3360},
		{Q8_K, "Q8_K", 256, 292, 9.125, true, 4672},
	}
	for _, tc := range tests {
		if tc.typ.String() != tc.name || tc.typ.BlockSize() != tc.block || tc.typ.TypeSize() != tc.bytes ||
			tc.typ.BitsPerWeight() != tc.bpw || tc.typ.IsQuantized() != tc.quantized {
			t.Errorf("%s: got %s block %d bytes %d bpw %g quantized %v", tc.name, tc.typ, tc.typ.BlockSize(),
				tc.typ.TypeSize(), tc.typ.BitsPerWeight(), tc.typ.IsQuantized())
		}
		if n, err := tc.typ.RowSize(4096); err != nil || n != tc.rowOf4096 {
			t.Errorf("%s: RowSize(4096) = %d, %v; want %d", tc.name, n, err, tc.rowOf4096)
		}
		if got, err := ParseType(tc.name); err != nil || got != tc.typ {
			t.Errorf("ParseType(%q) = %v, %v", tc.name, got, err)
		}
	}
	if _, err := Q4_K.RowSize(100); err == nil {
		t.Error("RowSize accepted a length that is not a whole number of blocks")
	}
	for _, removed := range []Type{4, 5, 31, 32, 33, 36, 37, 38, 200} {
		if removed.Known() || removed.BlockSize() != 0 {
			t.Errorf("type id %d should be unknown", removed)
		}
		if _, err := removed.RowSize(32); err == nil {
			t.Errorf("RowSize of unknown type %d succeeded", removed)
		}
	}
	if _, err := ParseType("Q9_9"); err == nil {
		t.Error("ParseType accepted an unknown name")
	}
}

func TestFileTypes(t *testing.T) {
	tests := []struct {
		name string
		id   FileType
		def  Type
	}{
		{"F32", 0, F32}, {"F16", 1, F16}, {"Q4_0", 2, Q4_0}, {"Q4_1", 3, Q4_1}, {"Q8_0", 7, Q8_0},
		{"Q5_0", 8, Q5_0}, {"Q5_1", 9, Q5_1}, {"Q2_K", 10, Q2_K}, {"Q3_K_S", 11, Q3_K}, {"Q3_K_M", 12, Q3_K},
		{"Q3_K_L", 13, Q3_K}, {"Q4_K_S", 14, Q4_K}, {"Q4_K_M", 15, Q4_K}, {"Q5_K_S", 16, Q5_K},
		{"Q5_K_M", 17, Q5_K}, {"Q6_K", 18, Q6_K}, {"Q2_K_S", 21, Q2_K}, {"BF16", 32, BF16},
		{"IQ4_NL", 25, IQ4_NL}, {"IQ4_XS", 30, IQ4_XS}, {"TQ1_0", 36, TQ1_0}, {"TQ2_0", 37, TQ2_0},
		{"MXFP4_MOE", 38, MXFP4},
	}
	for _, tc := range tests {
		ft, err := ParseFileType(tc.name)
		if err != nil || ft != tc.id || ft.String() != tc.name || ft.DefaultType() != tc.def {
			t.Errorf("%s: parsed %d (%v), default %s", tc.name, ft, err, ft.DefaultType())
		}
	}
	if _, err := ParseFileType("Q4_K_X"); err == nil {
		t.Error("ParseFileType accepted an unknown name")
	}
}
