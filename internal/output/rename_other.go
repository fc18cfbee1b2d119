//go:build !linux

package output

// renameExclusive has no atomic form here; renameNoReplace falls back.
func renameExclusive(from, to string) error { return errUnsupported }
