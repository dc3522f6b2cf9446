package configs

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/pelletier/go-toml/v2"
)

// syntaxHint rewrites p, the syntax error of data (a file of format),
// when its line shows a habit of INI or YAML files the parser's words do
// not name: a TOML value left unquoted ("incomplete number"), a
// supervisord or Circus section in a .toml file ("expected character
// ]"), a YAML line indented with a tab. The position stays; the words
// say what to write instead. Any other error keeps the parser's words.
func syntaxHint(data []byte, format string, p Problem) Problem {
	if p.Line <= 0 {
		return p
	}
	lines := bytes.Split(data, []byte("\n"))
	if p.Line > len(lines) {
		return p
	}
	line := strings.TrimRight(string(lines[p.Line-1]), "\r")
	switch format {
	case "toml":
		if msg, ok := iniSection(line); ok {
			p.Msg = msg
		} else if msg, ok := unquotedValue(line, p.Column); ok {
			p.Msg = msg
		}
	case "yaml":
		if n, ok := tabIndented(lines, p.Line, p.Msg); ok {
			p.Line, p.Column = n, 0
			p.Msg = fmt.Sprintf("syntax error: line %d is indented with a tab; YAML indents with spaces only: replace the tab with spaces", n)
		}
	}
	return p
}

var iniHeaderRE = regexp.MustCompile(`^\s*\[\s*([A-Za-z_-]+)\s*:\s*([^\]]*?)\s*\]\s*$`)

// iniSection: line is an INI section header such as [program:web] or
// [watcher:web], which TOML cannot read; the message names the file
// names poold reads it under and the TOML to write instead.
func iniSection(line string) (string, bool) {
	m := iniHeaderRE.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	kind, name := strings.ToLower(m[1]), m[2]
	head := strings.TrimSpace(line)
	var what, instead string
	switch kind {
	case "program", "fcgi-program", "eventlistener":
		what, instead = "a supervisord section", "[watchers."+name+"]"
	case "group", "include", "rpcinterface":
		what, instead = "a supervisord section", "[watchers.NAME] sections"
	case "watcher":
		what, instead = "a Circus section", "[watchers."+name+"]"
	case "socket":
		what, instead = "a Circus section", "[sockets."+name+"]"
	case "env":
		what, instead = "a Circus section", `env = ["KEY=value"] in [watchers.`+name+"]"
	default:
		what, instead = "an INI section (supervisord or Circus)", "[watchers.NAME] and [sockets.NAME] sections"
	}
	return fmt.Sprintf("syntax error: %s is %s, and this file is TOML (by its name): "+
		"name the file .ini or .conf, which poold reads as a supervisord or Circus file, "+
		"or write %s (once the file is renamed, poold convert FILE.ini > poold.toml writes all of it as TOML)", head, what, instead), true
}

var keyValueRE = regexp.MustCompile(`^(\s*([A-Za-z0-9_-]+(?:\s*\.\s*[A-Za-z0-9_-]+)*)\s*=\s*)(.*?)\s*$`)

// unquotedValue: line sets a key to a value TOML cannot read, which
// quoted is a string (a path, a command, a duration), as an INI file
// writes it, and col, where the parser stopped, is in that value. The
// message gives the line to write.
func unquotedValue(line string, col int) (string, bool) {
	m := keyValueRE.FindStringSubmatch(line)
	if m == nil || col <= len(m[1]) {
		return "", false
	}
	key, value, comment := m[2], m[3], ""
	if i := strings.Index(value, " #"); i >= 0 {
		value, comment = strings.TrimSpace(value[:i]), " "+strings.TrimSpace(value[i:])
	}
	if value == "" || strings.ContainsAny(value[:1], "\"'[{=") || validTOML(key+" = "+value) ||
		!strings.ContainsFunc(value, isWordRune) && !isAddress(value) {
		return "", false
	}
	switch strings.ToLower(value) {
	case "true", "false":
		return fmt.Sprintf("syntax error: TOML's booleans are lower case: %s = %s", key, strings.ToLower(value)), true
	case "yes", "on", "no", "off":
		b := map[string]string{"yes": "true", "on": "true", "no": "false", "off": "false"}[strings.ToLower(value)]
		return fmt.Sprintf("syntax error: TOML's booleans are true and false: %s = %s (or, if a string is meant, quote it: %s = %q)", key, b, key, value), true
	}
	if name := key[strings.LastIndexAny(key, ". ")+1:]; listKeys()[name] {
		return unquotedList(key, name, value, comment)
	}
	quoted, ok := quoteTOML(value)
	if !ok || !validTOML(key+" = "+quoted) {
		return "", false
	}
	return fmt.Sprintf("syntax error: the value of %s is not quoted; TOML needs quotes around a string (a path, a command, a duration, an address): %s = %s%s",
		key, key, quoted, comment), true
}

