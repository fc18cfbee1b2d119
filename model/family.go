package model

import "github.com/mxq-dev/mxq/arch"

// ArchFamily is c's family as package arch declares it: Mixtral's for the
// Llama layout (Family ""), else the family Family names.
func (c *Config) ArchFamily() *arch.Family {
	if f, ok := arch.ByModelType(c.Family); ok && c.Family != "" {
		return f
	}
	return arch.Mixtral
}

// GGUFArch is llama.cpp's general.architecture for c.
func (c *Config) GGUFArch() string { return c.ArchFamily().GGUFArch }

// PermutesQK reports whether llama.cpp's GGUF of c stores q and k rows
// permuted for adjacent-pair RoPE.
func (c *Config) PermutesQK() bool { return c.ArchFamily().PermuteQK }

// familyName is Config.Family of a checkpoint of f: "" for the Llama
// layout of arch.Mixtral, else the family's name.
func familyName(f *arch.Family) string {
	if f == arch.Mixtral {
		return ""
	}
	return f.Name
}
