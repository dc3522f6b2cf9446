package main

import (
	"regexp"
	"strings"
)

// A section is a heading and what it holds: the lines up to the first
// deeper heading (body), then the deeper headings' sections (kids). The
// root of a file has level 0 and no heading. Printing a parsed file gives
// it back, but for blank lines around headings (see print).
type section struct {
	level int
	title string // the heading's text, as written (backticks kept)
	head  string // the heading line
	body  []string
	kids  []*section
}

var headingRE = regexp.MustCompile(`^(#{1,6}) +(.*?) *#*$`)

// Generated blocks are the tool's own output (contents, links, headers):
// it drops them when it reads a file and writes them again, so a second
// run finds what the first one wrote and changes nothing.
const (
	genBegin = "<!-- readmetool:begin "
	genEnd   = "<!-- readmetool:end "
	genClose = " -->"
)

// stripGenerated drops every generated block, markers included.
func stripGenerated(lines []string) []string {
	var out []string
	in := false
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, genBegin):
			in = true
		case strings.HasPrefix(l, genEnd):
			in = false
		case !in:
			out = append(out, l)
		}
	}
	return out
}

// generated wraps lines in a generated block named name.
func generated(name string, lines ...string) []string {
	out := []string{genBegin + name + genClose}
	out = append(out, lines...)
	return append(out, genEnd+name+genClose)
}

// fenceTracker says which lines are inside a fenced code block, where a
// line starting with # is a shell comment and not a heading.
type fenceTracker struct{ fence string }

// code reports whether l is part of a code block (its fences included).
func (f *fenceTracker) code(l string) bool {
	t := strings.TrimLeft(l, " ")
	if f.fence != "" {
		if strings.HasPrefix(t, f.fence) && strings.TrimSpace(strings.TrimLeft(t, f.fence[:1])) == "" {
			f.fence = ""
		}
		return true
	}
	for _, mark := range []string{"```", "~~~"} {
		if strings.HasPrefix(t, mark) {
			n := len(t) - len(strings.TrimLeft(t, mark[:1]))
			f.fence = strings.Repeat(mark[:1], n)
			return true
		}
	}
	return false
}

// parse reads a markdown file (generated blocks already dropped) into its
// tree of sections.
func parse(lines []string) *section {
	root := &section{}
	stack := []*section{root}
	var f fenceTracker
	for _, l := range lines {
		if f.code(l) {
			top := stack[len(stack)-1]
			top.body = append(top.body, l)
			continue
		}
		m := headingRE.FindStringSubmatch(l)
		if m == nil {
			top := stack[len(stack)-1]
			top.body = append(top.body, l)
			continue
		}
		s := &section{level: len(m[1]), title: m[2], head: l}
		for stack[len(stack)-1].level >= s.level {
			stack = stack[:len(stack)-1]
		}
		parent := stack[len(stack)-1]
		parent.kids = append(parent.kids, s)
		stack = append(stack, s)
	}
	return root
}

// print writes the tree back: each heading with one blank line before it
// and after it, each body without blank lines at its ends. That spacing
// is a fixpoint, so printing is idempotent.
func (s *section) print() []string {
	var out []string
	if s.head != "" {
		out = append(out, s.head)
	}
	body := trimBlank(s.body)
	if len(body) > 0 {
		if s.head != "" {
			out = append(out, "")
		}
		out = append(out, body...)
	}
	for _, k := range s.kids {
		if len(out) > 0 {
			out = append(out, "")
		}
		out = append(out, k.print()...)
	}
	return out
}

func trimBlank(lines []string) []string {
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// plainTitle is a heading's text as a reader quotes it: no backticks.
func plainTitle(t string) string { return strings.ReplaceAll(t, "`", "") }

// kid returns the direct kid titled title (compared without backticks).
func (s *section) kid(title string) (*section, int) {
	for i, k := range s.kids {
		if plainTitle(k.title) == plainTitle(title) {
			return k, i
		}
	}
	return nil, -1
}

// find returns the first section titled title anywhere below s, and its
// parent.
func (s *section) find(title string) (found, parent *section) {
	for _, k := range s.kids {
		if plainTitle(k.title) == plainTitle(title) {
			return k, s
		}
		if f, p := k.find(title); f != nil {
			return f, p
		}
	}
	return nil, nil
}

func (s *section) remove(i int) *section {
	k := s.kids[i]
	s.kids = append(s.kids[:i:i], s.kids[i+1:]...)
	return k
}

// contentLines are a file's lines that carry text: not blank, not a
// heading (outside code), not generated. Links are compared as seen from
// the repository's root, so a moved line whose links were rebased still
// counts as the same line.
func contentLines(lines []string) []string {
	var out []string
	var f fenceTracker
	for _, l := range stripGenerated(lines) {
		if !f.code(l) && (strings.TrimSpace(l) == "" || headingRE.MatchString(l)) {
			continue
		}
		out = append(out, unrebase(l))
	}
	return out
}

// headings are a file's heading titles (outside code, not generated).
func headings(lines []string) []string {
	var out []string
	var f fenceTracker
	for _, l := range stripGenerated(lines) {
		if f.code(l) {
			continue
		}
		if m := headingRE.FindStringSubmatch(l); m != nil {
			out = append(out, plainTitle(m[2]))
		}
	}
	return out
}
