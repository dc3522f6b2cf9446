package main

import (
	"fmt"
	"strings"
)

// moveUpgrade moves every #### block of "Upgrading poold in place" (how an
// upgrade works, its limits, its figures) to arbiter/upgrade/README.md and
// leaves the how-to with a link.
func (r *result) moveUpgrade(doc, dest *section) error {
	run, err := need(doc, "Running poold")
	if err != nil {
		return err
	}
	up, _ := run.kid("Upgrading poold in place")
	if up == nil {
		return fmt.Errorf(`README.md: heading "Upgrading poold in place" is missing under "Running poold"`)
	}
	r.moveKids(up, func(*section) bool { return false }, dest, []*section{run, up}, upgradePath)
	if f, _ := dest.find("How an upgrade works"); f == nil {
		return fmt.Errorf(`heading "How an upgrade works" is missing: neither under "Upgrading poold in place" in README.md nor in %s`, upgradePath)
	}
	up.body = appendGenerated(up.body, "upgrade-link",
		"How an upgrade works, what carries over and what is checked, its limits",
		"and failures, long connections, and its figures: [arbiter/upgrade/README.md]("+upgradePath+").")
	return nil
}

// moveBenchmarks keeps the Benchmarks section's method, its current table and
// the blocks of benchKeep, and moves the other #### blocks, of the
// section and of its ### subsections, to RESULTS.md.
func (r *result) moveBenchmarks(doc, dest *section) error {
	b, err := need(doc, "Benchmarks")
	if err != nil {
		return err
	}
	for _, t := range []string{"Rolling reload under keep-alive load", "10,000 workers"} {
		if k, _ := b.kid(t); k == nil {
			return fmt.Errorf("README.md: heading %q is missing under \"Benchmarks\"", t)
		}
	}
	tenk, _ := b.kid("10,000 workers")
	if k, _ := tenk.kid("Newest figures"); k == nil {
		return fmt.Errorf(`README.md: heading "Newest figures" is missing under "10,000 workers" (the figures that stay in the README)`)
	}
	keep := func(s *section) bool { return s.level <= b.level+1 || benchKeep[plainTitle(s.title)] }
	r.moveKids(b, keep, dest, []*section{b}, resultsPath)
	for _, k := range b.kids {
		if k.level == b.level+1 {
			r.moveKids(k, keep, dest, []*section{b, k}, resultsPath)
		}
	}
	for _, p := range benchMoved {
		if !has(doc, p) && !has(dest, p) {
			return fmt.Errorf("heading %q is missing: neither in README.md nor in %s (under %q)", p[len(p)-1], resultsPath, strings.Join(p[:len(p)-1], " > "))
		}
	}
	b.body = appendGenerated(b.body, "bench-link",
		"Earlier tables, the investigation behind each figure and how it moved from",
		"build to build: [cmd/poold-bench/RESULTS.md]("+resultsPath+").")
	tenk.body = appendGenerated(tenk.body, "tenk-link",
		"The runs before the newest, and what each change did: [cmd/poold-bench/RESULTS.md]("+resultsPath+"#10000-workers).")
	return nil
}

// has reports whether the path of titles leads to a section below s.
func has(s *section, path []string) bool {
	for _, t := range path {
		if s, _ = s.kid(t); s == nil {
			return false
		}
	}
	return true
}

// moveKids moves the kids of s that keep refuses into dest, under
// headings like those of path (created in dest when missing), their links
// rebased for a file two directories down.
func (r *result) moveKids(s *section, keep func(*section) bool, dest *section, path []*section, to string) {
	var stay []*section
	for _, k := range s.kids {
		if keep(k) {
			stay = append(stay, k)
			continue
		}
		at := dest
		for _, p := range path {
			next, _ := at.kid(p.title)
			if next == nil {
				next = &section{level: p.level, title: p.title, head: p.head}
				at.kids = append(at.kids, next)
			}
			at = next
		}
		rebaseSection(k, anchorsOf(k.print()))
		if have, _ := at.kid(k.title); have != nil {
			have.body = append(append(have.body, ""), k.body...)
			have.kids = append(have.kids, k.kids...)
		} else {
			at.kids = append(at.kids, k)
		}
		r.notes = append(r.notes, fmt.Sprintf("%q (%d lines) moved to %s", k.title, len(k.print()), to))
	}
	s.kids = stay
}

