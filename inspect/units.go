package inspect

import (
	"fmt"
	"strconv"
	"strings"
)

// commas writes n with thousands separators: 46,702,792,704.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// short writes a parameter count the way model sizes are quoted: 46.7B,
// 7.24B, 12.9B, 262K (three significant digits, decimal units).
func short(n int64) string {
	f := float64(n)
	unit := ""
	for _, u := range []struct {
		v float64
		s string
	}{{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "K"}} {
		if f >= u.v || -f >= u.v {
			f /= u.v
			unit = u.s
			break
		}
	}
	if unit == "" {
		return strconv.FormatInt(n, 10)
	}
	switch a := max(f, -f); {
	case a >= 100:
		return fmt.Sprintf("%.0f%s", f, unit)
	case a >= 10:
		return fmt.Sprintf("%.1f%s", f, unit)
	}
	return fmt.Sprintf("%.2f%s", f, unit)
}

// gb writes bytes in GB (10^9) with two decimals.
func gb(b int64) string { return fmt.Sprintf("%.2f", float64(b)/GB) }

// size writes bytes in the largest decimal unit that keeps the value
// at least 1: 14.43 MB, 28.45 GB.
func size(b int64) string {
	f := float64(b)
	for _, u := range []struct {
		v float64
		s string
	}{{1e12, "TB"}, {1e9, "GB"}, {1e6, "MB"}, {1e3, "kB"}} {
		if f >= u.v {
			return fmt.Sprintf("%.2f %s", f/u.v, u.s)
		}
	}
	return fmt.Sprintf("%d B", b)
}

// pct writes part/whole as a percentage.
func pct(part, whole int64) string {
	if whole == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(part)/float64(whole))
}
