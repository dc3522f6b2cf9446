package main

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// checkNothingLost compares the text lines of the files read with those of
// the files to write: each must appear in the output as often as in the
// input (blank lines, headings and generated blocks aside), and every
// heading read must still be there.
func checkNothingLost(in, out docs) error {
	count := func(d docs, of func([]string) []string) map[string]int {
		m := map[string]int{}
		for _, f := range [][]string{d.readme, d.results, d.upgrade} {
			for _, l := range of(f) {
				m[l]++
			}
		}
		return m
	}
	var bad []string
	ci, co := count(in, contentLines), count(out, contentLines)
	for l, n := range ci {
		if co[l] != n {
			bad = append(bad, fmt.Sprintf("line read %d times, written %d times: %.100q", n, co[l], l))
		}
	}
	for l, n := range co {
		if ci[l] == 0 {
			bad = append(bad, fmt.Sprintf("line written %d times, never read: %.100q", n, l))
		}
	}
	hi, ho := count(in, headings), count(out, headings)
	for h, n := range hi {
		if ho[h] < n {
			bad = append(bad, fmt.Sprintf("heading %q lost", h))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("text would be lost or doubled, nothing written:\n  %s", strings.Join(bad, "\n  "))
	}
	return nil
}

// A quoted cross-reference: see "X", under "X", ("X"), "X" below.
var refREs = []*regexp.Regexp{
	regexp.MustCompile(`(?:[Ss]ee|[Uu]nder)\s+"([A-Z` + "`" + `][^"]{2,80})"`),
	regexp.MustCompile(`\("([A-Z` + "`" + `][^"]{2,80})"\)`),
	regexp.MustCompile(`"([A-Z` + "`" + `][^"]{2,80})"\s+(?:below|above)`),
}

// breakRE is a line break inside a quoted name, with the next line's
// indent or a shell comment's "# " in a code block.
var breakRE = regexp.MustCompile(`\s*\n[ \t]*(?:# )?`)

// boldLeadRE finds a paragraph's bold lead, **Orphans and PID 1.**
var boldLeadRE = regexp.MustCompile(`\*\*([^*]+?)[.:]?\*\*`)

// unresolvedRefs lists the quoted names in the files (README.md first)
// that name no heading, no bold lead and no paragraph's first words of any
// of them, as "file: name".
func unresolvedRefs(d docs) []string {
	files := map[string][]string{"README.md": d.readme, resultsPath: d.results, upgradePath: d.upgrade}
	var names []string
	var text strings.Builder
	for _, f := range files {
		names = append(names, headings(f)...)
		for _, l := range stripGenerated(f) {
			text.WriteString(l + "\n")
			for _, m := range boldLeadRE.FindAllStringSubmatch(l, -1) {
				names = append(names, plainTitle(m[1]))
			}
		}
	}
	resolves := func(ref string) bool {
		ref = plainTitle(ref)
		for _, n := range names {
			if n == ref || strings.HasPrefix(n, ref+":") || strings.HasPrefix(n, ref+" (") || strings.HasPrefix(n, ref+",") {
				return true
			}
		}
		// A paragraph that opens with the name and a full stop.
		return strings.Contains(text.String(), "\n"+ref+". ") || strings.Contains(text.String(), "\n"+ref+".\n")
	}
	var out []string
	for _, name := range []string{"README.md", resultsPath, upgradePath} {
		// One string per file: a reference may break across lines.
		all := strings.Join(stripGenerated(files[name]), "\n")
		for _, re := range refREs {
			for _, m := range re.FindAllStringSubmatch(all, -1) {
				ref := breakRE.ReplaceAllString(m[1], " ")
				if !resolves(ref) {
					out = append(out, name+": "+ref)
				}
			}
		}
	}
	return dedupe(out)
}

// brokenAnchors lists the links to an anchor (#x, README.md#x) that no
// heading of the file linked to has.
func brokenAnchors(d docs) []string {
	readme := anchorsOf(d.readme)
	var out []string
	for name, f := range map[string][]string{"README.md": d.readme, resultsPath: d.results, upgradePath: d.upgrade} {
		own := anchorsOf(f)
		for _, l := range f { // generated blocks too: the contents' links
			for _, m := range linkRE.FindAllStringSubmatch(l, -1) {
				t := m[1]
				switch {
				case strings.HasPrefix(t, "#") && !own[t[1:]]:
					out = append(out, name+": "+t)
				case strings.HasPrefix(t, up+"README.md#") && !readme[strings.TrimPrefix(t, up+"README.md#")]:
					out = append(out, name+": "+t)
				}
			}
		}
	}
	sort.Strings(out)
	return dedupe(out)
}

func dedupe(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// newOnes are the entries of after that before does not have, compared
// by what follows the file name (a moved reference keeps its name).
func newOnes(before, after []string) []string {
	had := map[string]bool{}
	for _, s := range before {
		_, v, _ := strings.Cut(s, ": ")
		had[v] = true
	}
	var out []string
	for _, s := range after {
		_, v, _ := strings.Cut(s, ": ")
		if !had[v] && !had[strings.TrimPrefix(v, up+"README.md")] {
			out = append(out, s)
		}
	}
	return out
}
