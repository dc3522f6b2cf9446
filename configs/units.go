// Names and units shared by the decoder and the rest of poold: sizes,
// signal names, rlimit resources.

package configs

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// errSizeTooLarge is a size past what 64 bits hold.
var errSizeTooLarge = errors.New("too large: a size holds at most 2^64-1 bytes (16 EiB)")

// sizeUnits are the suffixes a size may carry, as powers of 1024.
var sizeUnits = map[string]uint64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}

// ParseSize parses a size in bytes: digits, optionally fractional, with an
// optional binary-unit suffix K, M, G or T (any case, optionally followed
// by "B" or "iB"): "512M" = 512 MiB, "1.5G", "4096", "64KiB".
func ParseSize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	num := strings.TrimRightFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.ToLower(strings.TrimSpace(t[len(num):]))
	if num == "" && unit != "" {
		return 0, fmt.Errorf("size %q has no number", s)
	}
	if len(unit) > 1 {
		// "MB", "MiB": the letter is what counts.
		unit = strings.TrimSuffix(strings.TrimSuffix(unit, "b"), "i")
	}
	mult, ok := sizeUnits[unit]
	if unit == "b" {
		mult, ok = 1, true
	}
	if !ok || num == "" {
		return 0, fmt.Errorf("size %q: want a number of bytes with an optional K, M, G or T suffix", s)
	}
	if n, err := strconv.ParseUint(num, 10, 64); err == nil {
		if n > math.MaxUint64/mult {
			return 0, fmt.Errorf("size %q is %w", s, errSizeTooLarge)
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes with an optional K, M, G or T suffix", s)
	}
	b := math.Round(f * float64(mult))
	if b >= math.MaxUint64 {
		return 0, fmt.Errorf("size %q is %w", s, errSizeTooLarge)
	}
	return uint64(b), nil
}

// lastSignal is Linux's SIGRTMAX: numbers up to it are signals (kill(1)
// sends them), the real-time ones from rtMin on without a name of their
// own.
const (
	lastSignal = 64
	rtMin      = 34 // SIGRTMIN as glibc, and so Python and Circus, give it
)

// ParseSignal accepts "TERM", "SIGTERM", "term", a number ("15", or "40",
// a real-time signal, as circusd and kill(1) take it), or a real-time
// signal by name: "SIGRTMIN+2", "RTMIN", "rtmax-1" (Circus takes NAME+N).
func ParseSignal(s string) (syscall.Signal, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		return inRange(n, s)
	}
	up := strings.ToUpper(s)
	if !strings.HasPrefix(up, "SIG") {
		up = "SIG" + up
	}
	if sig := unix.SignalNum(up); sig != 0 {
		return sig, nil
	}
	if n, ok := realtime(up); ok {
		return inRange(n, s)
	}
	return 0, fmt.Errorf("unknown signal %q: use a name such as TERM or SIGRTMIN+2, or a number from 1 to %d", s, lastSignal)
}

// realtime reads SIGRTMIN[+-N] and SIGRTMAX[+-N].
func realtime(up string) (int, bool) {
	for name, base := range map[string]int{"SIGRTMIN": rtMin, "SIGRTMAX": lastSignal} {
		rest, ok := strings.CutPrefix(up, name)
		if !ok {
			continue
		}
		if rest == "" {
			return base, true
		}
		if rest[0] != '+' && rest[0] != '-' {
			return 0, false
		}
		off, err := strconv.Atoi(rest[1:])
		if err != nil || off < 0 {
			return 0, false
		}
		if rest[0] == '-' {
			off = -off
		}
		return base + off, true
	}
	return 0, false
}

// ErrSignalRange is a signal number outside 1..lastSignal: kill(2)
// would fail with EINVAL (circusd answers errno 4, an OS error).
var ErrSignalRange = errors.New("out of range")

func inRange(n int, given string) (syscall.Signal, error) {
	if n <= 0 || n > lastSignal {
		return 0, fmt.Errorf("signal %s is %w: signals are 1 to %d (the real-time ones %d to %d, SIGRTMIN to SIGRTMAX)", given, ErrSignalRange, lastSignal, rtMin, lastSignal)
	}
	return syscall.Signal(n), nil
}

// SignalName is the wire form of a signal: its name without "SIG"
// ("TERM"), or its number as a string when it has no name.
func SignalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return strings.TrimPrefix(n, "SIG")
	}
	return strconv.Itoa(int(sig))
}

// rlimitResources maps the accepted rlimits names to their resources.
var rlimitResources = map[string]int{
	"as":         unix.RLIMIT_AS,
	"core":       unix.RLIMIT_CORE,
	"cpu":        unix.RLIMIT_CPU,
	"data":       unix.RLIMIT_DATA,
	"fsize":      unix.RLIMIT_FSIZE,
	"locks":      unix.RLIMIT_LOCKS,
	"memlock":    unix.RLIMIT_MEMLOCK,
	"msgqueue":   unix.RLIMIT_MSGQUEUE,
	"nice":       unix.RLIMIT_NICE,
	"nofile":     unix.RLIMIT_NOFILE,
	"nproc":      unix.RLIMIT_NPROC,
	"rss":        unix.RLIMIT_RSS,
	"rtprio":     unix.RLIMIT_RTPRIO,
	"sigpending": unix.RLIMIT_SIGPENDING,
	"stack":      unix.RLIMIT_STACK,
}

// RlimitResource maps an rlimits name ("nofile") to its RLIMIT_* resource
// for unix.Setrlimit / unix.Prlimit.
func RlimitResource(name string) (int, bool) {
	r, ok := rlimitResources[strings.ToLower(name)]
	return r, ok
}

// RlimitName is the rlimits name of an RLIMIT_* resource ("nofile"), or
// its number as text for one poold has no name for.
func RlimitName(res int) string {
	for name, r := range rlimitResources {
		if r == res {
			return name
		}
	}
	return strconv.Itoa(res)
}

// RlimitNames are the accepted rlimits names, sorted.
func RlimitNames() []string {
	names := make([]string, 0, len(rlimitResources))
	for n := range rlimitResources {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
