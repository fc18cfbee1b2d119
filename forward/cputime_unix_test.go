//go:build unix

package forward

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used so far (user and system),
// which on a shared machine measures work better than wall time.
func cpuTime() time.Duration {
	var u syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &u) != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
