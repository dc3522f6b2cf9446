package configs

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// maxTableKeys is how many keys one TOML table may have: its key = value
// lines, the tables below it (a header [a.b] adds b to a) and the keys of
// an inline table. The TOML reader looks each name up among the names of
// its table one by one, so its time grows with the square of a table's
// size: 30,000 keys of one table take it 4 s of CPU, 100,000 about 45 s;
// a config needs tens, and 10,000 watchers fit.
const maxTableKeys = 10000

// maxKeyLookups bounds the TOML reader's lookups over a whole file (the
// sum, over each name it looks up, of the size of the table it looks in):
// each table within maxTableKeys, many of them still add up. 10,000
// watchers in one file take half of it; the whole of it is about a second
// of CPU here.
const maxKeyLookups = 100_000_000

// tableKeys counts the distinct keys of each table of a TOML file, and
// the reader's lookups among them. Tables are known by a number (0: the
// top-level table), not by their path, which would make the cost grow
// with the square of the nesting.
type tableKeys struct {
	ids     map[tableKey]int // a table's key → the number of the key's own table
	size    []int            // a table's number → its keys so far
	up      []tableKey       // a table's number → its key, for errors
	last    map[int]int      // an array of tables → its last element
	lookups int
}

// tableKey is a key of a table: the table's number and the key's name.
type tableKey struct {
	table int
	name  string
}

// add counts the key parts (a.b.c: key a of table, b of table a, c of
// table a.b) and returns the number of the last one's table, or a problem
// message when a table passes maxTableKeys or the file maxKeyLookups. A
// part that names an array of tables goes on in its last element, as in
// TOML, but for the last part of an array's own header ([[a.b]]).
func (k *tableKeys) add(table int, parts [][]byte, arrayHeader bool) (int, string) {
	if k.ids == nil {
		k.ids, k.size, k.up = map[tableKey]int{}, []int{0}, []tableKey{{table: -1}}
		k.last = map[int]int{}
	}
	for _, p := range parts {
		if e, ok := k.last[table]; ok {
			table = e
		}
		key := tableKey{table, keyName(p)}
		k.lookups += k.size[table]
		id, ok := k.ids[key]
		if !ok {
			if k.size[table]++; k.size[table] > maxTableKeys {
				return 0, fmt.Sprintf("more than %d keys in %s here, the most poold reads in one table (a config needs tens, or one per watcher): look for a generated file gone wrong",
					maxTableKeys, k.name(table))
			}
			id = k.newTable(key)
			k.ids[key] = id
		}
		if k.lookups > maxKeyLookups {
			return 0, fmt.Sprintf("this file's tables have so many keys that the TOML reader would take too long to read it (more than %d key lookups by here; 10,000 watchers take half of that): look for a generated file gone wrong",
				maxKeyLookups)
		}
		table = id
	}
	if e, ok := k.last[table]; ok && !arrayHeader {
		table = e
	}
	return table, ""
}

var hexEscape = regexp.MustCompile(`\\x([0-9a-fA-F]{2})`)

// keyName is a key part as TOML reads it: "a", 'a' and a are one key.
func keyName(p []byte) string {
	k := bytes.TrimSpace(p)
	if len(k) >= 2 {
		switch k[0] {
		case '\'':
			return string(k[1 : len(k)-1])
		case '"':
			// TOML's escapes are Go's but for TOML 1.1's \e (ESC), which
			// the reader takes, and \xHH (the code point U+00HH, where
			// Go's is a byte), which this reader refuses but a newer one
			// may take.
			q := strings.ReplaceAll(string(k), `\\`, "\x00")
			q = strings.ReplaceAll(q, `\e`, `\u001b`)
			q = hexEscape.ReplaceAllString(q, `\u00$1`)
			q = strings.ReplaceAll(q, "\x00", `\\`)
			if s, err := strconv.Unquote(q); err == nil {
				return s
			}
		}
	}
	return string(k)
}

// newTable numbers a new table, the value of key.
func (k *tableKeys) newTable(key tableKey) int {
	k.size = append(k.size, 0)
	k.up = append(k.up, key)
	return len(k.size) - 1
}

// element numbers a new element of the array (of tables) of: each element
// ([[a]] header, inline table in an array) is a table of its own.
func (k *tableKeys) element(of int) int {
	if k.ids == nil {
		k.add(0, nil, false)
	}
	e := k.newTable(k.up[of])
	k.last[of] = e
	return e
}

// name names table for an error.
func (k *tableKeys) name(table int) string {
	if table == 0 {
		return "the top-level table"
	}
	var parts []string
	for ; table > 0; table = k.up[table].table {
		parts = append([]string{k.up[table].name}, parts...)
	}
	return "table [" + strings.Join(parts, ".") + "]"
}

// splitKey splits the key text at the dots found while reading it
// (offsets into text; dots in quotes are not among them).
func splitKey(text []byte, dots []int) [][]byte {
	parts := make([][]byte, 0, len(dots)+1)
	from := 0
	for _, d := range dots {
		parts = append(parts, text[from:d])
		from = d + 1
	}
	return append(parts, text[from:])
}
