package procinfo

import (
	"fmt"
	"math"
	"strconv"
	"strings"
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

// round1 rounds to one decimal place, as psutil does for Circus's cpu.
func round1(f float64) float64 {
	return math.Round(f*10) / 10
}

// round3 rounds to three decimal places, as Circus does for mem.
func round3(f float64) float64 {
	return math.Round(f*1000) / 1000
}

// Float is a float64 that JSON always writes as a float ("0.0", never
// "0"), as Python's json module writes Circus's cpu and mem: a Python
// client then gets a float, whatever the value.
type Float float64

// MarshalJSON writes f with a decimal point.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, fmt.Errorf("procinfo: %v cannot be written as JSON", v)
	}
	b := strconv.AppendFloat(nil, v, 'f', -1, 64)
	if !strings.ContainsAny(string(b), ".e") {
		b = append(b, ".0"...)
	}
	return b, nil
}

// Float64 is f as a plain float64.
func (f Float) Float64() float64 { return float64(f) }
