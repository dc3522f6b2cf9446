package arbiter

import (
	"regexp"
	"slices"
)

// warnLine is a warning's "FILE:LINE:" or "FILE:LINE:COL:" place: an edit
// above a warned key moves its line, not the warning.
var warnLine = regexp.MustCompile(`:\d+(:\d+)?: `)

// newWarnings splits a reloaded file's warnings into those the last
// loaded file did not have (told again in full) and how many it had
// (counted only): a SIGHUP or reloadconfig repeated every translation
// warning of a supervisord file each time, and the one a later edit
// brought was lost among them (r67 supervisord trial F8). Warnings are
// compared without their line numbers.
func newWarnings(last, now []string) (fresh []string, known int) {
	seen := make([]string, 0, len(last))
	for _, w := range last {
		seen = append(seen, warnLine.ReplaceAllString(w, ": "))
	}
	for _, w := range now {
		if slices.Contains(seen, warnLine.ReplaceAllString(w, ": ")) {
			known++
			continue
		}
		fresh = append(fresh, w)
	}
	return fresh, known
}
