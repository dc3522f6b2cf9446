package procinfo

import (
	"fmt"
	"math"
	"strconv"
)

// sizeSymbols are the binary prefixes HumanSize uses, 1 KiB = 1024 bytes, as
// Circus's bytes2human does.
const sizeSymbols = "KMGTPE"

// HumanSize formats a byte count the way Circus shows mem_info1/mem_info2:
// a whole number of the largest binary unit that fits ("14M", "512K",
// "800B"). Below 10 units one decimal is kept when it is not zero ("1.2G",
// "9.5M", "2G"), which Circus drops; digits are truncated, never rounded up,
// so a value never shows as the next unit's worth ("1023.9K" stays "1023K").
func HumanSize(n uint64) string {
	for i := len(sizeSymbols) - 1; i >= 0; i-- {
		unit := uint64(1) << (10 * (i + 1))
		if n < unit {
			continue
		}
		whole := n / unit
		if whole < 10 {
			tenths := (n % unit) * 10 / unit
			if tenths != 0 {
				return fmt.Sprintf("%d.%d%c", whole, tenths, sizeSymbols[i])
			}
		}
		return strconv.FormatUint(whole, 10) + string(sizeSymbols[i])
	}
	return strconv.FormatUint(n, 10) + "B"
}

// formatCPUTime renders CPU time given in clock ticks (1/100 s) as
// "M:SS.cc", the shape Circus gives `ctime`. Unlike Circus, minutes are not
// wrapped at 60: 2 h of CPU time is "120:00.00".
func formatCPUTime(ticks uint64) string {
	secs := ticks / userHZ
	return fmt.Sprintf("%d:%02d.%02d", secs/60, secs%60, ticks%userHZ)
}

// round1 rounds to one decimal place, as Circus does for cpu and mem.
func round1(f float64) float64 {
	return math.Round(f*10) / 10
}
