package translate

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// WriteTOML writes d as a poold TOML file, its notes as comments.
func (d *Doc) WriteTOML(w io.Writer) error {
	var b strings.Builder
	for _, h := range d.Header {
		b.WriteString(comment(h))
	}
	for _, s := range d.Sections {
		b.WriteString("\n[")
		for i, p := range d.outPath(s) {
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(key(p))
		}
		b.WriteString("]\n")
		for _, it := range s.Items {
			if it.Key == "" {
				b.WriteString(comment(it.Comment))
				continue
			}
			fmt.Fprintf(&b, "%s = %s\n", key(it.Key), value(it.Value))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// outPath is the path WriteTOML gives s: a socket's or watcher's name
// lower-cased, as the source's own program (circusd, supervisord) and
// poold's reader take it, so the file says the name poold will use. A
// name that differs from another one only in case stays as written: the
// conversion reports the pair, and both must stay visible.
func (d *Doc) outPath(s *Section) []string {
	if len(s.Path) != 2 || (s.Path[0] != "sockets" && s.Path[0] != "watchers") {
		return s.Path
	}
	for _, o := range d.Sections {
		if o != s && len(o.Path) == 2 && o.Path[0] == s.Path[0] && strings.EqualFold(o.Path[1], s.Path[1]) {
			return s.Path
		}
	}
	return []string{s.Path[0], strings.ToLower(s.Path[1])}
}

func comment(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if line == "" {
			b.WriteString("#\n")
		} else {
			b.WriteString("# " + commentText(line) + "\n")
		}
	}
	return b.String()
}

// commentText is line as TOML lets a comment hold it: a control character
// other than tab, or a byte that is not UTF-8, is written as \xNN. The
// notes quote the source file's option names and values as written, and
// one NUL in them made the whole converted file unreadable.
func commentText(line string) string {
	var b strings.Builder
	for i := 0; i < len(line); {
		r, size := utf8.DecodeRuneInString(line[i:])
		switch {
		case r == utf8.RuneError && size == 1, r < 0x20 && r != '\t', r == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", line[i])
		default:
			b.WriteString(line[i : i+size])
		}
		i += size
	}
	return b.String()
}

func key(k string) string {
	if bareKey.MatchString(k) {
		return k
	}
	return quote(k)
}

func value(v any) string {
	switch x := v.(type) {
	case string:
		return quote(x)
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		s := strconv.FormatFloat(x, 'f', -1, 64)
		if !strings.ContainsAny(s, ".eEn") {
			s += ".0"
		}
		return s
	case []string:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = quote(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []int64:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = strconv.FormatInt(e, 10)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]string:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = key(k) + " = " + quote(x[k])
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	}
	panic(fmt.Sprintf("translate: no TOML form for %T", v))
}

// quote writes s as a TOML basic string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f || r == utf8.RuneError:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
