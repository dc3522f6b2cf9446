package main

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

var linkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// up is the way from a moved-to file's directory back to the root; every
// file the tool writes besides README.md is two directories down.
const up = "../../"

// rebase rewrites the links of a line moved from README.md into a file two
// directories down: an anchor the file does not have points into
// README.md, a relative path gets the way up.
func rebase(l string, anchors map[string]bool) string {
	return linkRE.ReplaceAllStringFunc(l, func(m string) string {
		t := m[2 : len(m)-1]
		switch {
		case strings.HasPrefix(t, "#"):
			if anchors[t[1:]] {
				return m
			}
			return "](" + up + "README.md" + t + ")"
		case strings.Contains(t, "://"), strings.HasPrefix(t, "/"), strings.HasPrefix(t, "mailto:"), strings.HasPrefix(t, up):
			return m
		}
		return "](" + up + t + ")"
	})
}

// unrebase undoes rebase, for comparing lines across files.
func unrebase(l string) string {
	l = strings.ReplaceAll(l, "]("+up+"README.md#", "](#")
	return strings.ReplaceAll(l, "]("+up, "](")
}

// slug is GitHub's anchor of a heading: lower case, punctuation but
// hyphens and underscores dropped, spaces to hyphens.
func slug(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_':
			b.WriteRune(r)
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r > 127 && unicode.IsLetter(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchorsOf are the anchors of a file's headings, numbered as GitHub
// numbers repeats (x, x-1, x-2).
func anchorsOf(lines []string) map[string]bool {
	seen := map[string]int{}
	out := map[string]bool{}
	for _, h := range headings(lines) {
		s := slug(h)
		if n := seen[s]; n > 0 {
			out[s+"-"+strconv.Itoa(n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}
