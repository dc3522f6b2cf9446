package configs

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/viper"
)

// caseProblems reports the keys of any one table in data (a config file of
// format) that differ only in case: [watchers.a] and [watchers.A], or
// cmd and Cmd. The reader lower-cases every key, so one of them would
// silently replace the other, and which one is left to chance. data is
// decoded again, with viper's own decoder for format, to see the keys as
// written; viper has already parsed it, so a failure here is ignored.
// It returns the watcher names as written (writtenNames).
func caseProblems(ps *problems, data []byte, format string) map[string]string {
	dec, err := viper.NewCodecRegistry().Decoder(format)
	if err != nil {
		return nil
	}
	raw := map[string]any{}
	if dec.Decode(data, raw) != nil {
		return nil
	}
	foldCollisions(ps, "", raw)
	return writtenNames(raw)
}

// writtenNames maps the lower-case form of each watcher name of tree (a
// file's content with its keys as written) to the name as written:
// [watchers.MyApp] runs a watcher named MyApp, as circusd names the
// watcher of [watcher:MyApp]. Only list and the event topics give the
// name lower-cased; every lookup ignores case.
func writtenNames(tree map[string]any) map[string]string {
	out := map[string]string{}
	for sec, v := range tree {
		m, ok := v.(map[string]any)
		if !ok || !strings.EqualFold(sec, "watchers") {
			continue
		}
		for name := range m {
			out[strings.ToLower(name)] = name
		}
	}
	return out
}

// keepCase gives each watcher of cfg its name as written (writtenNames);
// the reader had lower-cased it. Keys of problems stay lower-case.
func keepCase(cfg *Config, written map[string]string) {
	for i := range cfg.Watchers {
		if n, ok := written[cfg.Watchers[i].Name]; ok {
			cfg.Watchers[i].Name = n
		}
	}
}

// foldNames lower-cases the names of the sockets and watchers of tree, as
// the reader of poold's own formats does. foldCollisions has reported any
// two that meet here.
func foldNames(tree map[string]any) {
	for _, sec := range []string{"sockets", "watchers"} {
		m, ok := tree[sec].(map[string]any)
		if !ok {
			continue
		}
		folded := make(map[string]any, len(m))
		for _, name := range sortedKeys(m) {
			folded[strings.ToLower(name)] = m[name]
		}
		tree[sec] = folded
	}
}

// foldCollisions walks v, reporting under prefix each group of keys of a
// table that are equal but for case.
func foldCollisions(ps *problems, prefix string, v any) {
	var path []string
	if prefix != "" {
		path = []string{prefix}
	}
	foldWalk(ps, path, v)
}

// foldWalk is foldCollisions below path, the key in parts ("watchers",
// ".web", "[2]"): a key is joined only when it is reported, so that a
// deeply nested value costs memory in proportion to its depth, not to
// its depth squared.
func foldWalk(ps *problems, path []string, v any) {
	switch x := v.(type) {
	case map[string]any:
		spellings := map[string][]string{}
		for k := range x {
			lower := strings.ToLower(k)
			spellings[lower] = append(spellings[lower], k)
		}
		for _, lower := range sortedKeys(spellings) {
			if s := spellings[lower]; len(s) > 1 {
				ps.add(strings.Join(append(path, dotted(path, lower)), ""), "is spelled %s: names and keys are case-insensitive, so one would silently replace the other; rename or merge them", quoteList(s))
			}
		}
		for _, k := range sortedKeys(x) {
			foldWalk(ps, append(path, dotted(path, strings.ToLower(k))), x[k])
		}
	case []any:
		for i, e := range x {
			foldWalk(ps, append(path, fmt.Sprintf("[%d]", i)), e)
		}
	}
}

// dotted is key as the next part of path: after a dot unless it is the
// first part.
func dotted(path []string, key string) string {
	if len(path) == 0 {
		return key
	}
	return "." + key
}

// quoteList renders ["b", "a"] as `"a" and "b"`, sorted.
func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, e := range s {
		q[i] = strconv.Quote(e)
	}
	sort.Strings(q)
	last := len(q) - 1
	return strings.Join(q[:last], ", ") + " and " + q[last]
}
