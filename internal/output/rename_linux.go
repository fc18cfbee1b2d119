package output

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// renameExclusive renames with RENAME_NOREPLACE, which fails when to
// exists; errUnsupported when the kernel or file system lacks it.
func renameExclusive(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
		return errUnsupported
	}
	return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
}
