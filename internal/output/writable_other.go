//go:build !unix

package output

import "os"

// writable tries creating a file in dir, the only portable test.
func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".mxq-probe-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}
