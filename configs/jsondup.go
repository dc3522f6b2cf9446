package configs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// jsonFrame is one object or array open while jsonDuplicates walks a file.
type jsonFrame struct {
	parent *jsonFrame // the frame it is a value of; nil at the top
	seg    string     // its part of the key path: "web" or "[2]"
	object bool
	index  int              // array: the next element's index
	key    string           // object: the key whose value comes next ("" = none)
	keyAt  map[string]int64 // object: each key given so far, at the offset just past it
}

// jsonDuplicates reports each key given twice in one JSON object of data
// (a file viper has parsed, so well-formed): encoding/json keeps the last
// and drops the first without a word, where TOML and YAML refuse the
// file. The problem names the key path and the line of the repeat.
func jsonDuplicates(ps *problems, data []byte) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var stack []*jsonFrame
	for {
		tok, err := dec.Token()
		if err != nil {
			return // the end, or a file viper would have refused
		}
		var top *jsonFrame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if s, ok := tok.(string); ok && top != nil && top.object && top.key == "" {
			// Positions are worked out for a repeat only: each is a scan
			// from the start, and a request may hold many keys.
			top.key = strings.ToLower(s)
			if first, seen := top.keyAt[s]; seen {
				line, col := keyPosition(data, dec.InputOffset())
				fl, fc := keyPosition(data, first)
				ps.list = append(ps.list, Problem{Key: joinKey(top.path(), top.key), Line: line, Column: col,
					Msg: fmt.Sprintf("key %q is given again here (first at line %d, column %d): JSON keeps only the last, silently dropping the first; remove one or merge them", s, fl, fc)})
			} else {
				top.keyAt[s] = dec.InputOffset()
			}
			continue
		}
		if tok == json.Delim('}') || tok == json.Delim(']') {
			stack = stack[:len(stack)-1]
			continue
		}
		// tok is a value, or opens one.
		seg := ""
		if top != nil {
			seg = top.next()
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &jsonFrame{parent: top, seg: seg, object: true, keyAt: map[string]int64{}})
		case json.Delim('['):
			stack = append(stack, &jsonFrame{parent: top, seg: seg})
		}
	}
}

// next returns the key path part of the value that comes next in f and
// moves f past it.
func (f *jsonFrame) next() string {
	if f.object {
		k := f.key
		f.key = ""
		return k
	}
	seg := fmt.Sprintf("[%d]", f.index)
	f.index++
	return seg
}

// path is f's key path, joined only when a problem names it: a path kept
// in every frame would cost memory with the square of the file's depth.
func (f *jsonFrame) path() string {
	if f == nil || f.parent == nil {
		return ""
	}
	p := f.parent.path()
	if !f.parent.object {
		return p + f.seg
	}
	return joinKey(p, f.seg)
}

// keyPosition is the 1-based line and column of the JSON string that ends
// just before offset end (its opening quote).
func keyPosition(data []byte, end int64) (int, int) {
	start := int(end) - 1 // the closing quote
	for start--; start >= 0; start-- {
		if data[start] != '"' {
			continue
		}
		backslashes := 0
		for i := start - 1; i >= 0 && data[i] == '\\'; i-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			break
		}
	}
	before := data[:max(start, 0)]
	return bytes.Count(before, []byte("\n")) + 1, start - bytes.LastIndexByte(before, '\n')
}

// DuplicateKeys lists each key given twice in one object of data, which
// must be well-formed JSON, as Load reports them for a JSON file: the key
// path, the line and column of the repeat and where the key came first.
// poold's control requests are refused with one, as such a file is.
func DuplicateKeys(data []byte) []Problem {
	var ps problems
	jsonDuplicates(&ps, data)
	return ps.list
}
