// Package termsafe escapes, in text from outside poold (a worker's line,
// a hook's or probe's output, a name a client sent), what a terminal
// would act on or not show, so that it cannot clear, recolour or
// overwrite the screen, forge or reorder poold's own lines: one rule for
// poold's text log, poolctl and the probes' reasons.
//
// Concurrency: pure functions, safe from any goroutine.
package termsafe

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Line is s with each character a terminal would act on or not show
// written as a Go escape: C0 controls but tab (`\x1b`, `\r`, `\a`), DEL
// (`\x7f`), C1 controls (`\u009b`), bidi and other format characters
// (`\u202e`, `\u200b`), line and paragraph separators, private-use and
// unassigned code points, and each byte that starts no valid UTF-8
// (`\xff`). Zero-width joiners (U+200C, U+200D) stay: emoji sequences
// and several scripts need them. Backslashes are kept as they are: the
// escapes are for terminals, not for parsing back. s itself is returned
// when nothing needs escaping.
func Line(s string) string {
	i := 0
	for i < len(s) {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			i++ // the common case, without a call
			continue
		}
		n, ok := Safe(s[i:])
		if !ok {
			break
		}
		i += n
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		n, ok := Safe(s[i:])
		switch {
		case ok:
			b.WriteString(s[i : i+n])
		case n == 1 && s[i] >= utf8.RuneSelf: // not UTF-8
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(s[i])&0xf, 16))
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

// Safe reports the length of the character at the start of p (not
// empty) and whether a terminal shows it as text (Line keeps it).
func Safe(p string) (int, bool) {
	c := p[0]
	if c < utf8.RuneSelf {
		return 1, c == '\t' || (c >= 0x20 && c != 0x7f)
	}
	r, n := utf8.DecodeRuneInString(p)
	if r == utf8.RuneError && n == 1 {
		return 1, false
	}
	return n, strconv.IsGraphic(r) || r == '\u200c' || r == '\u200d'
}
