//go:build !unix

package forward

import "time"

// cpuTime is unknown here: benchmarks report no CPU-time figures.
func cpuTime() time.Duration { return 0 }
