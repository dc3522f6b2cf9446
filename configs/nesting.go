package configs

import "fmt"

// maxNesting is how deeply arrays and inline tables may nest in a TOML
// file: the depth the YAML and JSON readers already stop at. The TOML
// reader has no limit of its own; it recurses once per level, and a
// file of a million "[" (2 MB) overflows the goroutine stack, which
// kills poold (and, on SIGHUP, every worker with it) instead of giving
// an error.
const maxNesting = 10000

// tomlNesting looks for arrays and inline tables of data nested more than
// max deep, skipping strings and comments. It returns a problem naming
// the line where the limit is passed, or ok false if there is none. It
// does not check syntax: the TOML reader does that afterwards, on a file
// this has found shallow enough to read.
func tomlNesting(data []byte, max int) (p Problem, found bool) {
	depth, line := 0, 1
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '\n':
			line++
		case '#':
			for i+1 < len(data) && data[i+1] != '\n' {
				i++
			}
		case '"', '\'':
			i, line = skipTOMLString(data, i, line)
		case '[', '{':
			depth++
			if depth > max {
				return Problem{Line: line, Msg: fmt.Sprintf(
					"arrays and inline tables nest more than %d deep here; a config needs a handful of levels: look for unclosed brackets or a generated file gone wrong", max)}, true
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return Problem{}, false
}

// skipTOMLString returns the index of the last byte of the string that
// opens at data[i], and the line it ends on: a basic (") or literal (')
// string, or its multi-line form that opens and closes with three quotes.
// An unterminated string runs to the end of data (single-line ones to the
// end of the line).
func skipTOMLString(data []byte, i, line int) (int, int) {
	q := data[i]
	multi := i+2 < len(data) && data[i+1] == q && data[i+2] == q
	if multi {
		i += 2
	}
	for i++; i < len(data); i++ {
		switch c := data[i]; {
		case c == '\\' && q == '"':
			i++ // an escape: the next byte is content
			if i < len(data) && data[i] == '\n' {
				line++
			}
		case c == '\n':
			if !multi {
				return i - 1, line // unterminated: the newline is not ours
			}
			line++
		case c != q:
		case !multi:
			return i, line
		case i+2 < len(data) && data[i+1] == q && data[i+2] == q:
			// A closing """ may be followed by up to two more quotes
			// that belong to the content: """a""""" is `a""`.
			i += 2
			for n := 0; n < 2 && i+1 < len(data) && data[i+1] == q; n++ {
				i++
			}
			return i, line
		}
	}
	return len(data) - 1, line
}
