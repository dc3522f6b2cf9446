package configs

import (
	"strings"
	"syscall"
	"testing"
)

// Circus takes real-time signals by name with an offset ("SIGRTMIN+2",
// its to_signum) in stop_signal, signal and kill; poold refused them, so
// a circus.ini circusd runs did not load.
func TestParseSignalNamesAndNumbers(t *testing.T) {
	for in, want := range map[string]syscall.Signal{
		"TERM": syscall.SIGTERM, "sigterm": syscall.SIGTERM, "hup": syscall.SIGHUP, "15": syscall.SIGTERM,
		"40": 40, "SIGRTMIN": 34, "RTMIN": 34, "rtmin+1": 35, "SIGRTMIN+2": 36, "SIGRTMAX": 64, "RTMAX-1": 63,
	} {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"0":           "signal 0 is out of range: signals are 1 to 64",
		"65":          "signal 65 is out of range",
		"SIGRTMAX+1":  "signal SIGRTMAX+1 is out of range",
		"RTMIN-40":    "out of range",
		"TERMINATE":   `unknown signal "TERMINATE": use a name such as TERM or SIGRTMIN+2`,
		"SIGRTMIN+x":  "unknown signal",
		"SIGRTMINX":   "unknown signal",
		"SIGRTMIN+-1": "unknown signal",
	} {
		if _, err := ParseSignal(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSignal(%q): %v; want an error with %q", in, err, want)
		}
	}
}
