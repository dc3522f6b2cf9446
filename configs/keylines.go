// Where the keys of a config file are written: a problem of meaning (a
// wrong type, a value out of range, an unknown key) names its line and
// column, as a syntax error does.

package configs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
	"go.yaml.in/yaml/v3"
)

// keyPos is where a key (or a list element) is written: 1-based line and
// column.
type keyPos struct{ line, col int }

// locate gives each problem and warning about a key of data (the file
// Load read, in format) the line and column where the key is written. A
// key the file does not write (left at its default, or a missing cmd)
// gets those of the nearest table it belongs in that the file does
// write ([watchers.web]); one a POOLD_* variable set (from, as applyEnv
// returns it), or that is below one, gets none: its value is not in the
// file. Problems that have a line keep it.
//
// The file is read again only when there is something to locate, and
// only the keys asked for are kept: a load that finds nothing pays
// nothing.
func (ps *problems) locate(data []byte, format string, from map[string]string) {
	f := keyFinder{want: map[string]bool{}, found: map[string]keyPos{}}
	for _, list := range [][]Problem{ps.list, ps.warnings} {
		for _, p := range list {
			if unplaced(p, from) {
				f.ask(p.Key)
			}
		}
	}
	if len(f.want) == 0 {
		return
	}
	f.lines = newLineIndex(data)
	switch format {
	case "toml":
		f.toml(data)
	case "yaml":
		f.yaml(data)
	case "json":
		f.json(data)
	}
	for _, list := range [][]Problem{ps.list, ps.warnings} {
		for i, p := range list {
			if !unplaced(p, from) {
				continue
			}
			for k := p.Key; k != ""; k = parentKey(k) {
				if at, ok := f.found[k]; ok {
					list[i].Line, list[i].Column = at.line, at.col
					break
				}
			}
		}
	}
}

// Locate does for the problems of e, found in c by checks after Load
// (poold --check's of the machine: programs, users, ports, limits), what
// Load does for its own: each names the line and column of its key in
// c's file, and the POOLD_* variable that set it if one did. The file is
// read again only when a problem has no line yet. A config Load did not
// read (translated from a Circus or supervisord file, which place their
// problems themselves, or built in code) is left as it is, and so is e
// when the file can no longer be read.
func (c *Config) Locate(e *Error) {
	if c.format == "" {
		return
	}
	ps := &problems{list: e.Problems}
	ps.creditEnv(c.fromEnv)
	if !slices.ContainsFunc(ps.list, func(p Problem) bool { return unplaced(p, c.fromEnv) }) {
		return
	}
	data, err := ReadConfigFile(c.Path)
	if err != nil {
		return
	}
	ps.locate(TrimBOM(data), c.format, c.fromEnv)
}

// unplaced reports whether p is about a key whose place locate looks for:
// it has no line yet, and no variable (from) set the key.
func unplaced(p Problem, from map[string]string) bool {
	return p.Line == 0 && p.Key != "" && !setByEnv(p.Key, from)
}

// setByEnv reports whether key, or a key above it, was set by a POOLD_*
// variable (from).
func setByEnv(key string, from map[string]string) bool {
	for k := key; k != ""; k = parentKey(k) {
		if _, ok := from[k]; ok {
			return true
		}
	}
	return false
}

// parentKey is the key above key: "watchers.web" for "watchers.web.cmd",
// "watchers.web.args" for "watchers.web.args[1]"; "" at the top.
func parentKey(key string) string {
	if strings.HasSuffix(key, "]") {
		if i := strings.LastIndexByte(key, '['); i > 0 {
			return key[:i]
		}
	}
	i := strings.LastIndexByte(key, '.')
	if i < 0 {
		return ""
	}
	return key[:i]
}

// keyFinder walks a file's keys, keeping where the wanted ones are
// written. Paths are built as problems name keys: lower-cased names
// joined by '.', list elements as "[i]".
type keyFinder struct {
	want  map[string]bool // the keys asked for and every key above them
	depth int             // the most parts a wanted key has: no need to walk deeper
	found map[string]keyPos
	lines lineIndex
	// aliased holds the nodes a YAML walk is in through an alias.
	aliased map[*yaml.Node]bool
}

// ask adds key and the keys above it to those wanted.
func (f *keyFinder) ask(key string) {
	f.depth = max(f.depth, strings.Count(key, ".")+strings.Count(key, "[")+1)
	for k := key; k != "" && !f.want[k]; k = parentKey(k) {
		f.want[k] = true
	}
}

// at notes that path is written at byte offset off, if it is wanted and
// was not met before (the first of two spellings is named).
func (f *keyFinder) at(path string, off int) {
	if f.want[path] {
		if _, seen := f.found[path]; !seen {
			f.found[path] = f.lines.pos(off)
		}
	}
}

// atLine is at for a parser that gives a line and column itself.
func (f *keyFinder) atLine(path string, line, col int) {
	if f.want[path] {
		if _, seen := f.found[path]; !seen {
			f.found[path] = keyPos{line, col}
		}
	}
}

