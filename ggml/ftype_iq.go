package ggml

// The file types whose tensors default to the lattice ("grid") IQ types.
const (
	FileTypeIQ2_XXS FileType = 19
	FileTypeIQ2_XS  FileType = 20
	FileTypeIQ3_XS  FileType = 22
	FileTypeIQ3_XXS FileType = 23
	FileTypeIQ1_S   FileType = 24
	FileTypeIQ3_S   FileType = 26
	FileTypeIQ3_M   FileType = 27
	FileTypeIQ2_S   FileType = 28
	FileTypeIQ2_M   FileType = 29
	FileTypeIQ1_M   FileType = 31
)

// iqGridFileTypes names them and gives their default tensor type
// (llama_ftype_get_default_type: IQ2_S files default to IQ2_XS, IQ2_M to
// IQ2_S, IQ3_XS and IQ3_M to IQ3_S).
var iqGridFileTypes = map[FileType]struct {
	name string
	def  Type
}{
	FileTypeIQ2_XXS: {"IQ2_XXS", IQ2_XXS},
	FileTypeIQ2_XS:  {"IQ2_XS", IQ2_XS},
	FileTypeIQ3_XS:  {"IQ3_XS", IQ3_S},
	FileTypeIQ3_XXS: {"IQ3_XXS", IQ3_XXS},
	FileTypeIQ1_S:   {"IQ1_S", IQ1_S},
	FileTypeIQ3_S:   {"IQ3_S", IQ3_S},
	FileTypeIQ3_M:   {"IQ3_M", IQ3_S},
	FileTypeIQ2_S:   {"IQ2_S", IQ2_XS},
	FileTypeIQ2_M:   {"IQ2_M", IQ2_S},
	FileTypeIQ1_M:   {"IQ1_M", IQ1_M},
}

func init() {
	for f, d := range iqGridFileTypes {
		fileTypeNames[f] = d.name
	}
}
