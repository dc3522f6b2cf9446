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

// HumanSize formats a byte count exactly as Circus's bytes2human formats
// mem_info1/mem_info2: the largest binary unit that fits, with two
// decimals ("13.84M", "512.00K", "1.20G"), or whole bytes below 1 KiB
// ("800B"). Circus's tools read the number back (human2bytes: the
// resource_watcher plugin's max_mem, FullStats' mem_max), so the two
// decimals matter: "13M" for 13.84 MiB was 6 % short.
func HumanSize(n uint64) string {
	for i := len(sizeSymbols) - 1; i >= 0; i-- {
		unit := uint64(1) << (10 * (i + 1))
		if n < unit {
			continue
		}
		// AppendFloat rounds half to even, as Python's round and format
		// do. One allocation: the stats stream formats two per worker
		// every second.
		var buf [32]byte
		b := strconv.AppendFloat(buf[:0], float64(n)/float64(unit), 'f', 2, 64)
		return string(append(b, sizeSymbols[i]))
	}
	var buf [24]byte
	return string(append(strconv.AppendUint(buf[:0], n, 10), 'B'))
}

// formatCPUTime renders CPU time given in clock ticks (1/100 s) as
// "M:SS.cc", the shape Circus gives `ctime`. Unlike Circus, minutes are not
// wrapped at 60: 2 h of CPU time is "120:00.00".
func formatCPUTime(ticks uint64) string {
	secs := ticks / userHZ
	var buf [32]byte
	b := strconv.AppendUint(buf[:0], secs/60, 10)
	b = append(b, ':', byte('0'+secs%60/10), byte('0'+secs%10), '.', byte('0'+ticks%userHZ/10), byte('0'+ticks%10))
	return string(b)
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