func elementKey(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// lineIndex holds the offset at which each line of a file starts, to turn
// an offset into a line and column without counting from the start each
// time (a file may hold many keys to locate).
type lineIndex []int

func newLineIndex(data []byte) lineIndex {
	l := lineIndex{0}
	for i := bytes.IndexByte(data, '\n'); i >= 0; {
		l = append(l, i+1)
		next := bytes.IndexByte(data[i+1:], '\n')
		if next < 0 {
			break
		}
		i += next + 1
	}
	return l
}

// pos is the 1-based line and column (in bytes) of offset off.
func (l lineIndex) pos(off int) keyPos {
	i := sort.SearchInts(l, off+1) - 1
	return keyPos{i + 1, off - l[i] + 1}
}

// toml walks a TOML file: table headers, keys and, within the wanted
// depth, the keys of inline tables and the elements of arrays.
func (f *keyFinder) toml(data []byte) {
	var p unstable.Parser
	p.Reset(data)
	table, tableDepth := "", 0
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table, tableDepth = f.tomlKey(e.Key(), "", 0)
		case unstable.KeyValue:
			path, depth := f.tomlKey(e.Key(), table, tableDepth)
			f.tomlValue(e.Value(), path, depth)
		}
	}
}

// tomlKey notes each part of a (dotted) key below path, which is depth
// parts deep, and returns the key's path and depth; depth -1 once it is
// deeper than any key wanted (or path was).
func (f *keyFinder) tomlKey(it unstable.Iterator, path string, depth int) (string, int) {
	for depth >= 0 && it.Next() {
		if depth >= f.depth {
			return "", -1
		}
		n := it.Node()
		path = joinKey(path, strings.ToLower(string(n.Data)))
		depth++
		f.at(path, int(n.Raw.Offset))
	}
	return path, depth
}

// tomlValue notes the keys of an inline table and the elements of an
// array, v, the value of path.
func (f *keyFinder) tomlValue(v *unstable.Node, path string, depth int) {
	if depth < 0 || depth >= f.depth {
		return
	}
	switch v.Kind {
	case unstable.InlineTable:
		for it := v.Children(); it.Next(); {
			kv := it.Node()
			kpath, kdepth := f.tomlKey(kv.Key(), path, depth)
			f.tomlValue(kv.Value(), kpath, kdepth)
		}
	case unstable.Array:
		i := 0
		for it := v.Children(); it.Next(); i++ {
			el := it.Node()
			epath := elementKey(path, i)
			if el.Raw.Length > 0 { // true, false and dates carry no position
				f.at(epath, int(el.Raw.Offset))
			}
			f.tomlValue(el, epath, depth+1)
		}
	}
}

// yaml walks a YAML file with the parser viper reads it with. The keys a
// merge (<<: *base) brings are named where the anchor writes them, after
// the keys written in the mapping itself, which win over them.
func (f *keyFinder) yaml(data []byte) {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return
	}
	f.aliased = map[*yaml.Node]bool{}
	f.yamlNode(&doc, "", 0)
}

func (f *keyFinder) yamlNode(n *yaml.Node, path string, depth int) {
	if depth > f.depth {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			f.yamlNode(c, path, depth)
		}
	case yaml.AliasNode:
		// At its own depth, however many aliases lead there; but not
		// into a node the walk is already in through an alias: an
		// alias may lead back to itself (through a merge), and the walk
		// must end.
		if a := n.Alias; a != nil && !f.aliased[a] {
			f.aliased[a] = true
			f.yamlNode(a, path, depth)
			delete(f.aliased, a)
		}
	case yaml.MappingNode:
		var merges []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				merges = append(merges, v)
				continue
			}
			kpath := joinKey(path, strings.ToLower(k.Value))
			f.atLine(kpath, k.Line, k.Column)
			f.yamlNode(v, kpath, depth+1)
		}
		for _, m := range merges {
			if m.Kind == yaml.SequenceNode { // <<: [*a, *b]
				for _, c := range m.Content {
					f.yamlNode(c, path, depth)
				}
				continue
			}
			f.yamlNode(m, path, depth)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			epath := elementKey(path, i)
			f.atLine(epath, c.Line, c.Column)
			f.yamlNode(c, epath, depth+1)
		}
	}
}

// json walks a JSON file's tokens; a value starts at the first byte after
// the previous token that is not white space, ',' or ':'. Below the
// wanted depth, frames keep no path.
func (f *keyFinder) json(data []byte) {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		path   string
		object bool
		index  int
		key    string // object: the path of the key whose value comes next
		hasKey bool
	}
	var stack []*frame
	for {
		start := valueStart(data, dec.InputOffset())
		tok, err := dec.Token()
		if err != nil {
			return // the end, or a file viper would have refused
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		shallow := len(stack) <= f.depth
		if s, ok := tok.(string); ok && top != nil && top.object && !top.hasKey {
			top.hasKey = true
			if shallow {
				top.key = joinKey(top.path, strings.ToLower(s))
				f.at(top.key, start)
			}
			continue
		}
		if tok == json.Delim('}') || tok == json.Delim(']') {
			stack = stack[:len(stack)-1]
			continue
		}
		path := ""
		switch {
		case top == nil:
		case top.object:
			path, top.key, top.hasKey = top.key, "", false
		case shallow:
			path = elementKey(top.path, top.index)
			f.at(path, start)
		}
		if top != nil && !top.object {
			top.index++
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{path: path, object: true})
		case json.Delim('['):
			stack = append(stack, &frame{path: path})
		}
	}
}

// valueStart skips white space, ',' and ':' from off in data.
func valueStart(data []byte, off int64) int {
	i := int(off)
	for i < len(data) && strings.IndexByte(" \t\r\n,:", data[i]) >= 0 {
		i++
	}
	return i
}
