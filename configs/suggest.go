// Unknown keys: the message, and the closest valid key to suggest.

package configs

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

func unknownKeyMsg(k string, valid []string, fromFile bool) string {
	what := "key"
	if !fromFile {
		what = "option"
	}
	if f, ok := lookupForeign(k, valid); ok {
		if msg := foreignMsg(k, f, valid); msg != "" {
			return fmt.Sprintf("unknown %s; %s", what, msg)
		}
		return fmt.Sprintf("unknown %s; valid %ss: %s", what, what, strings.Join(valid, ", "))
	}
	if msg := addressMsg(k, valid); msg != "" {
		return fmt.Sprintf("unknown %s; %s", what, msg)
	}
	if msg := circusOnlyMsg(k, valid); msg != "" {
		return fmt.Sprintf("unknown %s; %s", what, msg)
	}
	if s := closest(k, valid); s != "" {
		return fmt.Sprintf("unknown %s; did you mean %q?", what, s)
	}
	return fmt.Sprintf("unknown %s; valid %ss: %s", what, what, strings.Join(valid, ", "))
}

// addressMsg says how a socket's address is written, for a key of a
// socket's table that names it whole (address, bind, listen); "" for
// any other key.
func addressMsg(k string, valid []string) string {
	if !slices.Contains(valid, "host") || !slices.Contains(valid, "port") {
		return ""
	}
	switch strings.ToLower(k) {
	case "address", "addr", "bind", "listen":
		return `did you mean host and port? A socket's address is two keys: host = "127.0.0.1" and port = 8000 (or path = "/run/app.sock" for a unix socket)`
	}
	return ""
}

// circusOnlyMsg says how poold writes a watcher option of Circus's that
// has no key of the same shape: rlimit_NAME (one key per limit in
// Circus, a table in poold), or one with no equivalent at all. "" for
// any other key.
func circusOnlyMsg(k string, valid []string) string {
	if !slices.Contains(valid, "rlimits") { // not a watcher's table
		return ""
	}
	lk := strings.ToLower(k)
	if res, ok := strings.CutPrefix(lk, "rlimit_"); ok && res != "" {
		return fmt.Sprintf("%s is Circus's name: poold's limits are one table, rlimits = { %s = N } (or \"unlimited\")", k, res)
	}
	switch lk {
	case "copy_path":
		return "copy_path is Circus's (circusd's Python sys.path added to PYTHONPATH) and has no poold equivalent: set PYTHONPATH in env"
	case "shell":
		return `shell is Circus's and has no poold key: write cmd = "sh" and args = ["-c", "..."], or run the file through poold convert`
	}
	return ""
}

// Closest is the candidate a misspelt key or name k most likely meant, by
// the rules of closest, or "" when none is near enough to suggest: the
// "did you mean" of poold's own formats, for readers of other formats
// (circus.ini) to give the same hints.
func Closest(k string, candidates []string) string { return closest(k, candidates) }

// closest returns the candidate nearest to k by edit distance (ignoring
// case, '_' and '-'), or else the one sharing the longest prefix of at
// least 5 characters, or "" when none is near enough to be an obvious typo.
func closest(k string, candidates []string) string {
	if best, near := nearest(k, candidates); near {
		return best
	}
	// A shortened key ("numprocs"): the one candidate sharing the longest
	// prefix of at least 5 characters.
	best, bestP, ties := "", 0, 0
	nk := normKey(k)
	for _, c := range candidates {
		p := commonPrefix(nk, normKey(c))
		switch {
		case p > bestP:
			best, bestP, ties = c, p, 1
		case p == bestP:
			ties++
		}
	}
	if bestP >= 5 && ties == 1 {
		return best
	}
	return ""
}

// keySeparators drops the '_' and '-' that normKey ignores. Built once: a
// Replacer's first use builds its tables, which costs more than the
// comparison itself, and a file with thousands of unknown keys compares
// each with every valid key.
var keySeparators = strings.NewReplacer("_", "", "-", "")

func normKey(s string) string {
	return keySeparators.Replace(strings.ToLower(s))
}

// nearest returns the one candidate within edit distance 2 of k (1 for
// keys of up to 4 characters), ignoring case, '_' and '-'. near reports
// whether any candidate is that close; best is "" when several are
// ("id": uid or gid?).
func nearest(k string, candidates []string) (best string, near bool) {
	bestD, ties := math.MaxInt, 0
	nk := normKey(k)
	for _, c := range candidates {
		nc := normKey(c)
		if len(nk) > len(nc)+2 || len(nc) > len(nk)+2 {
			// At least that many insertions: too far to suggest, and a
			// 10 MB key would cost a matrix of gigabytes.
			continue
		}
		dist := editDistance(nk, nc)
		switch {
		case dist < bestD:
			best, bestD, ties = c, dist, 1
		case dist == bestD:
			ties++
		}
	}
	limit := 2
	if len(k) <= 4 {
		limit = 1
	}
	switch {
	case bestD > limit:
		return "", false
	case ties > 1:
		return "", true
	}
	return best, true
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// editDistance is the optimal-string-alignment distance: insertions,
// deletions, substitutions and swaps of two neighbours ("hots" -> "host")
// each cost 1.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
