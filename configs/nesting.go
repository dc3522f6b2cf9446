package configs

import (
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
	n := nestScan{max: max, line: 1, atStart: true, value: -1}
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
	keyAt          int   // where the key being read began
	dots           []int // where its dots are, from keyAt
	// table is the number of the table under the last header (see
	// tableKeys); value that of the key whose value comes next (an
	// inline table's or an array's), -1 when none is.
	table, value int
	keys         tableKeys
	values       int // see counted
	problem      Problem
}

type nestLevel struct {
	kind  byte
	depth int
	table int // the inline table's or array's own number
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
			n.atStart = false
			n.startKey(*i)
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
			n.dots = append(n.dots, *i-n.keyAt)
			return n.deeper(n.depth+n.base+n.parts) || n.tooManyParts()
		}
	case '=':
		if n.inKey {
			n.inKey, n.pending = false, n.parts
			return n.counted() || n.countKey(data[n.keyAt:*i])
		}
	case '[', '{':
		return n.counted() || n.openLevel(c, *i)
	case ',':
		if k := len(n.open); k > 0 && n.open[k-1].kind == '{' {
			n.startKey(*i + 1)
		} else if k > 0 && n.counted() {
			return true // the next element of an array
		}
		n.pending, n.value = 0, -1
	case ']', '}':
		if k := len(n.open); k > 0 {
			n.depth -= n.open[k-1].depth
			n.open = n.open[:k-1]
		}
		n.pending, n.value = 0, -1
	}
	return false
}

// maxValues bounds the keys, arrays, inline tables and array elements of
// a TOML file: the reader holds each as a value of its own, several
// times over (a 50 MB file of empty arrays took it 6-12 GB), while
// 10,000 watchers with 100 env entries each have about 1.1 million.
const maxValues = 2_000_000

// counted counts a value of the file, and reports whether there are more
// than maxValues.
func (n *nestScan) counted() bool {
	if n.values++; n.values <= maxValues {
		return false
	}
	n.problem = Problem{Line: n.line, Msg: fmt.Sprintf(
		"more than %d keys, arrays, inline tables and array elements by here, more than poold reads in a config (10,000 watchers with 100 env entries each have about 1.1 million): look for a generated file gone wrong", maxValues)}
	return true
}

// startKey starts reading a key at data[at].
func (n *nestScan) startKey(at int) {
	n.inKey, n.parts, n.keyAt, n.dots = true, 0, at, n.dots[:0]
}

// openLevel opens an array or inline table at data[at]: the value of the
// key just read, or an element of the array it is in.
func (n *nestScan) openLevel(c byte, at int) bool {
	d := 1 + n.pending
	table := n.value
	if table < 0 { // an element of an array (or a bracket out of place)
		table = n.table
		if k := len(n.open); k > 0 {
			table = n.open[k-1].table
		}
		if c == '{' { // a table of its own; an array holds no keys
			table = n.keys.element(table)
		}
	}
	n.pending, n.value = 0, -1
	n.open = append(n.open, nestLevel{kind: c, depth: d, table: table})
	n.depth += d
	if c == '{' {
		n.startKey(at + 1)
	}
	return n.deeper(n.depth + n.base)
}

// header reads a table header, [a.b] or [[a.b]], at data[*i], counting
// its parts as the base depth of the keys that follow, and its names as
// keys of the tables above it.
func (n *nestScan) header(data []byte, i *int) bool {
	if n.counted() {
		return true
	}
	n.atStart, n.parts, n.dots = false, 1, n.dots[:0]
	array := *i+1 < len(data) && data[*i+1] == '['
	if array {
		*i++
	}
	start := *i + 1
	for *i++; *i < len(data); *i++ {
		switch data[*i] {
		case '"', '\'':
			*i, n.line = skipTOMLString(data, *i, n.line)
		case '.':
			n.parts++
			n.dots = append(n.dots, *i-start)
			if n.deeper(n.parts) || n.tooManyParts() {
				return true
			}
		case ']', '\n':
			n.base = n.parts
			table, msg := n.keys.add(0, splitKey(data[start:*i], n.dots), array)
			if msg != "" {
				n.problem = Problem{Line: n.line, Msg: msg}
				return true
			}
			if array {
				table = n.keys.element(table)
			}
			n.table = table
			if data[*i] == '\n' {
				*i-- // let step count the line
			}
			for *i+1 < len(data) && data[*i+1] == ']' {
				*i++
			}
			return false
		}
	}
	return false
}

// countKey counts the key just read (a.b.c: key a of its table, b of
// table a, c of table a.b), in the table under the header or the inline
// table it is in, and reports whether a limit is passed.
func (n *nestScan) countKey(key []byte) bool {
	table := n.table
	if k := len(n.open); k > 0 {
		table = n.open[k-1].table
	}
	value, msg := n.keys.add(table, splitKey(key, n.dots), false)
	if msg != "" {
		n.problem = Problem{Line: n.line, Msg: msg}
		return true
	}
	n.value = value
	return false
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
