//go:build unix

package output

import "golang.org/x/sys/unix"

// writable reports whether the process may create files in dir, as the
// kernel decides (permissions, a read-only mount), without creating one.
func writable(dir string) error {
	return unix.Access(dir, unix.W_OK)
}
