package configs

import (
	"bytes"
	"fmt"
)

// maxNesting is how deeply tables and arrays may nest in a TOML file:
// the depth the YAML and JSON readers already stop at. The TOML reader
// has no limit of its own: it recurses once per level of arrays and
// inline tables, and a file of a million "[" (2 MB) overflows the
// goroutine stack, which kills poold (and, on SIGHUP, every worker with
// it) instead of giving an error; and tables nested through dotted keys
// ([a.a.a...], a.a.a... = 1) cost it memory and time that grow with the
// square of the depth (20,000 deep: 1.2 GB).
const maxNesting = 10000

// maxTableKeys is how many keys one TOML table may have (the lines of
// key = value under one header): the TOML reader checks each new key
// against every one before it, so 200,000 take minutes; a config needs
// tens.
const maxTableKeys = 10000

// maxKeyParts is how many dotted parts one TOML key or table header may
// have: a config needs a handful, and at 1,000 the reader's cost is a few
// milliseconds.
const maxKeyParts = 1000

// tomlNesting looks for tables and arrays nested more than max deep,
// counting arrays, inline tables and the parts of dotted keys and table
// headers, skipping strings and comments; and for a key of more than
// maxKeyParts parts. It returns a problem naming the line where a limit
// is passed, or found false if there is none. It does not check syntax:
// the TOML reader does that afterwards, on a file this has found shallow
// enough to read.
func tomlNesting(data []byte, max int) (p Problem, found bool) {
	n := nestScan{max: max, line: 1, atStart: true}
	for i := 0; i < len(data); i++ {
		if n.step(data, &i) {
			return n.problem, true
		}
	}
	return Problem{}, false
}

// nestScan is tomlNesting's state.
type nestScan struct {
	max, line int
	// open holds, for each open array ('[') or inline table ('{'), the
	// depth it adds: 1, plus the dots of the key it is the value of.
	open  []nestLevel
	depth int // the sum of open's depths, plus base
	base  int // the parts of the last table header: [a.b] is 2 tables
	// atStart: at the start of a line, outside any array or inline
	// table; inKey: reading a key (its dots counted in parts: a.b.c
	// nests two tables below the one it is in); pending: the dots of
	// the key whose value comes next.
	atStart, inKey bool
	parts, pending int
	keyAt          int            // where the key being read began
	keys           map[string]int // keys so far per table under the header
	problem        Problem
}

type nestLevel struct {
	kind  byte
	depth int
}

// step reads data[*i], moving *i past strings, comments and headers.
// It reports whether a limit is passed (n.problem says where).
func (n *nestScan) step(data []byte, i *int) bool {
	c := data[*i]
	if n.atStart {
		switch c {
		case ' ', '\t', '\r':
			return false
		case '[':
			return n.header(data, i)
		}
		if c != '\n' && c != '#' {
			n.atStart, n.inKey, n.parts, n.keyAt = false, true, 0, *i
		}
	}
	switch c {
	case '\n':
		n.line++
		if len(n.open) == 0 {
			n.atStart, n.inKey, n.pending = true, false, 0
		}
	case '#':
		for *i+1 < len(data) && data[*i+1] != '\n' {
			*i++
		}
	case '"', '\'':
		*i, n.line = skipTOMLString(data, *i, n.line)
	case '.':
		if n.inKey {
			n.parts++
			return n.deeper(n.depth+n.base+n.parts) || n.tooManyParts()
		}
	case '=':
		if n.inKey {
			n.inKey, n.pending = false, n.parts
			if len(n.open) == 0 {
				return n.countKey(data[n.keyAt:*i])
			}
		}
	case '[', '{':
		d := 1 + n.pending
		n.pending = 0
		n.open = append(n.open, nestLevel{kind: c, depth: d})
		n.depth += d
		if c == '{' {
			n.inKey, n.parts = true, 0
		}
		return n.deeper(n.depth + n.base)
	case ',':
		if k := len(n.open); k > 0 && n.open[k-1].kind == '{' {
			n.inKey, n.parts = true, 0
		}
		n.pending = 0
	case ']', '}':
		if k := len(n.open); k > 0 {
			n.depth -= n.open[k-1].depth
			n.open = n.open[:k-1]
		}
		n.pending = 0
	}
	return false
}

// header reads a table header, [a.b] or [[a.b]], at data[*i], counting
// its parts as the base depth of the keys that follow.
func (n *nestScan) header(data []byte, i *int) bool {
	n.atStart, n.parts = false, 1
	clear(n.keys)
	for *i++; *i < len(data); *i++ {
		switch data[*i] {
		case '"', '\'':
			*i, n.line = skipTOMLString(data, *i, n.line)
		case '.':
			n.parts++
			if n.deeper(n.parts) || n.tooManyParts() {
				return true
			}
		case ']', '\n':
			if data[*i] == '\n' {
				*i-- // let step count the line
			}
			for *i+1 < len(data) && data[*i+1] == ']' {
				*i++
			}
			n.base = n.parts
			return false
		}
	}
	return false
}

// countKey counts a key (a.b.c: a key of table a.b) of the current
// header's tables, and reports whether one has more than maxTableKeys.
func (n *nestScan) countKey(key []byte) bool {
	table := ""
	if k := bytes.LastIndexByte(key, '.'); k >= 0 {
		table = string(bytes.TrimSpace(key[:k]))
	}
	if n.keys == nil {
		n.keys = map[string]int{}
	}
	n.keys[table]++
	if n.keys[table] <= maxTableKeys {
		return false
	}
	n.problem = Problem{Line: n.line, Msg: fmt.Sprintf(
		"more than %d keys in one table here; a config needs tens: look for a generated file gone wrong", maxTableKeys)}
	return true
}

// deeper reports whether depth passes the limit, setting the problem.
func (n *nestScan) deeper(depth int) bool {
	if depth <= n.max {
		return false
	}
	n.problem = Problem{Line: n.line, Msg: fmt.Sprintf(
		"tables and arrays nest more than %d deep here (arrays, inline tables and the parts of dotted keys and table headers); a config needs a handful of levels: look for unclosed brackets or a generated file gone wrong", n.max)}
	return true
}

// tooManyParts reports whether the key being read has more parts than
// maxKeyParts, setting the problem.
func (n *nestScan) tooManyParts() bool {
	if n.parts <= maxKeyParts {
		return false
	}
	n.problem = Problem{Line: n.line, Msg: fmt.Sprintf(
		"a dotted key or table header of more than %d parts here; a config needs a handful: look for a generated file gone wrong", maxKeyParts)}
	return true
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