func rebaseSection(s *section, anchors map[string]bool) {
	for i, l := range s.body {
		s.body[i] = rebase(l, anchors)
	}
	for _, k := range s.kids {
		rebaseSection(k, anchors)
	}
}

// reorder puts the ## sections in the newcomer's order.
func (r *result) reorder(doc *section) error {
	var known, placed []*section
	for _, t := range order {
		s, _ := doc.kid(t)
		if s == nil {
			return fmt.Errorf("README.md: heading %q is missing (## %s)", t, t)
		}
		known = append(known, s)
	}
	isKnown := map[*section]bool{}
	for _, s := range known {
		isKnown[s] = true
	}
	// An unknown section follows the known one it followed (or leads).
	after := map[*section][]*section{}
	var prev *section
	for _, s := range doc.kids {
		if isKnown[s] {
			prev = s
			continue
		}
		after[prev] = append(after[prev], s)
		r.warns = append(r.warns, fmt.Sprintf("section %q is not in the tool's order; it stays after %q (add it to order in cmd/readmetool/plan.go)", s.title, titleOf(prev)))
	}
	placed = append(placed, after[nil]...)
	for _, s := range known {
		placed = append(placed, s)
		placed = append(placed, after[s]...)
	}
	doc.kids = placed
	return nil
}

func titleOf(s *section) string {
	if s == nil {
		return "(the start)"
	}
	return s.title
}

// appendGenerated adds a generated paragraph at the end of a body.
func appendGenerated(body []string, name string, text ...string) []string {
	body = append(trimBlank(body), "")
	return append(body, generated(name, text...)...)
}

// withContents prints README.md with a table of contents (## and ###)
// after the introduction.
func withContents(root *section) []string {
	doc := root.kids[0]
	anchors := anchorList(root.print())
	var toc []string
	for _, s := range doc.kids {
		toc = append(toc, "- ["+s.title+"](#"+anchors[s.head]+")")
		for _, k := range s.kids {
			if k.level == s.level+1 {
				toc = append(toc, "  - ["+k.title+"](#"+anchors[k.head]+")")
			}
		}
	}
	intro := doc.body
	doc.body = appendGenerated(doc.body, "contents", append([]string{"## Contents", ""}, toc...)...)
	out := root.print()
	doc.body = intro
	return out
}

// anchorList maps each heading line to its anchor, numbered as GitHub
// numbers repeated headings. Heading lines are unique in README.md but
// for repeats, whose first anchor serves (the contents list only ## and
// ###, which are unique).
func anchorList(lines []string) map[string]string {
	out := map[string]string{}
	seen := map[string]int{}
	var f fenceTracker
	for _, l := range stripGenerated(lines) {
		if f.code(l) {
			continue
		}
		m := headingRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		a := slug(plainTitle(m[2]))
		if n := seen[a]; n > 0 {
			a = fmt.Sprintf("%s-%d", a, n)
		}
		seen[slug(plainTitle(m[2]))]++
		if _, ok := out[l]; !ok {
			out[l] = a
		}
	}
	return out
}

const resultsHeader = `# Benchmark history

The README's [Benchmarks](../../README.md#benchmarks) keep the method, the
current table and the newest figures; this file holds what came before,
moved here by cmd/readmetool. Quoted section names ("Containment") are
the README's.`

const upgradeHeader = `# Upgrading poold in place: how it works

The how-to is in the README's [Upgrading poold in place](../../README.md#upgrading-poold-in-place);
this file holds how an upgrade works, moved here by cmd/readmetool.
Quoted section names ("Containment") are the README's.`

// withHeader prints a moved-to file under its generated header.
func withHeader(s *section, header string) []string {
	if len(s.kids) == 0 && len(trimBlank(s.body)) == 0 {
		return nil
	}
	out := generated("header", strings.Split(header, "\n")...)
	return append(append(out, ""), s.print()...)
}
