package translate

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/poold/poold/configs"
)

// Repeat is a section header or an option that a file (or a file read
// after it) gives again: where it is now and where it was first.
type Repeat struct {
	Section  string
	Key      string // "" for a repeated section header
	File     string
	Line     int
	PrevFile string
	PrevLine int
}

// ReadSupervisordINI reads the file at path into f (a new one when f is
// nil) the way supervisord 4 on Python 3 reads its files: Python 3's
// RawConfigParser with supervisord's settings (inline_comment_prefixes
// ';' and '#', strict=False). Unlike ReadINI (Circus's own parser):
// ';' or '#' after a blank starts a comment on any line; option names
// are lowercased; a repeated option takes the later value (at the first
// one's place) and a repeated section header extends the section, each
// recorded in f.Repeats; a line indented deeper than its option line
// continues the value, and blank lines inside a value are kept; a value
// of "" stays two quotes; REM lines are not comments.
func ReadSupervisordINI(f *INI, path string) (*INI, error) {
	data, err := configs.ReadLimited(path)
	if err != nil {
		return nil, err
	}
	if f == nil {
		f = &INI{}
	}
	r := py3Reader{f: f, path: path, opt: -1}
	sc := bufio.NewScanner(bytes.NewReader(configs.TrimBOM(data)))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for n := 1; sc.Scan(); n++ {
		if err := r.line(n, sc.Text()); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// Python joins a value's lines and strips blanks at its end.
	for _, s := range append(slices.Clone(f.Sections), f.Defaults) {
		if s == nil {
			continue
		}
		for i := range s.Options {
			s.Options[i].Value = strings.TrimRightFunc(s.Options[i].Value, unicode.IsSpace)
		}
	}
	if len(r.bad) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(r.bad, "\n"))
	}
	return f, nil
}

type py3Reader struct {
	f      *INI
	path   string
	cur    *INISection
	opt    int // index in cur.Options of the option lines continue, or -1
	indent int // indent of the last section or option line
	bad    []string
}

func (r *py3Reader) line(n int, line string) error {
	value, commented := stripPy3Comments(line)
	if value == "" {
		// a blank line (not a comment) belongs to the value going on
		if !commented && r.cur != nil && r.opt >= 0 {
			r.cur.Options[r.opt].Value += "\n"
		}
		return nil
	}
	indent := len(line) - len(strings.TrimLeftFunc(line, unicode.IsSpace))
	if r.cur != nil && r.opt >= 0 && indent > r.indent {
		r.cur.Options[r.opt].Value += "\n" + value
		return nil
	}
	r.indent = indent
	if m := sectRE.FindStringSubmatch(value); m != nil {
		r.section(m[1], n)
		return nil
	}
	if r.cur == nil {
		return fmt.Errorf("%s:%d: the file must start with a section header such as [supervisord] or [program:NAME], got %q", r.path, n, line)
	}
	m := optRE.FindStringSubmatch(value)
	if m == nil || m[1] == "" {
		r.bad = append(r.bad, fmt.Sprintf("%s:%d: not a section, an option (key = value) or a comment: %q", r.path, n, line))
		return nil
	}
	key := strings.ToLower(strings.TrimRightFunc(m[1], unicode.IsSpace))
	opt := INIOption{Key: key, Value: strings.TrimSpace(m[3]), File: r.path, Line: n}
	if i := slices.IndexFunc(r.cur.Options, func(o INIOption) bool { return o.Key == key }); i >= 0 {
		old := r.cur.Options[i]
		r.f.Repeats = append(r.f.Repeats, Repeat{Section: r.cur.Name, Key: key, File: r.path, Line: n, PrevFile: old.File, PrevLine: old.Line})
		r.cur.Options[i], r.opt = opt, i
		return nil
	}
	r.cur.Options = append(r.cur.Options, opt)
	r.opt = len(r.cur.Options) - 1
	return nil
}

func (r *py3Reader) section(name string, n int) {
	r.opt = -1
	old := r.f.Section(name)
	if name == defaultSection {
		old = r.f.Defaults
	}
	if old != nil {
		r.f.Repeats = append(r.f.Repeats, Repeat{Section: name, File: r.path, Line: n, PrevFile: old.File, PrevLine: old.Line})
	}
	r.cur = r.f.open(name, r.path, n)
}

// stripPy3Comments returns line without its comment, trimmed, and
// whether it had one, as Python 3's RawConfigParser._read does with
// comment_prefixes and inline_comment_prefixes both ('#', ';'): a line
// whose first non-blank is one is all comment; otherwise a prefix at the
// start or after a blank starts one. Python looks at the first
// occurrence of each prefix, then the second of each, and so on, and
// stops at the first round where one qualifies, so "a;b ;c #d" is
// "a;b ;c"; this does the same.
func stripPy3Comments(line string) (string, bool) {
	if t := strings.TrimSpace(line); strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";") {
		return "", true
	}
	next := map[byte]int{';': -1, '#': -1}
	start := -1
	for start < 0 && len(next) > 0 {
		for _, p := range []byte{';', '#'} {
			from, ok := next[p]
			if !ok {
				continue
			}
			i := strings.IndexByte(line[from+1:], p)
			if i < 0 {
				delete(next, p)
				continue
			}
			i += from + 1
			next[p] = i
			if prev, _ := utf8.DecodeLastRuneInString(line[:i]); i == 0 || unicode.IsSpace(prev) {
				if start < 0 || i < start {
					start = i
				}
			}
		}
	}
	if start < 0 {
		return strings.TrimSpace(line), false
	}
	return strings.TrimSpace(line[:start]), true
}
