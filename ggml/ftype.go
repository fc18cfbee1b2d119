package ggml

import (
	"fmt"
	"strings"
)

// FileType is llama.cpp's LLAMA_FTYPE, stored as general.file_type. It is a
// different enum from ggml.h's ggml_ftype.
type FileType uint32

const (
	FileTypeAllF32    FileType = 0
	FileTypeMostlyF16 FileType = 1
	FileTypeQ4_0      FileType = 2
	FileTypeQ4_1      FileType = 3
	FileTypeQ8_0      FileType = 7
	FileTypeQ5_0      FileType = 8
	FileTypeQ5_1      FileType = 9
	FileTypeQ2_K      FileType = 10
	FileTypeQ3_K_S    FileType = 11
	FileTypeQ3_K_M    FileType = 12
	FileTypeQ3_K_L    FileType = 13
	FileTypeQ4_K_S    FileType = 14
	FileTypeQ4_K_M    FileType = 15
	FileTypeQ5_K_S    FileType = 16
	FileTypeQ5_K_M    FileType = 17
	FileTypeQ6_K      FileType = 18
	FileTypeQ2_K_S    FileType = 21
	FileTypeBF16      FileType = 32
)

// The non-linear 4-bit, ternary and MXFP4 file types.
const (
	FileTypeIQ4_NL    FileType = 25
	FileTypeIQ4_XS    FileType = 30
	FileTypeTQ1_0     FileType = 36
	FileTypeTQ2_0     FileType = 37
	FileTypeMXFP4_MOE FileType = 38
)

var fileTypeNames = map[FileType]string{
	FileTypeAllF32:    "F32",
	FileTypeMostlyF16: "F16",
	FileTypeQ4_0:      "Q4_0",
	FileTypeQ4_1:      "Q4_1",
	FileTypeQ8_0:      "Q8_0",
	FileTypeQ5_0:      "Q5_0",
	FileTypeQ5_1:      "Q5_1",
	FileTypeQ2_K:      "Q2_K",
	FileTypeQ3_K_S:    "Q3_K_S",
	FileTypeQ3_K_M:    "Q3_K_M",
	FileTypeQ3_K_L:    "Q3_K_L",
	FileTypeQ4_K_S:    "Q4_K_S",
	FileTypeQ4_K_M:    "Q4_K_M",
	FileTypeQ5_K_S:    "Q5_K_S",
	FileTypeQ5_K_M:    "Q5_K_M",
	FileTypeQ6_K:      "Q6_K",
	FileTypeQ2_K_S:    "Q2_K_S",
	FileTypeBF16:      "BF16",
	FileTypeIQ4_NL:    "IQ4_NL",
	FileTypeIQ4_XS:    "IQ4_XS",
	FileTypeTQ1_0:     "TQ1_0",
	FileTypeTQ2_0:     "TQ2_0",
	FileTypeMXFP4_MOE: "MXFP4_MOE",
}

func (f FileType) String() string {
	if s, ok := fileTypeNames[f]; ok {
		return s
	}
	return fmt.Sprintf("ftype(%d)", uint32(f))
}

// DefaultType is the tensor type llama-quantize uses for a file type before
// its per-tensor rules (llama_ftype_get_default_type).
func (f FileType) DefaultType() Type {
	switch f {
	case FileTypeAllF32:
		return F32
	case FileTypeMostlyF16:
		return F16
	case FileTypeBF16:
		return BF16
	case FileTypeQ4_0:
		return Q4_0
	case FileTypeQ4_1:
		return Q4_1
	case FileTypeQ5_0:
		return Q5_0
	case FileTypeQ5_1:
		return Q5_1
	case FileTypeQ8_0:
		return Q8_0
	case FileTypeQ2_K, FileTypeQ2_K_S:
		return Q2_K
	case FileTypeQ3_K_S, FileTypeQ3_K_M, FileTypeQ3_K_L:
		return Q3_K
	case FileTypeQ4_K_S, FileTypeQ4_K_M:
		return Q4_K
	case FileTypeQ5_K_S, FileTypeQ5_K_M:
		return Q5_K
	case FileTypeQ6_K:
		return Q6_K
	case FileTypeIQ4_NL:
		return IQ4_NL
	case FileTypeIQ4_XS:
		return IQ4_XS
	case FileTypeTQ1_0:
		return TQ1_0
	case FileTypeTQ2_0:
		return TQ2_0
	case FileTypeMXFP4_MOE:
		return MXFP4
	}
	if d, ok := iqGridFileTypes[f]; ok {
		return d.def
	}
	return F32
}

// ParseFileType looks a file type up by name (e.g. "Q4_K_M"), case-insensitively.
func ParseFileType(name string) (FileType, error) {
	for f, s := range fileTypeNames {
		if strings.EqualFold(s, name) {
			return f, nil
		}
	}
	return 0, fmt.Errorf("unknown file type %q", name)
}
