package configs

import (
	"fmt"
	"sort"
	"strings"
)

// Error reports every problem found in one configuration (a file, or a set
// of run-time options when File is empty). Load and the option functions
// return it so a user can fix everything in one pass.
type Error struct {
	// File is the config file as given to Load; "" for run-time options.
	File string
	// Watcher names the watcher run-time options were given for (add,
	// set); "" for a file.
	Watcher  string
	Problems []Problem
}

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Key is the dotted key path, e.g. "watchers.web.numprocesses"
	// (for run-time options just the option name). "" for a problem with
	// the file as a whole, such as a syntax error.
	Key string
	// Line and Column locate the problem in File (1-based; 0 = unknown):
	// a syntax error where the parser reports it; a problem of a key
	// where the key is written, or the table it belongs in when the file
	// does not write it; none for a value an environment variable set.
	Line, Column int
	// Msg says what is wrong and what is expected.
	Msg string
}

// Error renders one line per problem:
//
//	configs: poold.toml:14:1: watchers.web.numprocesses: must be >= 0, got -2
//	configs: poold.toml:3:7: syntax error: ...
func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.render(e.File, e.Watcher))
	}
	return b.String()
}

func (p Problem) render(file, watcher string) string {
	var b strings.Builder
	b.WriteString("configs: ")
	if file == "" && watcher != "" {
		fmt.Fprintf(&b, "watcher %q: ", watcher)
	}
	if file != "" {
		b.WriteString(file)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
			if p.Column > 0 {
				fmt.Fprintf(&b, ":%d", p.Column)
			}
		}
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(visible(p.Key))
		b.WriteString(": ")
	}
	b.WriteString(visible(p.Msg))
	return b.String()
}

// visible escapes control characters (a NUL or an escape sequence quoted
// from a broken file) so that an error never writes them to a terminal.
func visible(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// problems collects Problems while decoding and validating, and warnings:
// things worth saying that do not stop the config from loading.
type problems struct {
	list     []Problem
	warnings []Problem
}

func (ps *problems) add(key, format string, args ...any) {
	ps.list = append(ps.list, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (ps *problems) warn(key, format string, args ...any) {
	ps.warnings = append(ps.warnings, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// warningLines renders the warnings for file, one line each, as Error
// renders problems; nil when there are none.
func (ps *problems) warningLines(file string) []string {
	var out []string
	for _, w := range ps.warnings {
		out = append(out, w.render(file, ""))
	}
	return out
}

// inFileOrder sorts the problems and the warnings by their line in the
// file, as a reader goes through it (they are found section by section,
// names sorted); those with no line (an environment variable's, the
// whole config's) follow in the order found.
func (ps *problems) inFileOrder() {
	for _, list := range [][]Problem{ps.list, ps.warnings} {
		sort.SliceStable(list, func(i, j int) bool {
			li, lj := list[i].Line, list[j].Line
			return li != 0 && (lj == 0 || li < lj)
		})
	}
}

// has reports whether a problem was already recorded for key.
func (ps *problems) has(key string) bool {
	for _, p := range ps.list {
		if p.Key == key {
			return true
		}
	}
	return false
}

// err returns nil when nothing was collected, else an *Error for file.
func (ps *problems) err(file string) error {
	if len(ps.list) == 0 {
		return nil
	}
	return &Error{File: file, Problems: ps.list}
}

// errWatcher returns nil when nothing was collected, else an *Error for
// the run-time options of watcher.
func (ps *problems) errWatcher(watcher string) error {
	if len(ps.list) == 0 {
		return nil
	}
	return &Error{Watcher: watcher, Problems: ps.list}
}
