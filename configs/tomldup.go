package configs

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// tomlExpr is one top-level expression of a TOML file: a [table] or
// [[array]] header, or a key = value.
type tomlExpr struct {
	path      []string // the key path it defines, as written: ["watchers", "web", "numprocesses"]
	header    bool     // a [table] or [[array]] header
	line, col int      // where its key starts
	lineStart int      // the offset of that line's start
}

// tomlExprs lists the top-level expressions of data, as far as it parses.
func tomlExprs(data []byte) []tomlExpr {
	var p unstable.Parser
	p.Reset(data)
	var table []string
	var exprs []tomlExpr
	for p.NextExpression() {
		e := p.Expression()
		var key []string
		var first *unstable.Node
		for it := e.Key(); it.Next(); {
			if first == nil {
				first = it.Node()
			}
			key = append(key, string(it.Node().Data))
		}
		if first == nil {
			continue
		}
		at := p.Shape(first.Raw).Start
		x := tomlExpr{line: at.Line, col: at.Column, lineStart: at.Offset - (at.Column - 1)}
		if e.Kind == unstable.KeyValue {
			x.path = append(slices.Clone(table), key...)
		} else {
			table, x.path, x.header = key, key, true
		}
		exprs = append(exprs, x)
	}
	return exprs
}

// tomlRepeat locates the error go-toml gives without a position, such as
// "key numprocesses is already defined" or "table arbiter already exists"
// (data parses, but defines something twice or both as a table and a
// value): the first expression after which the document no longer
// decodes. A key or table given twice is said so, with the first one's
// line; ok is false when the expression cannot be found.
func tomlRepeat(data []byte, err error) (p Problem, ok bool) {
	var de *toml.DecodeError
	if errors.As(err, &de) {
		return Problem{}, false // a syntax error: it has its position
	}
	exprs := tomlExprs(data)
	end := func(i int) int {
		if i+1 < len(exprs) {
			return exprs[i+1].lineStart
		}
		return len(data)
	}
	// The prefixes that end between expressions parse; those up to the
	// culprit decode, the longer ones all fail as the whole file does.
	lo, hi := 0, len(exprs)
	for lo < hi {
		mid := (lo + hi) / 2
		if toml.Unmarshal(data[:end(mid)], &map[string]any{}) != nil {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo == len(exprs) {
		return Problem{}, false
	}
	bad := exprs[lo]
	p = Problem{Key: strings.ToLower(strings.Join(bad.path, ".")), Line: bad.line, Column: bad.col}
	for _, e := range exprs[:lo] {
		if e.header == bad.header && slices.Equal(e.path, bad.path) {
			what, fix := "key "+bad.path[len(bad.path)-1], "a key may be set once in a table: remove one or merge them"
			if bad.header {
				what, fix = "table ["+strings.Join(bad.path, ".")+"]", "a table may be opened once: merge the two sections"
			}
			p.Msg = fmt.Sprintf("%s is given again here (first at line %d, column %d); %s", what, e.line, e.col, fix)
			return p, true
		}
	}
	p.Msg = "syntax error: " + err.Error()
	return p, true
}