// unquotedList is unquotedValue's message for a key whose value is a list
// of strings (name, the last part of key): the list to write, as the
// quoted string alone would next be refused as no list. args splits at
// spaces as a shell would (without its quoting), env too when each word
// is a KEY=VALUE, and the lists of names at commas and spaces.
func unquotedList(key, name, value, comment string) (string, bool) {
	items := []string{value}
	switch {
	case name == "args":
		items = strings.Fields(value)
	case name == "env":
		if words := strings.Fields(value); !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(w, "=") }) {
			items = words
		}
	default:
		items = strings.FieldsFunc(value, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	}
	quoted := make([]string, len(items))
	for i, it := range items {
		q, ok := quoteTOML(it)
		if !ok {
			return "", false
		}
		quoted[i] = q
	}
	list := "[" + strings.Join(quoted, ", ") + "]"
	if !validTOML(key + " = " + list) {
		return "", false
	}
	return fmt.Sprintf("syntax error: the value of %s is not quoted, and %s takes a list; TOML needs quotes around each string: %s = %s%s",
		key, name, key, list, comment), true
}

// quoteTOML quotes s as a TOML string: basic, or literal when s holds a
// quote or a backslash; false when it holds both kinds of quote.
func quoteTOML(s string) (string, bool) {
	if !strings.ContainsAny(s, `"\`) {
		return `"` + s + `"`, true
	}
	if strings.Contains(s, "'") {
		return "", false
	}
	return "'" + s + "'", true
}

// listKeys are the keys, in any section, whose value is a list of
// strings.
var listKeys = sync.OnceValue(func() map[string]bool {
	keys := make(map[string]bool)
	addListKeys(keys, arbiterFields)
	addListKeys(keys, webFields)
	addListKeys(keys, socketFields)
	addListKeys(keys, watcherFields)
	return keys
})

func addListKeys[T any](into map[string]bool, fields []field[T]) {
	for _, f := range fields {
		if f.list {
			into[f.key] = true
		}
	}
}

func isWordRune(r rune) bool {
	return r == '/' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
}

// isAddress says whether s is an IP address, or one with a port
// (127.0.0.1, 127.0.0.1:8000, ::1, [::1]:8000): a value with no letter
// that is still a string to quote.
func isAddress(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	_, err := netip.ParseAddrPort(s)
	return err == nil
}

func validTOML(s string) bool {
	return toml.Unmarshal([]byte(s), &map[string]any{}) == nil
}

// tabIndented finds the line a YAML error about a tab is on: the parser
// names the line of the tab, or (for a tab that "violates indentation")
// a line before it. ok is false when msg is not about a tab, or no
// line from there on is indented with one.
func tabIndented(lines [][]byte, at int, msg string) (int, bool) {
	first, last := at, at
	switch {
	case strings.Contains(msg, "tab character"):
		first, last = max(at-1, 1), len(lines)
	case strings.Contains(msg, "cannot start any token"):
	default:
		return 0, false
	}
	for n := first; n <= last && n <= len(lines); n++ {
		l := lines[n-1]
		indent := l[:len(l)-len(bytes.TrimLeft(l, " \t"))]
		if bytes.IndexByte(indent, '\t') >= 0 {
			return n, true
		}
	}
	return 0, false
}
